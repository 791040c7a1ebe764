"""``edge-sdk summarize`` and ``edge-sdk eval text``."""

from __future__ import annotations

import json
import sys
import time

from edge_sdk.cli_common import add_variant_arguments, check_variant, int_at_least, number_in
from edge_sdk.text.textinput import DEFAULT_MAX_STREAM_CHARS, UTF8_MAX_BYTES, too_long


def _source(path: str, max_chars: int):
    """What ``summarize`` reads: stdin's bytes for ``-``, else a path checked to be a readable regular file that can fit
    in ``max_chars`` characters (from its size, before the model loads and before a byte is read)."""
    from edge_sdk.inputfile import check_input_file

    if path == "-":
        return sys.stdin.buffer
    p = check_input_file(path, "text file")
    if p.stat().st_size > UTF8_MAX_BYTES * max_chars:
        raise too_long(-(-p.stat().st_size // UTF8_MAX_BYTES), max_chars, at_least=True)
    return p


class Progress:
    """Progress of a summary on stderr, as ``progress(characters_read, bytes_read, total_bytes)``: the characters read,
    their rate, the percent done and the time left (when the size is known). One rewritten line on a terminal;
    elsewhere a line per 10 % and at least every 30 s (per window when the size is unknown)."""

    EVERY_S = 30.0

    def __init__(self, out=None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.started = time.monotonic()
        self._shown = -1
        self._lines = 0
        self._last = self.started

    def __call__(self, chars: int, done_bytes: int, total_bytes: int | None) -> None:
        now = time.monotonic()
        elapsed = max(now - self.started, 1e-6)
        line = f"summarizing: {chars:,} characters"
        if total_bytes:
            pct = min(100, int(100 * done_bytes / total_bytes))
            if not self.tty and pct // 10 == self._shown // 10 and now - self._last < self.EVERY_S:
                return
            self._shown = pct
            left = elapsed * (total_bytes - done_bytes) / done_bytes if done_bytes else 0.0
            line += f" ({pct} %), {chars / elapsed:,.0f} characters/s, about {left:.0f} s left"
        else:
            line += f", {chars / elapsed:,.0f} characters/s"
        self._lines += 1
        self._last = now
        self.out.write(f"\r\x1b[K{line}" if self.tty else line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty and self._lines:
            self.out.write("\r\x1b[K")
            self.out.flush()


def cmd_summarize(args) -> int:
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    options = SummarizerOptions(bundle=args.bundle, variant=args.variant, max_input_chars=args.max_chars, max_stream_chars=args.max_chars,
                                allow_refused=args.allow_refused)
    source = _source(args.file, args.max_chars)  # a missing, unreadable or oversized file fails before the model loads
    check_variant(args.bundle, args.variant, args.allow_refused)
    with Summarizer.create(options) as summarizer:
        progress = Progress() if args.progress or sys.stderr.isatty() else None
        try:
            summary = summarizer.summarize_stream(source, sentences=args.sentences, words=args.words, ratio=args.ratio, progress=progress)
        finally:
            if progress is not None:
                progress.close()
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

    check_variant(args.bundle, args.variant, args.allow_refused)
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
    best = result["oracle"]
    print(f"{'oracle':10s} {best['rouge1']:8.2f} {best['rouge2']:8.2f} {best['rougeLsum']:10.2f}   (greedy, upper bound)")
    return 0


def register(sub, eval_sub) -> None:
    """Add ``summarize`` and ``eval text`` to the ``edge-sdk`` parser."""
    p = sub.add_parser("summarize", help="extractive summary of a text file or stdin")
    p.add_argument("file", help="text file, or '-' for stdin")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--sentences", type=int_at_least(1), help="at most N sentences (default 3)")
    length.add_argument("--words", type=int_at_least(1), help="at most N words")
    length.add_argument("--ratio", type=number_in(0, 1, low_open=True), help="at most this fraction of the input's words, e.g. 0.1")
    p.add_argument("--bundle", default="minilm-l6-extractive")
    add_variant_arguments(p)
    p.add_argument("--max-chars", type=int_at_least(1), default=DEFAULT_MAX_STREAM_CHARS,
                   help=f"refuse longer text (default {DEFAULT_MAX_STREAM_CHARS:,}); the text is read a window at a time, so "
                   "memory stays flat and time grows with it (10,000-17,000 characters/s measured on 2 shared cores: 50 MB in 52 min)")
    p.add_argument("--progress", action="store_true", help="show progress on stderr (characters/s, percent, time left) even "
                   "when stderr is not a terminal; on a terminal it is always shown")
    p.add_argument("--json", action="store_true", help="sentences with offsets, scores and timing as JSON")
    p.set_defaults(func=cmd_summarize)

    e = eval_sub.add_parser("text", help="ROUGE of the extractive summarizer, Lead-N and the greedy oracle on article/reference JSONL")
    e.add_argument("--jsonl", required=True, help="JSONL with 'article' and 'reference' fields")
    add_variant_arguments(e)
    e.add_argument("--bundle", default="minilm-l6-extractive")
    e.add_argument("--sentences", type=int_at_least(1), default=3, help="summary length for both the model and Lead-N (default 3)")
    e.add_argument("--limit", type=int_at_least(1), default=None, help="only the first N records")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_text)
