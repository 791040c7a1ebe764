"""Sentence selection: a learned scorer (or centrality plus a position prior), and redundancy control (MMR).

Pure numpy on precomputed, L2-normalised sentence embeddings. Scoring is streamable: a
document is processed in chunks, each chunk keeps its best candidates, and the final choice
is made among the kept candidates against the whole document's centroid, so memory grows with
the chunk size and the number of candidates, never with the square of the document length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.text.ranker import Candidates, Ranker, features, scaled

if TYPE_CHECKING:
    from edge_sdk.text.segment import Sentence

LEAD_CANDIDATES = 5  # the first candidates of a document survive every chunk's pre-selection: the ranker weighs them


@dataclass(frozen=True)
class RankWeights:
    """How sentences are scored.

    Attributes:
        position: Weight of the position prior against centrality (both in [0, 1]).
        position_decay: Fraction of the document over which the prior decays by ``1/e``.
        section_start: Bonus for the first sentence of a paragraph or section.
        redundancy: MMR trade-off: 0 ignores redundancy, 1 only avoids it.
        min_words: Sentences shorter than this are never chosen (fragments, captions).
    """

    # Tuned on every other record of the shared summaries.jsonl (3-sentence summaries).
    position: float = 0.15
    position_decay: float = 1.0
    section_start: float = 0.05
    redundancy: float = 0.2
    min_words: int = 6

    def __post_init__(self) -> None:
        for name in ("position", "position_decay", "section_start", "redundancy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or (name == "redundancy" and value > 1):
                raise ValueError(f"RankWeights.{name}={value!r} must be a number >= 0 (redundancy at most 1)")
        if self.position_decay == 0:
            raise ValueError("RankWeights.position_decay must be > 0, e.g. 0.1")


@dataclass(frozen=True)
class Scored:
    """Scores of one candidate sentence, by its index among the document's sentences."""

    index: int
    score: float
    centrality: float
    prior: float


def position_prior(positions: np.ndarray, total: int, starts: np.ndarray, weights: RankWeights) -> np.ndarray:
    """Prior in [0, 1]: high for the opening of the document and for paragraph/section starts."""
    frac = positions / max(total, 1)
    return np.clip(np.exp(-frac / weights.position_decay) + weights.section_start * starts, 0.0, 1.0)


def centrality(embeddings: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Cosine of each sentence to the document centroid (mean similarity to every other sentence)."""
    norm = float(np.linalg.norm(centroid))
    return embeddings @ (centroid / norm) if norm > 0 else np.zeros(len(embeddings), dtype=np.float32)


def score(embeddings: np.ndarray, centroid: np.ndarray, prior: np.ndarray, weights: RankWeights) -> tuple[np.ndarray, np.ndarray]:
    """(combined score, raw centrality) of candidates against ``centroid``: the untrained score, used to pre-select
    a chunk's candidates and by a bundle without a ranker."""
    cent = centrality(embeddings, centroid)
    return scaled(cent) + weights.position * prior, cent


def final_scores(embeddings: np.ndarray, centroid: np.ndarray, cands: Candidates, total_sentences: int,
                 total_candidates: int, weights: RankWeights, ranker: Ranker | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, raw centrality, position prior) of the candidates the final choice is made among: the ranker's score
    where there is one, else :func:`score`."""
    prior = position_prior(np.asarray(cands.index, float), total_sentences, np.asarray(cands.para, float), weights)
    if ranker is None:
        combined, cent = score(embeddings, centroid, prior, weights)
        return combined, cent, prior
    cent = centrality(embeddings, centroid)
    return ranker(features(cands, cent, total_sentences, total_candidates)), cent, prior


def preselect(local: np.ndarray, ranks, keep: int) -> np.ndarray:
    """Rows of a chunk's ``keep`` best local scores plus its rows of candidate rank below ``LEAD_CANDIDATES``, sorted."""
    best = set(np.argsort(-local)[:keep].tolist()) | {r for r, rank in enumerate(ranks) if rank < LEAD_CANDIDATES}
    return np.array(sorted(best), dtype=np.int64)


def mmr(embeddings: np.ndarray, scores: np.ndarray, words: np.ndarray, fits, weights: RankWeights) -> list[int]:
    """Greedy maximal marginal relevance: best score minus similarity to what is chosen.

    Args:
        embeddings: Candidates' embeddings.
        scores: Candidates' combined scores.
        words: Candidates' word counts.
        fits: ``fits(chosen_count, chosen_words, next_words) -> bool``: the length budget.
        weights: Redundancy trade-off.

    Returns:
        Positions (into the candidate arrays) in the order they were chosen.
    """
    chosen: list[int] = []
    total_words = 0
    max_sim = np.full(len(scores), -1.0, dtype=np.float32)
    available = np.ones(len(scores), dtype=bool)
    lam = weights.redundancy
    while available.any():
        gain = (1 - lam) * scores - lam * np.maximum(max_sim, 0.0)
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        available[best] = False
        if not fits(len(chosen), total_words, int(words[best])):
            if not chosen:
                continue  # a first sentence longer than the budget: try shorter ones
            if fits(len(chosen), total_words, 0):
                continue  # the word budget has room for a shorter sentence
            break
        chosen.append(best)
        total_words += int(words[best])
        max_sim = np.maximum(max_sim, embeddings @ embeddings[best])
    return chosen


def fits_budget(max_sentences: int | None, max_words: int | None):
    """A ``fits(count, words, next_words)`` test for :func:`mmr`: at most ``max_sentences``, else ``max_words``."""
    def fits(count: int, words: int, next_words: int) -> bool:
        if max_sentences is not None:
            return count < max_sentences
        return words + next_words <= max_words if next_words else words < max_words

    return fits


def chunk_ranges(sentences: list[Sentence], words: list[int], chunk_words: int) -> list[range]:
    """Consecutive ranges of sentence indexes of about ``chunk_words`` words each (``words``: per sentence)."""
    out, start, acc = [], 0, 0
    for i, w in enumerate(words):
        acc += w
        if acc >= chunk_words:
            out.append(range(start, i + 1))
            start, acc = i + 1, 0
    if start < len(sentences):
        out.append(range(start, len(sentences)))
    return out
