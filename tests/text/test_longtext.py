"""Streamed summaries (``Summarizer.summarize_stream``): a text that fits in one window gets the in-memory summary
itself; a longer one is read in windows and keeps exact offsets, counts and most of the in-memory choice."""

from __future__ import annotations

import io

import pytest

from edge_sdk.errors import EmptyInputError, InputTooLargeError, InvalidInputError
from edge_sdk.text.evaluate import load_jsonl
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions


@pytest.fixture(scope="module")
def summarizer(text_bundle):
    with Summarizer.create(SummarizerOptions(bundle=str(text_bundle), variant="int8", window_chars=20_000)) as s:
        yield s


@pytest.fixture(scope="module")
def long_doc(data_dir) -> str:
    return load_jsonl(data_dir / "text" / "long_documents.jsonl")[0].article  # 32,912 characters, 205 sentences


def _picked(summary) -> list[tuple]:
    return [(s.start_char, s.end_char, s.index, s.score, s.centrality, s.position_prior) for s in summary.sentences]


def test_a_text_that_fits_one_window_gets_the_in_memory_summary(summarizer, data_dir, tmp_path):
    article = next(r.article for r in load_jsonl(data_dir / "text" / "summaries.jsonl") if 8000 < len(r.article) < 20_000)
    path = tmp_path / "article.txt"
    path.write_text(article, encoding="utf-8")
    streamed = summarizer.summarize_stream(path, sentences=3)
    whole = summarizer.summarize(article, sentences=3)
    assert _picked(streamed) == _picked(whole) and streamed.input_words == whole.input_words and streamed.chunks == whole.chunks


def test_a_longer_text_is_read_in_windows_with_exact_offsets_and_counts(summarizer, long_doc):
    data = long_doc.encode("utf-8")
    seen = []
    streamed = summarizer.summarize_stream(
        io.BytesIO(data), sentences=5, total_bytes=len(data), progress=lambda *a: seen.append(a)
    )
    whole = summarizer.summarize(long_doc, sentences=5)
    assert len(seen) == 2 and seen[-1] == (len(long_doc), len(data), len(data))  # two windows of 20,000 characters at most
    assert len(streamed.sentences) == 5 and all(long_doc[s.start_char : s.end_char] == s.text for s in streamed.sentences)
    assert (streamed.input_sentences, streamed.input_words) == (whole.input_sentences, whole.input_words)
    assert [s.index for s in streamed.sentences] == sorted(s.index for s in streamed.sentences)
    common = {s.start_char for s in streamed.sentences} & {s.start_char for s in whole.sentences}
    assert len(common) >= 3, (streamed.text, whole.text)  # 4 of 5 measured: the prior's estimated length, chunk edges


def test_a_summary_by_ratio_or_words_streams_too(summarizer, long_doc):
    by_words = summarizer.summarize_stream(io.BytesIO(long_doc.encode()), words=80)
    assert 0 < sum(len(s.text.split()) for s in by_words.sentences) <= 80
    by_ratio = summarizer.summarize_stream(io.BytesIO(long_doc.encode()), ratio=0.05)
    assert 0 < sum(len(s.text.split()) for s in by_ratio.sentences) <= 0.05 * by_ratio.input_words + 1


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  " * 5000])
def test_a_stream_with_no_visible_text_is_refused_as_empty(summarizer, data):
    with pytest.raises(EmptyInputError, match="no visible characters"):
        summarizer.summarize_stream(io.BytesIO(data))


def test_binary_or_non_utf8_content_in_a_later_window_is_refused(summarizer, long_doc):
    with pytest.raises(InvalidInputError, match="looks binary"):
        summarizer.summarize_stream(io.BytesIO(long_doc.encode() + b"\x00\x01\x02" * 3000))
    with pytest.raises(InvalidInputError, match=r"not UTF-8 text \(near byte"):
        summarizer.summarize_stream(io.BytesIO(long_doc.encode() + b"\xff\xfe"))


def test_the_stream_limit_is_enforced_while_reading(text_bundle, long_doc, tmp_path):
    with Summarizer.create(SummarizerOptions(bundle=str(text_bundle), variant="int8", max_stream_chars=10_000)) as s:
        with pytest.raises(InputTooLargeError, match="over the limit of 10,000.*max_stream_chars"):
            s.summarize_stream(io.BytesIO(long_doc.encode()))
        path = tmp_path / "long.txt"
        path.write_bytes(long_doc.encode() * 2)
        with pytest.raises(InputTooLargeError, match="at least 16,4"):  # from the file's size, before reading it
            s.summarize_stream(path)
