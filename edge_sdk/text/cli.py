"""``edge-sdk summarize`` and ``edge-sdk eval text``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edge_sdk.errors import BundleNotFoundError


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.is_file():
        raise BundleNotFoundError(f"no such file {path!r}; give a text file or '-' for stdin")
    return p.read_bytes()


def cmd_summarize(args) -> int:
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    options = SummarizerOptions(bundle=args.bundle, variant=args.variant)
    with Summarizer.create(options) as summarizer:
        summary = summarizer.summarize(_read(args.file), sentences=args.sentences, words=args.words, ratio=args.ratio)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
        return 0
    for s in summary.sentences:
        print(s.text)
    print(
        f"-- {len(summary.sentences)} of {summary.input_sentences} sentences, {summary.input_words} words in, "
        f"{summary.elapsed_ms:.0f} ms, {summary.bundle}/{summary.variant} on {', '.join(summary.providers)}",
        file=sys.stderr,
    )
    return 0


def cmd_eval_text(args) -> int:
    from edge_sdk.text.evaluate import evaluate, load_jsonl
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    records = load_jsonl(args.jsonl, limit=args.limit)
    with Summarizer.create(SummarizerOptions(bundle=args.bundle, variant=args.variant)) as summarizer:
        result = evaluate(summarizer, records, sentences=args.sentences)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    lead = result["lead3"]
    print(f"{'':10s} {'ROUGE-1':>8s} {'ROUGE-2':>8s} {'ROUGE-Lsum':>10s}   n={result['n']}, {result['sentences']} sentences")
    print(f"{result['variant']:10s} {result['rouge1']:8.2f} {result['rouge2']:8.2f} {result['rougeLsum']:10.2f}")
    print(f"{'lead-' + str(result['sentences']):10s} {lead['rouge1']:8.2f} {lead['rouge2']:8.2f} {lead['rougeLsum']:10.2f}")
    return 0


def register(sub, eval_sub) -> None:
    """Add ``summarize`` and ``eval text`` to the ``edge-sdk`` parser."""
    p = sub.add_parser("summarize", help="extractive summary of a text file or stdin")
    p.add_argument("file", help="text file, or '-' for stdin")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--sentences", type=int, help="at most N sentences (default 3)")
    length.add_argument("--words", type=int, help="at most N words")
    length.add_argument("--ratio", type=float, help="at most this fraction of the input's words, e.g. 0.1")
    p.add_argument("--bundle", default="minilm-l6-extractive")
    p.add_argument("--variant", default=None, help="fp32, int8 or fp16 (default: the device profile's choice)")
    p.add_argument("--json", action="store_true", help="sentences with offsets, scores and timing as JSON")
    p.set_defaults(func=cmd_summarize)

    e = eval_sub.add_parser("text", help="ROUGE of the extractive summarizer and Lead-N on article/reference JSONL")
    e.add_argument("--jsonl", required=True, help="JSONL with 'article' and 'reference' fields")
    e.add_argument("--variant", default=None)
    e.add_argument("--bundle", default="minilm-l6-extractive")
    e.add_argument("--sentences", type=int, default=3, help="summary length for both the model and Lead-N (default 3)")
    e.add_argument("--limit", type=int, default=None, help="only the first N records")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_text)
