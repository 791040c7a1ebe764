"""Summaries of text of any length in bounded memory: read in windows, keep a bounded pool of candidates.

The text is read a block at a time (a file or stdin, decoded as UTF-8 as it comes) and cut into windows of about
``SummarizerOptions.window_chars`` characters at paragraph or sentence boundaries. Each window is segmented and
embedded, in chunks of ``chunk_words`` words as :meth:`Summarizer.select` does for a document held in memory: every
chunk keeps its best ``keep`` sentences (centrality to the chunk's centroid plus the position prior), and the centroid
of every sentence read is summed as it goes. The pool of kept candidates holds at most ``max_candidates`` sentences;
when it is full it is pruned to its best half against the centroid so far. The final choice is made among the pool
against the centroid of the whole text, with the same scoring and redundancy control as in memory. So memory is a
window plus the pool, whatever the length of the input, and the input's length only costs time.

The differences from summarizing the same text in memory: the position prior of a chunk's own ranking uses the number
of sentences the text is estimated to hold (from its size in bytes, when known) instead of the exact count, chunks
restart at each window, and the pool is capped. A text that fits in its first window is summarized in memory by
:meth:`Summarizer.summarize` itself, so its summary is the very same.

The :class:`~edge_sdk.text.rolling.RollingSummarizer` is not the building block here: it keeps every segment of a time
window to summarize the last minutes of a live transcript, where this keeps candidates of the whole text.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from edge_sdk.errors import EmptyInputError
from edge_sdk.text.rank import chunk_ranges, final_scores, fits_budget, mmr, position_prior, preselect, score
from edge_sdk.text.ranker import Candidates
from edge_sdk.text.results import SummarySentence
from edge_sdk.text.textinput import as_text, count_words, read_windows

# progress(characters read, bytes read, bytes in all or None when unknown), after each window
StreamProgress = Callable[[int, int, "int | None"], None]


@dataclass
class _Pool:
    """Candidate sentences kept from the windows read so far: global index, candidate rank, offsets, text, words,
    paragraph start."""

    dim: int
    index: list[int] = field(default_factory=list)
    rank: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    para: list[float] = field(default_factory=list)
    emb: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)

    def add(self, index: int, rank: int, start: int, end: int, text: str, words: int, para: float, emb: np.ndarray) -> None:
        self.index.append(index)
        self.rank.append(rank)
        self.start.append(start)
        self.end.append(end)
        self.text.append(text)
        self.words.append(words)
        self.para.append(para)
        self.emb.append(emb)

    def matrix(self) -> np.ndarray:
        return np.stack(self.emb) if self.emb else np.zeros((0, self.dim), np.float32)

    def candidates(self) -> Candidates:
        return Candidates(np.array(self.index), np.array(self.rank), np.array(self.para), np.array(self.words))

    def keep_only(self, rows) -> None:
        rows = sorted(int(r) for r in rows)
        for name in ("index", "rank", "start", "end", "text", "words", "para", "emb"):
            values = getattr(self, name)
            setattr(self, name, [values[r] for r in rows])


class StreamState:
    """What a streamed summary carries from one window to the next: counts, the centroid sum and the pool."""

    def __init__(self, summarizer, keep: int, max_candidates: int, total_bytes: int | None) -> None:
        self.summarizer = summarizer
        self.weights = summarizer.options.weights
        self.keep = keep
        self.max_candidates = max_candidates
        self.total_bytes = total_bytes
        self.pool = _Pool(summarizer.encoder.dim)
        self.centroid_sum = np.zeros(summarizer.encoder.dim, dtype=np.float64)
        self.sentences = 0  # sentences read so far (global index of the next one)
        self.candidates = 0  # candidate sentences read so far (rank of the next one)
        self.words = 0
        self.chars = 0
        self.visible = False
        self.chunks = 0
        self.fragments_only = True  # no candidate of min_words yet: short fragments are kept meanwhile

    def estimated_total(self, bytes_read: int) -> int:
        """Sentences the whole text likely holds: the count so far, scaled by the bytes still to come (when known)."""
        if not self.total_bytes or bytes_read <= 0:
            return max(self.sentences, 1)
        return max(self.sentences, int(self.sentences * self.total_bytes / bytes_read), 1)

    def add_window(self, window: str, bytes_read: int) -> None:
        """Segment, embed and rank one window; keep its best candidates; count its sentences and words."""
        s = self.summarizer
        text = as_text(window)  # binary content is refused window by window
        base_chars, base_index = self.chars, self.sentences
        self.chars += len(text)
        if not text.strip():
            return
        self.visible = True
        sents = s.segment(text)
        word_counts = [count_words(x.text) for x in sents]
        self.sentences += len(sents)
        self.words += sum(word_counts)
        w = self.weights
        good = [i for i, x in enumerate(sents) if not x.heading and word_counts[i] >= w.min_words]
        if good and self.fragments_only:  # the first real sentences: fragments kept so far give way
            self.fragments_only = False
            self.pool.keep_only(r for r in range(len(self.pool)) if self.pool.words[r] >= w.min_words)
        candidates = (
            good if not self.fragments_only else [i for i, x in enumerate(sents) if not x.heading] or list(range(len(sents)))
        )
        para = [1.0 if i == 0 or "\n" in text[sents[i - 1].end_char : x.start_char] else 0.0 for i, x in enumerate(sents)]
        total = self.estimated_total(bytes_read)
        ranges = chunk_ranges(sents, word_counts, s.options.chunk_words)
        self.chunks += len(ranges)
        at, base_rank = 0, self.candidates
        self.candidates += len(candidates)
        for rng in ranges:
            first = at
            while at < len(candidates) and candidates[at] < rng.stop:
                at += 1
            idx, ranks = candidates[first:at], list(range(base_rank + first, base_rank + at))
            if not idx:
                continue
            emb = s.encoder.embed([sents[i].text for i in idx])
            self.centroid_sum += emb.sum(0)
            if len(idx) > self.keep:
                prior = position_prior(np.array(idx, float) + base_index, total, np.array([para[i] for i in idx]), w)
                local, _ = score(emb, emb.mean(0), prior, w)
                best = preselect(local, ranks, self.keep)
                idx, ranks, emb = [idx[b] for b in best], [ranks[b] for b in best], emb[best]
            for i, rank, e in zip(idx, ranks, emb, strict=True):
                x = sents[i]
                self.pool.add(
                    base_index + i, rank, base_chars + x.start_char, base_chars + x.end_char, x.text, word_counts[i], para[i], e
                )
        if len(self.pool) > self.max_candidates:
            self.prune(total)

    def prune(self, total: int) -> None:
        """Halve the pool: keep the candidates that score best against the centroid of everything read so far."""
        emb = self.pool.matrix()
        prior = position_prior(np.array(self.pool.index, float), total, np.array(self.pool.para), self.weights)
        combined, _ = score(emb, self.centroid_sum.astype(np.float32), prior, self.weights)
        self.pool.keep_only(preselect(combined, self.pool.rank, self.max_candidates // 2))

    def choose(self, length) -> list[tuple[int, float, float, float]]:
        """Final choice among the pool against the whole text's centroid: ``[(pool row, score, centrality, prior)]``
        in document order."""
        if not len(self.pool):
            return []
        emb = self.pool.matrix()
        combined, cent, prior = final_scores(emb, self.centroid_sum.astype(np.float32), self.pool.candidates(), self.sentences,
                                             self.candidates, self.weights, self.summarizer.ranker)
        picks = mmr(emb, combined, np.array(self.pool.words), fits_budget(*length.budget(self.words)), self.weights)
        return sorted((p, float(combined[p]), float(cent[p]), float(prior[p])) for p in picks)


def summarize_stream(
    summarizer,
    stream: BinaryIO,
    length,
    total_bytes: int | None = None,
    progress: StreamProgress | None = None,
    max_candidates: int = 4096,
):
    """Summarize UTF-8 text read from ``stream`` (see the module docstring); a :class:`~edge_sdk.text.summarizer.Summary`.

    Raises:
        EmptyInputError: No visible characters in the whole text.
        InputTooLargeError: More than ``summarizer.options.max_stream_chars`` characters.
        InvalidInputError: Not UTF-8, or binary content.
    """
    opts = summarizer.options
    started = time.perf_counter()
    windows = read_windows(stream, opts.window_chars, opts.max_stream_chars)
    first, first_bytes = next(windows)
    second = next(windows, None)
    if second is None:  # the whole text in one window: summarized in memory, exactly as summarize() does

        def by_words(done: int, total: int) -> None:  # its chunks' progress, in words, as a share of the characters
            progress(len(first) * done // max(total, 1), first_bytes * done // max(total, 1), total_bytes or first_bytes)

        return summarizer.summarize(first, **length.as_kwargs(), progress=by_words if progress is not None else None)
    expected = length.expected_sentences(total_bytes // 6 if total_bytes else 0)  # ~6 bytes per English word
    keep = min(max(8, 2 * expected), max(8, max_candidates // 4))
    state = StreamState(summarizer, keep, max_candidates, total_bytes)
    for window, bytes_read in itertools.chain([(first, first_bytes), second], windows):
        state.add_window(window, bytes_read)
        if progress is not None:
            progress(state.chars, bytes_read, total_bytes)
    if not state.visible:
        raise EmptyInputError(
            f"the text is empty or has no visible characters ({state.chars:,} characters of whitespace or "
            "control characters); give the document's text"
        )
    pool = state.pool
    chosen = tuple(
        SummarySentence(pool.text[r], pool.start[r], pool.end[r], pool.index[r], round(s, 4), round(c, 4), round(p, 4))
        for r, s, c, p in state.choose(length)
    )
    return summarizer.summary_of(chosen, state.sentences, state.words, state.chunks, started)
