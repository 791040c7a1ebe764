"""Rolling summary of a live transcript: the last two minutes, refreshed every 30 s of speech.

The transcript here is a shared report read aloud as timed segments, the way final segments
arrive from a speech stream (``event.text, event.start_s, event.end_s``). Each refresh prints
the summary sentences with the time span they came from.

Run: python examples/rolling_transcript_summary.py
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_sdk import RollingSummarizer, RollingSummaryOptions, Summarizer, SummarizerOptions, TranscriptSegment
from edge_sdk.text.segment import split_sentences

SHARED = Path(__file__).resolve().parents[1] / "data" / "text" / "summaries.jsonl"
WORDS_PER_SECOND = 2.5  # speaking rate


def transcript_segments() -> list[TranscriptSegment]:
    """One segment per sentence of a shared report, timed at a speaking rate."""
    article = json.loads(SHARED.read_text(encoding="utf-8").splitlines()[0])["article"]
    segments, clock = [], 0.0
    for s in split_sentences(article):
        if s.heading:
            continue
        duration = len(s.text.split()) / WORDS_PER_SECOND
        segments.append(TranscriptSegment(s.text, start_s=round(clock, 2), end_s=round(clock + duration, 2)))
        clock += duration + 0.3
    return segments


def main() -> None:
    with Summarizer.create(SummarizerOptions(bundle="minilm-l6-extractive")) as summarizer:
        stream = RollingSummarizer(summarizer, RollingSummaryOptions(window_s=120, every_s=30, sentences=2))
        for segment in transcript_segments()[:60]:
            summary = stream.accept(segment)
            if summary is None:
                continue
            print(f"--- summary of {summary.window_start_s:.0f}-{summary.window_end_s:.0f} s ({summary.elapsed_ms:.0f} ms)")
            for s in summary.sentences:
                print(f"  [{s.start_s:7.1f}-{s.end_s:7.1f} s] {s.text}")
        final = stream.summary(sentences=3)
        print(f"--- on demand, last {final.window_end_s - final.window_start_s:.0f} s:")
        for s in final.sentences:
            print(f"  [{s.start_s:7.1f}-{s.end_s:7.1f} s] {s.text}")


if __name__ == "__main__":
    main()
