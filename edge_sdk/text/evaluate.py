"""ROUGE evaluation of summarizers against reference summaries, with Lead-N beside them.

Scores are rouge-score F-measures in percent with Porter stemming; ``rougeLsum`` treats each
summary sentence as a line, as the rouge-score package expects.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import BundleNotFoundError, InvalidInputError, require
from edge_sdk.manifest import read_utf8_lines
from edge_sdk.text.segment import split_sentences

log = logging.getLogger(__name__)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")


@dataclass(frozen=True)
class Record:
    """One document with its human reference summary."""

    id: str
    article: str
    reference: str


def load_jsonl(path: Path | str, limit: int | None = None) -> list[Record]:
    """Records with ``article`` and ``reference`` fields, one JSON object per line.

    Raises:
        BundleNotFoundError: The file does not exist.
        InvalidInputError: A line is not JSON or lacks ``article``/``reference``.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleNotFoundError(f"no such file {path}; give a JSONL file with 'article' and 'reference' fields")
    out = []
    for n, line in enumerate(read_utf8_lines(path), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidInputError(f"{path}:{n}: not JSON ({exc})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("article"), str) or not isinstance(obj.get("reference"), str):
            raise InvalidInputError(f"{path}:{n}: expected a JSON object with string fields 'article' and 'reference'")
        out.append(Record(str(obj.get("id", n)), obj["article"], obj["reference"]))
        if limit and len(out) >= limit:
            break
    return out


def lead(text: str, n: int = 3) -> list[str]:
    """The first ``n`` sentences of ``text`` (headings skipped): the Lead-N baseline."""
    return [s.text for s in split_sentences(text) if not s.heading][:n]


def oracle(texts: list[str], reference: str, scorer, most: int) -> list[int]:
    """Greedy ROUGE oracle: indexes into ``texts`` added one at a time while ROUGE-1 + ROUGE-2 F against ``reference``
    grows, at most ``most``, in document order (``scorer``: a rouge-score ``RougeScorer`` with both types)."""
    chosen: list[int] = []
    best = 0.0
    for _ in range(most):
        gains = np.full(len(texts), -1.0)
        for j in range(len(texts)):
            if j not in chosen:
                r = scorer.score(reference, "\n".join(texts[k] for k in sorted([*chosen, j])))
                gains[j] = r["rouge1"].fmeasure + r["rouge2"].fmeasure
        if not len(texts) or gains.max() <= best:
            break
        best = float(gains.max())
        chosen.append(int(gains.argmax()))
    return sorted(chosen)


def oracle_summaries(summarizer, records: list[Record], sentences: int) -> list[list[str]]:
    """The greedy oracle of at most ``sentences`` of each record's candidate sentences: the upper bound of selection."""
    scorer = require("rouge_score.rouge_scorer", "eval").RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
    out = []
    for rec in records:
        sents, _, cands, _ = summarizer.candidates(rec.article)
        texts = [sents[i].text for i in cands]
        out.append([texts[j] for j in oracle(texts, rec.reference, scorer, sentences)])
    return out


def rouge(references: list[str], summaries: list[list[str]]) -> dict[str, float]:
    """Mean ROUGE F-measures in percent; each summary is a list of sentences.

    Raises:
        MissingDependencyError: ``rouge-score`` is not installed.
    """
    scoring = require("rouge_score.rouge_scorer", "eval")
    scorer = scoring.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    rows = []
    for ref, sents in zip(references, summaries, strict=False):
        ref_lines = "\n".join(s.text for s in split_sentences(ref))
        scores = scorer.score(ref_lines, "\n".join(sents))
        rows.append([scores[t].fmeasure * 100 for t in ROUGE_TYPES])
    means = np.mean(rows, axis=0) if rows else np.zeros(len(ROUGE_TYPES))
    return {t: round(float(v), 2) for t, v in zip(ROUGE_TYPES, means, strict=False)}


def evaluate(summarizer, records: list[Record], sentences: int = 3, baselines: bool = True) -> dict:
    """ROUGE of ``summarizer`` and, with ``baselines``, of Lead-N (same N) and the greedy oracle on ``records``, in one
    run (the baselines do not depend on the variant: a second variant on the same records can skip them).

    Returns:
        ``{"rouge1", "rouge2", "rougeLsum", "n", "variant", "sentences", "lead3": {...}, "oracle": {...}, "elapsed_s"}``;
        the ``lead3`` key holds Lead-N for N = ``sentences``, ``oracle`` the greedy oracle of at most N sentences.
    """
    import time

    started = time.perf_counter()
    hyps = []
    for i, rec in enumerate(records, 1):
        hyps.append([s.text for s in summarizer.summarize(rec.article, sentences=sentences).sentences])
        if i % 20 == 0:
            log.info("evaluated %d/%d documents", i, len(records))
    elapsed = time.perf_counter() - started
    refs = [r.reference for r in records]
    model = getattr(summarizer, "model", None)
    return {
        **rouge(refs, hyps),
        "n": len(records),
        "variant": model.variant.name if model else None,
        "sentences": sentences,
        **({"lead3": rouge(refs, [lead(r.article, sentences) for r in records]),
            "oracle": rouge(refs, oracle_summaries(summarizer, records, sentences))} if baselines else {}),
        "elapsed_s": round(elapsed, 2),
    }
