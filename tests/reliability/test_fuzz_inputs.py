"""Property-based fuzzing of text input, sentence segmentation and the evaluation manifests
(speech TSV, vision TSV, text JSONL): each input parses or raises the SDK's own error."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_sdk.errors import EdgeSDKError
from edge_sdk.speech.evaluate import read_manifest
from edge_sdk.text.evaluate import load_jsonl
from edge_sdk.text.segment import split_sentences
from edge_sdk.text.textinput import as_text
from edge_sdk.vision.evaluate import read_label_tsv

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
texty = st.text(alphabet=st.characters(codec="utf-8"), max_size=400) | st.text(alphabet=" .?!\"'()-\n\t0123456789abcDEF;:,e.g.Mr.", max_size=400)


@FUZZ
@given(texty | st.binary(max_size=400))
def test_text_input_and_segmentation_keep_offsets(raw):
    try:
        text = as_text(raw)
    except EdgeSDKError:
        return
    sentences = split_sentences(text)
    last = 0
    for s in sentences:
        assert text[s.start_char : s.end_char] == s.text and s.text.strip() == s.text and s.text
        assert s.start_char >= last
        last = s.end_char


def _parse(parser, name: str, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(raw)
        (Path(d) / "a.flac").write_bytes(b"")
        try:
            parser(path)
        except EdgeSDKError:
            pass


lines = st.lists(st.text(alphabet="ab.\t -1,x{}\":[]\\flac0123456789", max_size=40), max_size=6).map(lambda ls: "\n".join(ls).encode())


@FUZZ
@given(lines | st.binary(max_size=300))
def test_speech_manifest_parses_or_raises_specific_error(raw):
    _parse(read_manifest, "m.tsv", raw)


@FUZZ
@given(lines | st.binary(max_size=300))
def test_vision_label_tsv_parses_or_raises_specific_error(raw):
    _parse(read_label_tsv, "labels.tsv", raw)


@FUZZ
@given(lines | st.binary(max_size=300))
def test_text_jsonl_parses_or_raises_specific_error(raw):
    _parse(load_jsonl, "docs.jsonl", raw)


def test_fuzz_found_cases_are_specific_errors(tmp_path):
    """Found by the fuzzers above: a non-UTF-8 byte crashed all three manifest readers with
    UnicodeDecodeError, a JSONL line holding a bare number crashed the text reader, and on Python 3.10 a NUL byte
    crashed the label TSV reader with csv.Error."""
    import pytest

    from edge_sdk.errors import InvalidInputError

    for parser, name in ((read_manifest, "m.tsv"), (read_label_tsv, "l.tsv"), (load_jsonl, "d.jsonl")):
        (tmp_path / name).write_bytes(b"\x80")
        with pytest.raises(InvalidInputError, match="not UTF-8"):
            parser(tmp_path / name)
        (tmp_path / name).write_bytes(b"\x00")
        with pytest.raises(InvalidInputError, match="a NUL byte at byte 0"):
            parser(tmp_path / name)
    (tmp_path / "n.jsonl").write_bytes(b"0")
    with pytest.raises(InvalidInputError, match="JSON object"):
        load_jsonl(tmp_path / "n.jsonl")


@FUZZ
@given(texty | st.binary(max_size=400), st.integers(min_value=1, max_value=64), st.none() | st.integers(min_value=1, max_value=500))
def test_streamed_text_windows_join_to_the_decoded_text_or_raise_specific_error(raw, window_chars, max_chars):
    """The windowed UTF-8 reader of long text (``edge-sdk summarize``): read in blocks as small as one byte."""
    import io

    from edge_sdk.errors import InputTooLargeError, InvalidInputError
    from edge_sdk.text import textinput

    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        expected = None
    old = textinput.READ_BLOCK_BYTES
    textinput.READ_BLOCK_BYTES = 7  # a block boundary inside multi-byte characters, often
    try:
        windows = list(textinput.read_windows(io.BytesIO(data), window_chars, max_chars))
    except InputTooLargeError:
        assert max_chars is not None and (expected is None or len(expected) > max_chars)  # the limit came first
        return
    except InvalidInputError:
        assert expected is None
        return
    finally:
        textinput.READ_BLOCK_BYTES = old
    assert expected is not None and (max_chars is None or len(expected) <= max_chars)
    assert "".join(w for w, _ in windows) == expected and all(len(w) <= window_chars for w, _ in windows)
    assert windows[-1][1] == len(data) and [b for _, b in windows] == sorted(b for _, b in windows)
