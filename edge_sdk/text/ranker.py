"""A learned sentence scorer: a few features per sentence and a one-hidden-layer network trained on oracle summaries.

The network is small enough to be a few hundred numbers in the text bundle (asset ``ranker``, JSON). Its features
say where a sentence is (its place among the document's sentences and among the candidates, paragraph start), how
central it is (cosine to the document centroid), how long it is, and how long the document is, so one set of weights
can favour the opening of a news story and the central sentences of a long report. ``quantize.text.ranker`` trains
it; the training data, counts and held-out figures are recorded beside the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from edge_sdk.errors import BundleError

FORMAT = "edge-sdk/sentence-ranker/1"
FEATURES = (
    "position", "position_decay", "rank_inverse", "rank_0", "rank_1", "rank_2", "rank_under_5", "paragraph_start",
    "centrality", "centrality_scaled", "log_words", "words_under_10", "words_over_40", "log_candidates",
    "rank_inverse_x_log_candidates", "centrality_scaled_x_log_candidates",
)


@dataclass(frozen=True)
class Candidates:
    """Candidate sentences of one document, as the ranker sees them.

    Attributes:
        index: Each sentence's index among all the document's sentences.
        rank: Its index among the candidates (sentences long enough to be chosen), 0 for the first.
        para: 1.0 where the sentence starts a paragraph.
        words: Its word count.
    """

    index: np.ndarray
    rank: np.ndarray
    para: np.ndarray
    words: np.ndarray


def scaled(values: np.ndarray) -> np.ndarray:
    """``values`` mapped linearly onto [0, 1] (all ones when they are equal)."""
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)


def features(cands: Candidates, centrality: np.ndarray, total_sentences: int, total_candidates: int) -> np.ndarray:
    """The ``len(FEATURES)`` features of each candidate, float32, one row per candidate."""
    index = np.asarray(cands.index, np.float32)
    rank = np.asarray(cands.rank, np.float32)
    words = np.maximum(np.asarray(cands.words, np.float32), 1.0)
    frac = index / max(total_sentences, 1)
    inverse = 1.0 / (1.0 + rank)
    cent = np.asarray(centrality, np.float32)
    cent_scaled = scaled(cent)
    log_n = np.full(len(index), np.log1p(total_candidates) / 5, np.float32)
    columns = (
        frac, np.exp(-frac), inverse, rank == 0, rank == 1, rank == 2, rank < 5, np.asarray(cands.para, np.float32),
        cent, cent_scaled, np.log(words), words < 10, words > 40, log_n, inverse * log_n, cent_scaled * log_n,
    )
    return np.stack([np.asarray(c, np.float32) for c in columns], axis=1)


CENTRALITY_SCALED = FEATURES.index("centrality_scaled")


@dataclass(frozen=True)
class Ranker:
    """``sigmoid(w2 . ReLU(W1 standardise(x) + b1) + b2) + centrality_weight * centrality_scaled`` per sentence.

    The network gives the probability that a sentence is in the oracle summary; ``centrality_weight`` adds the
    document-level evidence the oracle labels (a few sentences per document) under-weight, chosen on validation data.
    """

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    centrality_weight: float
    info: dict

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = np.maximum(((x - self.mean) / self.scale) @ self.w1 + self.b1, 0.0)
        return 1.0 / (1.0 + np.exp(-(h @ self.w2 + self.b2))) + self.centrality_weight * x[:, CENTRALITY_SCALED]

    def to_json(self) -> str:
        """The bundle asset's text: the weights, the feature names and ``info`` (training data and figures)."""
        weights = {k: np.asarray(getattr(self, k), np.float64).round(7).tolist() for k in ("mean", "scale", "w1", "b1", "w2")}
        data = {"format": FORMAT, "features": list(FEATURES), **weights, "b2": round(float(self.b2), 7),
                "centrality_weight": float(self.centrality_weight), "info": self.info}
        return "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"

    @classmethod
    def from_json(cls, text: bytes | str, origin: str = "ranker") -> Ranker:
        """Parse :meth:`to_json`'s text.

        Raises:
            BundleError: Not this format, other features than this version computes, or weights of the wrong shape.
        """
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or tuple(data.get("features", ())) != FEATURES:
                raise ValueError(f"format {data.get('format')!r} with features {data.get('features')!r}, expected {FORMAT!r}")
            arrays = {k: np.asarray(data[k], np.float32) for k in ("mean", "scale", "w1", "b1", "w2")}
            n, hidden = len(FEATURES), arrays["b1"].shape[0] if arrays["b1"].ndim == 1 else -1
            shapes = {"mean": (n,), "scale": (n,), "w1": (n, hidden), "b1": (hidden,), "w2": (hidden,)}
            bad = [k for k, shape in shapes.items() if arrays[k].shape != shape]
            if bad or hidden < 1 or not np.all(arrays["scale"] > 0):
                raise ValueError(f"weights of the wrong shape or scale: {bad or 'scale'}")
            weight = float(data["centrality_weight"])
            if not 0 <= weight <= 10:
                raise ValueError(f"centrality_weight {weight} is not in [0, 10]")
            return cls(**arrays, b2=float(data["b2"]), centrality_weight=weight, info=dict(data.get("info", {})))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleError(f"{origin}: not a sentence ranker this version reads ({exc}); rebuild with edge-sdk prepare text") from exc
