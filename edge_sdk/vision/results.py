"""Result and event dataclasses of the vision tasks (units in field names)."""

from __future__ import annotations

from dataclasses import dataclass

from edge_sdk.task import CarriesProvenance


@dataclass(frozen=True)
class Category:
    """One class of a result: ImageNet index, label, and probability (softmax, or smoothed)."""

    index: int
    label: str
    score: float


@dataclass(frozen=True)
class LabelChange:
    """The smoothed top label changed (only with ``smoothing_factor`` set)."""

    timestamp_ms: int | None
    previous: Category | None
    current: Category


@dataclass(frozen=True)
class ClassificationResult(CarriesProvenance):
    """Top-k categories of one image or frame, what produced them, and where the time went.

    ``categories`` holds raw softmax scores, or the exponential moving average of them when the
    classifier smooths (``smoothed`` is then True). ``scores_sum`` is the sum over all classes of
    the scores the categories were taken from (1.0 up to float rounding).

    Provenance, named as in speech and text results: ``bundle``, ``variant``, ``providers`` (the
    onnxruntime providers really used) and ``fallback`` (the provider fallback the device profile
    allowed and took, or None).
    """

    categories: tuple[Category, ...]
    timestamp_ms: int | None
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    variant: str
    providers: tuple[str, ...]
    fallback: str | None
    bundle: str
    scores_sum: float
    smoothed: bool = False
    label_change: LabelChange | None = None

    @property
    def latency_ms(self) -> float:
        """Preprocess + inference + postprocess."""
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms

    @property
    def top(self) -> Category:
        return self.categories[0]

    def to_dict(self) -> dict:
        return {
            "categories": [c.__dict__ for c in self.categories],
            "timestamp_ms": self.timestamp_ms,
            "latency_ms": round(self.latency_ms, 3),
            "preprocess_ms": round(self.preprocess_ms, 3),
            "inference_ms": round(self.inference_ms, 3),
            "postprocess_ms": round(self.postprocess_ms, 3),
            "variant": self.variant,
            "providers": list(self.providers),
            "fallback": self.fallback,
            "bundle": self.bundle,
            "smoothed": self.smoothed,
            "label_change": None if self.label_change is None else {
                "previous": None if self.label_change.previous is None else self.label_change.previous.label,
                "current": self.label_change.current.label,
            },
        }
