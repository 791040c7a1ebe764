"""Quality gate of the int8 sentence encoder against fp32 on the shared texts.

Both encoders summarize every document of the gate set; the embeddings they produce along the
way give the cosine figure, and the summaries give ROUGE, so one pass per variant measures both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import QualityGateError
from edge_sdk.text.encoder import SentenceEncoder
from edge_sdk.text.evaluate import Record, lead, rouge
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

log = logging.getLogger(__name__)

MIN_COSINE = 0.99
MAX_ROUGE1_DROP = 0.3


@dataclass(frozen=True)
class GateResult:
    """What one variant measured on the gate set."""

    rouge: dict
    embeddings: np.ndarray  # every embedded sentence, in a fixed order
    seconds: float


class _Recording(SentenceEncoder):
    """A SentenceEncoder that keeps what it embedded (gate runs only)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[np.ndarray] = []

    def embed(self, texts):
        out = super().embed(texts)
        self.seen.append(out)
        return out


def measure(session, tokenizer_json: bytes, max_tokens: int, records: list[Record], sentences: int = 3, label: str = "",
            ranker=None) -> GateResult:
    """Summarize ``records`` with one encoder session (and the bundle's sentence ranker); return ROUGE and every
    embedding."""
    import time

    from tqdm import tqdm

    enc = _Recording(session, tokenizer_json, max_tokens)
    summarizer = Summarizer(SummarizerOptions(), enc, ranker=ranker)
    started = time.perf_counter()
    hyps = []
    for rec in tqdm(records, desc=f"gate {label}", unit="doc", leave=False):
        hyps.append([s.text for s in summarizer.summarize(rec.article, sentences=sentences).sentences])
    seconds = time.perf_counter() - started
    return GateResult(rouge([r.reference for r in records], hyps), np.concatenate(enc.seen), seconds)


def lead_rouge(records: list[Record], sentences: int = 3) -> dict:
    """Lead-N ROUGE on the gate set, for the bundle's metrics."""
    return rouge([r.reference for r in records], [lead(r.article, sentences) for r in records])


def compare(reference: GateResult, candidate: GateResult, min_cosine: float = MIN_COSINE, max_rouge1_drop: float = MAX_ROUGE1_DROP) -> dict:
    """Gate figures of ``candidate`` against ``reference`` and whether it passes."""
    cos = np.sum(reference.embeddings * candidate.embeddings, axis=1)
    drop = reference.rouge["rouge1"] - candidate.rouge["rouge1"]
    return {
        "cosine_mean": round(float(cos.mean()), 5),
        "cosine_min": round(float(cos.min()), 5),
        "rouge1_drop": round(float(drop), 3),
        "passed": bool(cos.mean() >= min_cosine and drop <= max_rouge1_drop),
        "thresholds": {"cosine_mean_min": min_cosine, "rouge1_drop_max": max_rouge1_drop},
    }


def first_passing(attempts, run):
    """Run ``run(op_types, label) -> (path, recipe, result, verdict)`` per attempt until one passes.

    Returns:
        ``(path, recipe, result, verdict, label)`` of the first passing attempt.

    Raises:
        QualityGateError: No attempt passed; the message lists every attempt and its figures.
    """
    tried = []
    for op_types, label in attempts:
        path, recipe, result, verdict = run(op_types, label)
        log.info("int8 %s: %s", label, verdict)
        if verdict["passed"]:
            return path, recipe, result, verdict, label
        tried.append(f"{label} ({recipe.get('weight_type')} per-channel): cosine_mean {verdict['cosine_mean']}, "
                     f"rouge1_drop {verdict['rouge1_drop']}")
    limits = verdict["thresholds"] if attempts else {}
    raise QualityGateError(
        f"int8 refused: no attempt met the gate (cosine_mean >= {limits.get('cosine_mean_min')}, rouge1 drop <= "
        f"{limits.get('rouge1_drop_max')} points); tried {'; '.join(tried)}. The bundle keeps fp32/fp16 only"
    )


def gate_data(path: Path | None = None) -> Path | None:
    """The gate texts: ``path``, else ``summaries.jsonl`` of the data folder (:func:`edge_sdk.datasets.data_dir`);
    None when neither exists."""
    from edge_sdk.datasets import data_dir
    from edge_sdk.errors import InvalidInputError

    if path:
        return Path(path) if Path(path).is_file() else None
    try:
        candidate = data_dir() / "text" / "summaries.jsonl"
    except InvalidInputError:
        return None
    return candidate if candidate.is_file() else None
