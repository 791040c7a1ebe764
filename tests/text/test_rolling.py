"""Rolling summary of a live transcript: window, cadence, and timestamps that point back."""

from __future__ import annotations

import pytest

from edge_sdk.errors import InvalidInputError
from edge_sdk.text.evaluate import load_jsonl
from edge_sdk.text.rolling import RollingSummarizer, RollingSummaryOptions, TranscriptSegment
from edge_sdk.text.segment import split_sentences
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions


@pytest.fixture(scope="module")
def summarizer(text_bundle):
    with Summarizer.create(SummarizerOptions(bundle=str(text_bundle), variant="int8", device="x86_64-avx2")) as s:
        yield s


@pytest.fixture(scope="module")
def segments(data_dir) -> list[TranscriptSegment]:
    """A report read aloud: two sentences per 6-second segment."""
    article = load_jsonl(data_dir / "text" / "summaries.jsonl")[7].article
    sents = [s.text for s in split_sentences(article) if not s.heading][:120]
    return [TranscriptSegment(" ".join(sents[i : i + 2]), start_s=3.0 * i, end_s=3.0 * i + 6.0) for i in range(0, len(sents), 2)]


def test_sentences_point_back_to_their_segments(summarizer, segments) -> None:
    stream = RollingSummarizer(summarizer, RollingSummaryOptions(window_s=120))
    for seg in segments:
        stream.accept(seg)
    summary = stream.summary()
    assert len(summary.sentences) == 3
    assert summary.window_end_s == segments[-1].end_s
    for s in summary.sentences:
        covering = [g for g in segments if g.start_s >= s.start_s and g.end_s <= s.end_s]
        assert s.text in " ".join(g.text for g in covering)
        assert s.start_s >= summary.window_end_s - 120 - 6.0
    starts = [s.start_s for s in summary.sentences]
    assert starts == sorted(starts)


def test_window_keeps_only_the_last_minutes(summarizer, segments) -> None:
    stream = RollingSummarizer(summarizer, RollingSummaryOptions(window_s=30))
    for seg in segments:
        stream.accept(seg)
    summary = stream.summary()
    assert summary.window_start_s >= segments[-1].end_s - 30 - 6.0
    assert summary.segments <= 12


def test_every_s_emits_on_transcript_time(summarizer, segments) -> None:
    stream = RollingSummarizer(summarizer, RollingSummaryOptions(window_s=60, every_s=30, sentences=2))
    emitted = [(seg.end_s, out) for seg in segments[:40] if (out := stream.accept(seg)) is not None]
    assert len(emitted) >= 3
    times = [t for t, _ in emitted]
    assert all(b - a >= 30 for a, b in zip(times, times[1:], strict=False))
    assert all(len(out.sentences) <= 2 for _, out in emitted)


def test_empty_stream_gives_an_empty_summary(summarizer) -> None:
    assert RollingSummarizer(summarizer).summary().sentences == ()


def test_bad_segments_are_refused(summarizer) -> None:
    stream = RollingSummarizer(summarizer)
    with pytest.raises(InvalidInputError, match="end_s"):
        TranscriptSegment("hello", start_s=5.0, end_s=2.0)
    with pytest.raises(InvalidInputError, match="TranscriptSegment"):
        stream.accept({"text": "hi", "start_s": 0, "end_s": 1})
    with pytest.raises(InvalidInputError, match="window_s"):
        RollingSummaryOptions(window_s=0)
