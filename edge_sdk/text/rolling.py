"""Rolling summary of a live transcript: the gist of the last T minutes, with timestamps.

Feed final segments from a speech stream (text with ``start_s``/``end_s``) to a
:class:`RollingSummarizer`, one per transcript. Ask for :meth:`RollingSummarizer.summary` at any
time, or set ``every_s`` and :meth:`RollingSummarizer.accept` returns a fresh summary each time
that much transcript time has passed. Time is the transcript's own clock (segment ``end_s``),
so a file played as live gives the same summaries as a live session. Only segments inside the
window are kept, so memory is bounded by the window length.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_sdk.errors import InvalidInputError
from edge_sdk.text.summarizer import Length, Summarizer
from edge_sdk.text.textinput import as_text, count_words


@dataclass(frozen=True)
class TranscriptSegment:
    """A final transcript segment: its text and where it lies in the audio, in seconds."""

    text: str
    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidInputError(f"TranscriptSegment.text must be a str, got {type(self.text).__name__}")
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"TranscriptSegment.{name}={value!r}: use a finite number of seconds >= 0")
        if self.end_s < self.start_s:
            raise InvalidInputError(f"TranscriptSegment end_s={self.end_s} is before start_s={self.start_s}; swap them")


@dataclass(frozen=True)
class RollingSummaryOptions:
    """Options of a :class:`RollingSummarizer`.

    Attributes:
        window_s: Summarize the last this many seconds of transcript (600 = ten minutes).
        every_s: When set, :meth:`RollingSummarizer.accept` returns a summary each time this many
            seconds of transcript have passed since the last one; None means on demand only.
        sentences: Sentences per summary.
    """

    window_s: float = 600.0
    every_s: float | None = None
    sentences: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.window_s, (int, float)) or not self.window_s > 0:
            raise InvalidInputError(f"RollingSummaryOptions.window_s={self.window_s!r}: use seconds > 0, e.g. 600")
        if self.every_s is not None and (not isinstance(self.every_s, (int, float)) or not self.every_s > 0):
            raise InvalidInputError(f"RollingSummaryOptions.every_s={self.every_s!r}: use seconds > 0, or None for on demand")
        if not isinstance(self.sentences, int) or self.sentences < 1:
            raise InvalidInputError(f"RollingSummaryOptions.sentences={self.sentences!r}: use an integer >= 1")


@dataclass(frozen=True)
class TimedSentence:
    """A summary sentence and the span of the segments it came from."""

    text: str
    start_s: float
    end_s: float
    score: float


@dataclass(frozen=True)
class RollingSummary:
    """A summary of the transcript between ``window_start_s`` and ``window_end_s``."""

    sentences: tuple[TimedSentence, ...]
    window_start_s: float
    window_end_s: float
    segments: int
    elapsed_ms: float

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


class RollingSummarizer:
    """One live transcript's rolling summary; the :class:`Summarizer` may be shared.

    Args:
        summarizer: An extractive summarizer (its model is stateless and can serve many streams).
        options: Window, cadence and length.
    """

    def __init__(self, summarizer: Summarizer, options: RollingSummaryOptions | None = None) -> None:
        self.summarizer = summarizer
        self.options = options or RollingSummaryOptions()
        self._segments: deque[TranscriptSegment] = deque()
        self._last_emit_s: float | None = None
        self._latest_s = 0.0
        self._cache: dict[str, np.ndarray] = {}  # sentence text -> embedding, pruned to the window

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings with a cache, so a refresh only encodes sentences new since the last one."""
        self.summarizer._require_open()  # a closed Summarizer holds no encoder: say so, not AttributeError
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.summarizer.encoder.embed(missing), strict=True))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.summarizer.encoder.dim), np.float32)

    def accept(self, segment: TranscriptSegment) -> RollingSummary | None:
        """Add a final segment; return a summary when ``every_s`` has passed, else None.

        Raises:
            InvalidInputError: The segment is not a :class:`TranscriptSegment`, or its text is binary.
        """
        if not isinstance(segment, TranscriptSegment):
            raise InvalidInputError(f"accept() takes a TranscriptSegment, got {type(segment).__name__}")
        as_text(segment.text)
        self._segments.append(segment)
        self._latest_s = max(self._latest_s, segment.end_s)
        self._evict()
        every = self.options.every_s
        if every is None:
            return None
        if self._last_emit_s is None:
            self._last_emit_s = self._segments[0].start_s
        if self._latest_s - self._last_emit_s >= every:
            self._last_emit_s = self._latest_s
            return self.summary()
        return None

    def _evict(self) -> None:
        horizon = self._latest_s - self.options.window_s
        while self._segments and self._segments[0].end_s < horizon:
            self._segments.popleft()

    def summary(self, sentences: int | None = None) -> RollingSummary:
        """Summary of the segments inside the window now (empty when there are none)."""
        started = time.perf_counter()
        segs = list(self._segments)
        parts, spans, pos = [], [], 0
        for seg in segs:
            text = seg.text.strip()
            if not text:
                continue
            if parts:
                pos += 1
            spans.append((pos, pos + len(text), seg))
            parts.append(text)
            pos += len(text)
        text = as_text(" ".join(parts))
        sents = self.summarizer.segment(text)
        sents = _split_at_segments(sents, spans)
        words = [count_words(s.text) for s in sents]
        chosen, _ = self.summarizer.select(text, sents, words, Length(sentences=sentences or self.options.sentences), embed=self._embed)
        live = {s.text for s in sents}
        self._cache = {t: v for t, v in self._cache.items() if t in live}
        out = []
        for index, score, _cent, _prior in chosen:
            s = sents[index]
            covered = [seg for a, b, seg in spans if a < s.end_char and b > s.start_char]
            out.append(TimedSentence(s.text, covered[0].start_s, covered[-1].end_s, round(score, 4)))
        return RollingSummary(
            sentences=tuple(out),
            window_start_s=segs[0].start_s if segs else 0.0,
            window_end_s=self._latest_s,
            segments=len(segs),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def close(self) -> None:
        """Forget the transcript; idempotent."""
        self._segments.clear()
        self._cache.clear()

    def __enter__(self) -> RollingSummarizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


MAX_UNPUNCTUATED_WORDS = 40


def _split_at_segments(sents, spans):
    """Cut long unpunctuated stretches at segment boundaries, so timestamps stay tight."""
    from dataclasses import replace

    out = []
    bounds = [b for _a, b, _seg in spans]
    for s in sents:
        if count_words(s.text) <= MAX_UNPUNCTUATED_WORDS:
            out.append(s)
            continue
        start = s.start_char
        for b in bounds:
            if start < b < s.end_char and count_words(s.text[start - s.start_char : b - s.start_char]) >= 8:
                piece = s.text[start - s.start_char : b - s.start_char].strip()
                if piece:
                    a = s.text.index(piece, start - s.start_char) + s.start_char
                    out.append(replace(s, text=piece, start_char=a, end_char=a + len(piece)))
                start = b
        piece = s.text[start - s.start_char :].strip()
        if piece:
            a = s.text.index(piece, start - s.start_char) + s.start_char
            out.append(replace(s, text=piece, start_char=a, end_char=a + len(piece)))
    return out
