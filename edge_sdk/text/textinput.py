"""Checks on caller text: type, encoding, binary content, and word counts.

Documented results: ``None``, numbers and other non-text raise :class:`InvalidInputError`;
bytes must be UTF-8; text with NUL bytes or many control or replacement characters is treated
as binary and refused; text over ``max_chars`` raises :class:`InputTooLargeError` (bytes are
measured before they are decoded). Text with no visible characters (empty, whitespace, control
characters) passes these checks; the summarizers refuse it with :class:`EmptyInputError`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import BinaryIO

from edge_sdk.errors import InputTooLargeError, InvalidInputError

UTF8_MAX_BYTES = 4  # bytes per character at most: more than 4 * max_chars bytes cannot fit
# About 150,000 words (a long book): summarized in about a minute on 2 cores, in well under 100 MB.
DEFAULT_MAX_INPUT_CHARS = 1_000_000
# Streamed text (edge-sdk summarize, Summarizer.summarize_stream) is held a window at a time, so its limit is one of
# time, not memory: 64 million characters (a 50 MB text passes); measured 10,000-17,000 characters/s on 2 shared
# cores (int8): 50 MB took 52 min at a peak RSS of 296 MB (benchmarks/experiments/reliability/README.md).
DEFAULT_MAX_STREAM_CHARS = 64_000_000
READ_BLOCK_BYTES = 1 << 16
_PARAGRAPH_END = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s|[\u3002\uff01\uff1f][\u300d\u300f\uff09]*")
_SPACE = re.compile(r"\s")

BINARY_FRACTION = 0.1  # control or U+FFFD characters among visible ones above this => binary
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")


def too_long(chars: int, max_chars: int, at_least: bool = False) -> InputTooLargeError:
    """The error for text of ``chars`` characters (``at_least``: measured from its bytes) over ``max_chars``."""
    size = f"has at least {chars:,} characters" if at_least else f"is {chars:,} characters"
    return InputTooLargeError(f"the text {size}, over the limit of {max_chars:,}; summarize it in parts, or raise the limit "
                              "(SummarizerOptions.max_input_chars, or max_stream_chars for a streamed text; --max-chars on the "
                              "command line)")


def _cut(buffer: str, window_chars: int) -> int:
    """Where a window of ``buffer`` ends: after its last blank line, else its last sentence end, else its last
    whitespace, looked for in the window's second half; else at ``window_chars`` (one unbroken run of characters)."""
    for pattern in (_PARAGRAPH_END, _SENTENCE_END, _SPACE):
        last = None
        for last in pattern.finditer(buffer, window_chars // 2, window_chars):  # noqa: B007 - the last match is wanted
            pass
        if last is not None:
            return last.end()
    return window_chars


def read_windows(stream: BinaryIO, window_chars: int, max_chars: int | None = None) -> Iterator[tuple[str, int]]:
    """Read UTF-8 text from ``stream`` a block at a time and yield it in windows of at most ``window_chars`` characters,
    each ending at a paragraph or sentence boundary where there is one, as ``(text, bytes up to the window's end)``.

    Joined, the windows are the decoded text, character for character; an empty stream yields one empty window.
    Memory is a window and a read block, whatever the length of the stream.

    Raises:
        InputTooLargeError: More than ``max_chars`` characters (found while reading; nothing past them is read).
        InvalidInputError: Not UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    buffer, chars, bytes_read, bytes_yielded, yielded = "", 0, 0, 0, False
    while True:
        # never read past what proves the limit: each byte is at most one character
        block = stream.read(READ_BLOCK_BYTES if max_chars is None else max(1, min(READ_BLOCK_BYTES, max_chars - chars + 1)))
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"input is not UTF-8 text (near byte {bytes_read + exc.start:,}: "
                                    f"{exc.object[exc.start:exc.start + 4]!r}); convert it to UTF-8 first") from exc
        bytes_read += len(block)
        chars += len(text)
        if max_chars is not None and chars > max_chars:
            raise too_long(chars, max_chars, at_least=True)
        buffer += text
        while len(buffer) > window_chars:
            cut = _cut(buffer, window_chars)
            bytes_yielded += len(buffer[:cut].encode("utf-8"))
            yield buffer[:cut], bytes_yielded
            yielded = True
            buffer = buffer[cut:]
        if not block:
            break
    if buffer or not yielded:
        yield buffer, bytes_read


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
