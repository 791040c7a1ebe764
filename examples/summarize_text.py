"""Summarize a text file (or a shared report) on-device with the extractive MiniLM bundle.

Run: python examples/summarize_text.py [FILE] [--sentences N]
Build the bundle first: edge-sdk prepare text
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_sdk import Summarizer, SummarizerOptions

SHARED = Path(__file__).resolve().parents[1] / "data" / "text" / "summaries.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="text file (default: the first shared report)")
    parser.add_argument("--sentences", type=int, default=3)
    args = parser.parse_args()
    if args.file:
        text = Path(args.file).read_text(encoding="utf-8")
    else:
        text = json.loads(SHARED.read_text(encoding="utf-8").splitlines()[0])["article"]

    with Summarizer.create(SummarizerOptions(bundle="minilm-l6-extractive")) as summarizer:
        summary = summarizer.summarize(text, sentences=args.sentences)

    for s in summary.sentences:
        print(f"[{s.start_char:>6}:{s.end_char:<6}] score {s.score:.3f}  {s.text}")
    print(f"\n{summary.input_words} words, {summary.input_sentences} sentences -> {len(summary.sentences)} sentences "
          f"in {summary.elapsed_ms:.0f} ms ({summary.bundle}/{summary.variant} on {', '.join(summary.providers)})")


if __name__ == "__main__":
    main()
