"""Checks on caller text: type, encoding, binary content, and word counts.

Documented results: ``None``, numbers and other non-text raise :class:`InvalidInputError`;
bytes must be UTF-8; text with NUL bytes or many control or replacement characters is treated
as binary and refused; text over ``max_chars`` raises :class:`InputTooLargeError` (bytes are
measured before they are decoded). Text with no visible characters (empty, whitespace, control
characters) passes these checks; the summarizers refuse it with :class:`EmptyInputError`.
"""

from __future__ import annotations

import re

from edge_sdk.errors import InputTooLargeError, InvalidInputError

UTF8_MAX_BYTES = 4  # bytes per character at most: more than 4 * max_chars bytes cannot fit
# About 150,000 words (a long book): summarized in about a minute on 2 cores, in well under 100 MB.
DEFAULT_MAX_INPUT_CHARS = 1_000_000

BINARY_FRACTION = 0.1  # control or U+FFFD characters among visible ones above this => binary
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")


def too_long(chars: int, max_chars: int, at_least: bool = False) -> InputTooLargeError:
    """The error for text of ``chars`` characters (``at_least``: measured from its bytes) over ``max_chars``."""
    size = f"has at least {chars:,} characters" if at_least else f"is {chars:,} characters"
    return InputTooLargeError(f"the text {size}, over the limit of {max_chars:,}; summarize it in parts, or raise the limit "
                              "(SummarizerOptions.max_input_chars; --max-chars on the command line)")


def as_text(text, max_chars: int | None = None) -> str:
    """Validate caller input and return text whose offsets match the input.

    Control characters other than tab and newlines are replaced by spaces of the same length,
    so character offsets into the result are offsets into the caller's string.

    Args:
        text: ``str``, or ``bytes`` holding UTF-8.
        max_chars: Refuse text longer than this many characters; None: no limit.

    Returns:
        The text to segment; it may be empty or only whitespace.

    Raises:
        InputTooLargeError: Longer than ``max_chars``.
        InvalidInputError: Not text, not UTF-8, or binary content.
    """
    if max_chars is not None and isinstance(text, (bytes, bytearray, memoryview)) and len(text) > UTF8_MAX_BYTES * max_chars:
        raise too_long(-(-len(text) // UTF8_MAX_BYTES), max_chars, at_least=True)
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"input is not UTF-8 text (byte {exc.start}: {bytes(text)[exc.start:exc.start + 4]!r}); "
                f"decode it first or pass a str"
            ) from exc
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str (or UTF-8 bytes), got {type(text).__name__}; pass the document as a string")
    if max_chars is not None and len(text) > max_chars:
        raise too_long(len(text), max_chars)
    controls = len(_CONTROL.findall(text))
    visible = sum(1 for ch in text if not ch.isspace() and not _CONTROL.match(ch))
    if visible == 0:
        return _CONTROL.sub(" ", text)
    bad = controls + text.count("\ufffd")
    has_nul = "\x00" in text
    if has_nul or bad > BINARY_FRACTION * visible:
        raise InvalidInputError(
            f"input looks binary ({bad} control/replacement characters, NUL present: {has_nul}); "
            f"pass plain text, e.g. extract the text of a PDF or Word file first"
        )
    return _CONTROL.sub(" ", text)


def count_words(text: str) -> int:
    """Words of ``text``; each CJK character counts as a word."""
    return len(_WORD.findall(text))
