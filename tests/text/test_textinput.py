"""Input checks: documented results for empty, control-only and binary input."""

from __future__ import annotations

import pytest

from edge_sdk.errors import InvalidInputError
from edge_sdk.text.textinput import as_text, count_words


def test_control_characters_become_spaces_and_keep_offsets() -> None:
    text = "Hello\x07 to the whole world.\x1b We are done here."
    out = as_text(text)
    assert len(out) == len(text)
    assert out == "Hello  to the whole world.  We are done here."


@pytest.mark.parametrize("text", ["", "   ", "\n\t\r", "\x01\x02\x03", " \x0b\x0c "])
def test_whitespace_or_control_only_is_valid_and_blank(text: str) -> None:
    assert as_text(text).strip() == ""


@pytest.mark.parametrize("data", [bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"])
def test_binary_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match="UTF-8|binary"):
        as_text(data)


def test_text_with_nul_is_refused_as_binary() -> None:
    with pytest.raises(InvalidInputError, match="binary"):
        as_text("abc\x00def ghi")


@pytest.mark.parametrize("value", [None, 42, 3.5, ["a list"]])
def test_non_text_is_refused_naming_the_type(value) -> None:
    with pytest.raises(InvalidInputError, match=type(value).__name__):
        as_text(value)


def test_utf8_bytes_are_decoded() -> None:
    assert as_text("Größe.".encode()) == "Größe."


def test_cjk_characters_count_as_words() -> None:
    assert count_words("他来了 hello world") == 5
