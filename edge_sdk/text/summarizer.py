"""Extractive summarization: pick the sentences that best stand for the document.

Sentences are embedded with the bundle's sentence encoder, scored by centrality (cosine to the
document centroid) plus a position prior, and chosen greedily with maximal marginal relevance
so that they do not repeat each other. The summary lists them in document order with their
character offsets and scores.

Long documents are processed in chunks of ``chunk_words`` words: each chunk is embedded and
keeps its best candidates, and the final choice is made among all kept candidates against the
whole document's centroid, so memory does not grow with the square of the document length.
What does grow with the document (its text and sentence offsets, some 100 bytes per word) is
bounded by ``max_input_chars``: longer text is refused before it is segmented.

Text of any length is summarized in bounded memory by :meth:`Summarizer.summarize_stream`, which reads a file or
stream a window at a time (see :mod:`edge_sdk.text.longtext`); ``edge-sdk summarize`` uses it.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from edge_sdk.errors import EmptyInputError, InvalidInputError
from edge_sdk.runtime import load_model
from edge_sdk.task import Provenance, Task
from edge_sdk.text.encoder import SentenceEncoder
from edge_sdk.text.rank import RankWeights, chunk_ranges, final_scores, fits_budget, mmr, position_prior, preselect, score
from edge_sdk.text.ranker import Candidates, Ranker
from edge_sdk.text.results import SummarySentence
from edge_sdk.text.segment import Sentence, split_sentences
from edge_sdk.text.textinput import DEFAULT_MAX_INPUT_CHARS, DEFAULT_MAX_STREAM_CHARS, as_text, count_words

log = logging.getLogger(__name__)

DEFAULT_BUNDLE = "minilm-l6-extractive"
AVG_SENTENCE_WORDS = 20


@dataclass(frozen=True)
class SummarizerOptions:
    """Options of an extractive :class:`Summarizer`.

    Attributes:
        bundle: Bundle name in the store or a bundle folder.
        variant: Bundle variant (``fp32``, ``int8``, ``fp16``); None lets the device profile choose.
        device: Device profile name or ``"auto"``.
        sentences: Default summary length in sentences when a call gives no length.
        chunk_words: Words per chunk for long documents (bounds memory).
        weights: How sentences are scored.
        max_input_chars: Longer text is refused with :class:`~edge_sdk.errors.InputTooLargeError` (bytes before
            they are decoded); raise it for longer documents: time and memory grow with the text.
        allow_refused: Load ``variant`` even when its own quality gate refused it (for inspection).
        max_stream_chars: :meth:`Summarizer.summarize_stream` refuses longer text (found while reading it). Memory
            does not depend on it (the text is held a window at a time); time does, at the rate in README.md.
        window_chars: Characters :meth:`Summarizer.summarize_stream` holds at a time; a text that fits in one window
            is summarized in memory, exactly as :meth:`Summarizer.summarize` does.
    """

    bundle: str = DEFAULT_BUNDLE
    variant: str | None = None
    device: str = "auto"
    sentences: int = 3
    chunk_words: int = 4000
    weights: RankWeights = field(default_factory=RankWeights)
    max_input_chars: int = DEFAULT_MAX_INPUT_CHARS
    allow_refused: bool = False
    max_stream_chars: int = DEFAULT_MAX_STREAM_CHARS
    window_chars: int = 262_144

    def __post_init__(self) -> None:
        if not isinstance(self.bundle, str) or not self.bundle:
            raise InvalidInputError(f"SummarizerOptions.bundle={self.bundle!r}: give a bundle name or folder, e.g. {DEFAULT_BUNDLE!r}")
        if self.variant is not None and (not isinstance(self.variant, str) or not self.variant):
            raise InvalidInputError(f"SummarizerOptions.variant={self.variant!r}: use a variant name such as 'fp32', 'int8', 'fp16', or None")
        if not isinstance(self.sentences, int) or self.sentences < 1:
            raise InvalidInputError(f"SummarizerOptions.sentences={self.sentences!r}: use an integer >= 1")
        if not isinstance(self.chunk_words, int) or self.chunk_words < 200:
            raise InvalidInputError(f"SummarizerOptions.chunk_words={self.chunk_words!r}: use an integer >= 200")
        if not isinstance(self.max_input_chars, int) or isinstance(self.max_input_chars, bool) or self.max_input_chars < 1:
            raise InvalidInputError(f"SummarizerOptions.max_input_chars={self.max_input_chars!r}: use an integer >= 1")
        if not isinstance(self.max_stream_chars, int) or isinstance(self.max_stream_chars, bool) or self.max_stream_chars < 1:
            raise InvalidInputError(f"SummarizerOptions.max_stream_chars={self.max_stream_chars!r}: use an integer >= 1")
        if not isinstance(self.window_chars, int) or isinstance(self.window_chars, bool) or self.window_chars < 1000:
            raise InvalidInputError(f"SummarizerOptions.window_chars={self.window_chars!r}: use an integer >= 1000, e.g. 262144")
        if not isinstance(self.weights, RankWeights):
            raise InvalidInputError(f"SummarizerOptions.weights must be a RankWeights, got {type(self.weights).__name__}")


@dataclass(frozen=True)
class Summary:
    """An extractive summary and what produced it."""

    sentences: tuple[SummarySentence, ...]
    input_sentences: int
    input_words: int
    chunks: int
    elapsed_ms: float
    bundle: str
    variant: str
    providers: tuple[str, ...]
    fallback: str | None = None

    @property
    def text(self) -> str:
        """The chosen sentences joined by spaces, in document order."""
        return " ".join(s.text for s in self.sentences)

    def to_dict(self) -> dict:
        """JSON-ready form (used by ``edge-sdk summarize --json``)."""
        return {
            "text": self.text,
            "sentences": [s.__dict__ for s in self.sentences],
            "input_sentences": self.input_sentences,
            "input_words": self.input_words,
            "chunks": self.chunks,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "bundle": self.bundle,
            "variant": self.variant,
            "providers": list(self.providers),
            "fallback": self.fallback,
        }


@dataclass(frozen=True)
class Length:
    """A summary length: exactly one of sentence count, word count, or ratio of the input's words."""

    sentences: int | None = None
    words: int | None = None
    ratio: float | None = None

    def __post_init__(self) -> None:
        given = [n for n in ("sentences", "words", "ratio") if getattr(self, n) is not None]
        if len(given) != 1:
            raise InvalidInputError(f"give exactly one of sentences=, words=, ratio= (got {given or 'none'})")
        if self.sentences is not None and (not isinstance(self.sentences, int) or self.sentences < 1):
            raise InvalidInputError(f"sentences={self.sentences!r}: use an integer >= 1")
        if self.words is not None and (not isinstance(self.words, int) or self.words < 1):
            raise InvalidInputError(f"words={self.words!r}: use an integer >= 1")
        if self.ratio is not None and (not isinstance(self.ratio, (int, float)) or not 0 < self.ratio <= 1):
            raise InvalidInputError(f"ratio={self.ratio!r}: use a fraction in (0, 1], e.g. 0.1")

    def budget(self, total_words: int) -> tuple[int | None, int | None]:
        """(max sentences, max words) for a document of ``total_words`` words."""
        if self.sentences is not None:
            return self.sentences, None
        if self.words is not None:
            return None, self.words
        return None, max(1, int(round(self.ratio * total_words)))

    def as_kwargs(self) -> dict:
        """``sentences=``, ``words=`` or ``ratio=``, as :meth:`Summarizer.summarize` takes them."""
        return {"sentences": self.sentences, "words": self.words, "ratio": self.ratio}

    def expected_sentences(self, total_words: int) -> int:
        """Rough number of sentences the summary will hold (sizes the candidate pool)."""
        n, w = self.budget(total_words)
        return n if n is not None else max(1, math.ceil(w / AVG_SENTENCE_WORDS))


def candidate_sentences(text: str, sents: list[Sentence], word_counts: list[int], min_words: int) -> tuple[list[int], np.ndarray]:
    """(indexes of the sentences a summary may choose, 1.0/0.0 per sentence for a paragraph start).

    Candidates are the sentences of at least ``min_words`` words that are not headings; a text of short fragments
    only gets all its non-heading sentences.
    """
    candidates = [i for i, s in enumerate(sents) if not s.heading and word_counts[i] >= min_words]
    if not candidates:  # short fragments only: take what there is
        candidates = [i for i, s in enumerate(sents) if not s.heading] or list(range(len(sents)))
    starts = np.array([1.0 if i == 0 or "\n" in text[sents[i - 1].end_char : s.start_char] else 0.0 for i, s in enumerate(sents)])
    return candidates, starts


def bundle_ranker(bundle) -> Ranker | None:
    """The bundle's trained sentence ranker (asset ``ranker``); None for a bundle built without one, which then ranks
    by centrality and position (logged).

    Raises:
        BundleError: The asset is not a ranker this version reads.
    """
    if "ranker" not in bundle.assets:
        log.warning("bundle %r has no trained sentence ranker: ranking by centrality and position; rebuild it with "
                    "edge-sdk prepare text --force", bundle.name)
        return None
    return Ranker.from_json(bundle.read_asset("ranker"), f"bundle {bundle.name!r} asset 'ranker'")


class Summarizer(Task):
    """Extractive summarizer on a sentence-encoder bundle. Create with :meth:`create`.

    Example:
        with Summarizer.create(SummarizerOptions()) as s:
            summary = s.summarize(text, sentences=3)
    """

    def __init__(self, options: SummarizerOptions, encoder: SentenceEncoder, model=None, ranker: Ranker | None = None) -> None:
        self.options = options
        self.encoder = encoder
        self.model = model
        self.ranker = ranker
        self._provenance = Provenance.of(model) if model else Provenance(options.bundle, options.variant or "", ())

    @classmethod
    def create(cls, options: SummarizerOptions | None = None) -> Summarizer:
        """Load the bundle named by ``options`` and build the summarizer.

        Raises:
            BundleNotFoundError: The bundle is not in the store (build it with ``edge-sdk prepare text``).
            BundleError: The bundle is not a text bundle or fails verification.
        """
        options = options or SummarizerOptions()
        model = load_model(options.bundle, options.variant, options.device, task="text", allow_refused=options.allow_refused)
        return cls(options, SentenceEncoder.from_model(model), model, bundle_ranker(model.bundle))

    def close(self) -> None:
        """Drop the encoder and the loaded model, and with them the onnxruntime sessions (freed once nothing else
        holds them); later calls raise ``InvalidInputError``; :attr:`provenance` stays readable. Idempotent."""
        super().close()
        self.model = self.encoder = None

    def segment(self, text: str) -> list[Sentence]:
        """Sentences of ``text`` (already validated), with overlong ones split to fit the model."""
        return self.encoder.split_overlong(text, split_sentences(text))

    def candidates(self, text: str) -> tuple[list[Sentence], list[int], list[int], np.ndarray]:
        """(sentences, their word counts, indexes of the candidates, paragraph starts) of ``text``, as :meth:`select`
        sees them (for the oracle and the ranker's training)."""
        sents = self.segment(text)
        words = [count_words(s.text) for s in sents]
        return (sents, words, *candidate_sentences(text, sents, words, self.options.weights.min_words))

    def summarize(self, text, *, sentences: int | None = None, words: int | None = None, ratio: float | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Summary:
        """Summarize ``text``; give at most one of ``sentences``, ``words`` or ``ratio``.

        Args:
            text: The document (``str`` or UTF-8 ``bytes``), at most ``options.max_input_chars`` characters.
            sentences: Maximum number of sentences.
            words: Maximum number of words (sentences are never cut; if no sentence fits, the summary is empty).
            ratio: Maximum words as a fraction of the document's words.
            progress: Called as ``progress(words_done, words_total)`` after each chunk is embedded (long documents
                take minutes: this is how the command line shows progress).

        Returns:
            A :class:`Summary`. A single sentence comes back as itself; text with no sentence punctuation is
            split into pieces that fit the model and summarized like sentences.

        Raises:
            EmptyInputError: The text is empty or has no visible characters (whitespace, control characters).
            InputTooLargeError: Longer than ``options.max_input_chars``.
            InvalidInputError: Not text, binary content, or a bad length; or the summarizer was closed.
        """
        self._require_open()
        length = Length(sentences=self.options.sentences) if (sentences, words, ratio) == (None, None, None) else Length(sentences, words, ratio)
        started = time.perf_counter()
        text = as_text(text, self.options.max_input_chars)
        if not text.strip():
            raise EmptyInputError(f"the text is empty or has no visible characters ({len(text)} characters of whitespace or "
                                  "control characters); give the document's text")
        sents = self.segment(text)
        word_counts = [count_words(s.text) for s in sents]
        chosen, n_chunks = self.select(text, sents, word_counts, length, progress=progress)
        return self._result(chosen, sents, sum(word_counts), n_chunks, started)

    def select(self, text: str, sents: list[Sentence], word_counts: list[int], length: Length, embed=None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list, int]:
        """Choose sentences: ``([(index, score, centrality, prior), ...] in document order, chunks)``.

        ``embed`` replaces ``self.encoder.embed`` (e.g. a cache for rolling summaries); ``progress`` is called as
        ``progress(words_done, words_total)`` after each chunk.
        """
        embed = embed or self.encoder.embed
        if not sents:
            return [], 0
        w = self.options.weights
        candidates, starts = candidate_sentences(text, sents, word_counts, w.min_words)
        total_words = sum(word_counts)
        keep = max(8, 2 * length.expected_sentences(total_words))
        ranges = chunk_ranges(sents, word_counts, self.options.chunk_words)
        kept_idx: list[int] = []
        kept_emb: list[np.ndarray] = []
        centroid_sum = np.zeros(self.encoder.dim, dtype=np.float64)
        done = 0
        for rng in ranges:
            lo, hi = bisect.bisect_left(candidates, rng.start), bisect.bisect_left(candidates, rng.stop)
            idx = candidates[lo:hi]
            if idx:
                emb = embed([sents[i].text for i in idx])
                centroid_sum += emb.sum(0)
                if len(ranges) > 1 and len(idx) > keep:
                    prior = position_prior(np.array(idx, float), len(sents), starts[idx], w)
                    local, _ = score(emb, emb.mean(0), prior, w)
                    best = preselect(local, range(lo, hi), keep)
                    idx, emb = [idx[b] for b in best], emb[best]
                kept_idx.extend(idx)
                kept_emb.append(emb)
            done += sum(word_counts[rng.start : rng.stop])
            if progress is not None and len(ranges) > 1:
                progress(done, total_words)
        emb = np.concatenate(kept_emb)
        words = np.array([word_counts[i] for i in kept_idx])
        cands = Candidates(np.array(kept_idx), np.searchsorted(candidates, kept_idx), starts[kept_idx], words)
        combined, cent, prior = final_scores(emb, centroid_sum.astype(np.float32), cands, len(sents), len(candidates), w, self.ranker)
        picks = mmr(emb, combined, words, fits_budget(*length.budget(total_words)), w)
        chosen = sorted((kept_idx[p], float(combined[p]), float(cent[p]), float(prior[p])) for p in picks)
        return chosen, len(ranges)

    def summarize_stream(self, source: str | os.PathLike | BinaryIO, *, sentences: int | None = None, words: int | None = None,
                         ratio: float | None = None, total_bytes: int | None = None,
                         progress: Callable[[int, int, int | None], None] | None = None) -> Summary:
        """Summarize UTF-8 text of any length from a file or a binary stream, in memory bounded by the options.

        The text is read ``options.window_chars`` characters at a time and only a bounded pool of candidate sentences
        is kept between windows (see :mod:`edge_sdk.text.longtext`), so memory does not grow with the text; time does.
        A text that fits in one window gets the same summary as :meth:`summarize`.

        Args:
            source: A text file's path, or a binary stream (``sys.stdin.buffer``, an open file) read to its end.
            sentences: Maximum number of sentences.
            words: Maximum number of words.
            ratio: Maximum words as a fraction of the text's words (a streamed summary holds at most 4096 sentences).
            total_bytes: The stream's size, when known (a path's is read from the file system): for progress in
                percent and the position prior.
            progress: Called as ``progress(characters_read, bytes_read, total_bytes)`` after each window.

        Returns:
            A :class:`Summary`; offsets count characters from the start of the text; ``chunks`` counts every chunk of
            every window.

        Raises:
            EmptyInputError: The text has no visible characters.
            InputTooLargeError: Longer than ``options.max_stream_chars`` (a file: refused from its size when it cannot
                fit, before it is read).
            InputNotFoundError: No such file.
            InvalidInputError: Not a readable regular file, not UTF-8, binary content, or a bad length; or the
                summarizer was closed.
        """
        from edge_sdk.inputfile import check_input_file, open_input_file
        from edge_sdk.text.longtext import summarize_stream
        from edge_sdk.text.textinput import UTF8_MAX_BYTES, too_long

        self._require_open()
        length = Length(sentences=self.options.sentences) if (sentences, words, ratio) == (None, None, None) else Length(sentences, words, ratio)
        if not isinstance(source, (str, os.PathLike)):
            return summarize_stream(self, source, length, total_bytes, progress)
        path = check_input_file(source, "text file")
        size = path.stat().st_size
        if size > UTF8_MAX_BYTES * self.options.max_stream_chars:
            raise too_long(-(-size // UTF8_MAX_BYTES), self.options.max_stream_chars, at_least=True)
        with open_input_file(path, "text file") as f:
            return summarize_stream(self, f, length, size, progress)

    def summary_of(self, sentences: tuple[SummarySentence, ...], input_sentences: int, input_words: int, chunks: int,
                   started: float) -> Summary:
        """A :class:`Summary` of chosen sentences, with this summarizer's provenance and the time since ``started``."""
        p = self._provenance
        return Summary(
            sentences=sentences,
            input_sentences=input_sentences,
            input_words=input_words,
            chunks=chunks,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            bundle=p.bundle,
            variant=p.variant,
            providers=p.providers,
            fallback=p.fallback,
        )

    def _result(self, chosen: list, sents: list[Sentence], total_words: int, n_chunks: int, started: float) -> Summary:
        out = tuple(
            SummarySentence(sents[i].text, sents[i].start_char, sents[i].end_char, i, round(s, 4), round(c, 4), round(p, 4))
            for i, s, c, p in chosen
        )
        return self.summary_of(out, len(sents), total_words, n_chunks, started)
