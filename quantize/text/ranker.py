"""Train the extractive summarizer's sentence ranker on documents with human summaries.

``python -m edge_sdk.quantize.text.ranker --train FILE [FILE ...] --out quantize/text/ranker.json``

Each training document is segmented and embedded exactly as the summarizer does it (the default text bundle's int8
encoder), and its candidate sentences get the features of :mod:`edge_sdk.text.ranker`. Labels are the greedy ROUGE
oracle: sentences added one at a time while ROUGE-1 + ROUGE-2 F against the reference still grows (at most five).
The network (one hidden layer) is fitted with Adam on a class-weighted logistic loss, seeded, in numpy. A file may be
given as ``PATH[START::STEP]`` to take every STEP-th record from START (the rest stays held out).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from pathlib import Path

import numpy as np

from edge_sdk.errors import require
from edge_sdk.text.evaluate import oracle
from edge_sdk.text.rank import centrality
from edge_sdk.text.ranker import Candidates, Ranker, features

log = logging.getLogger(__name__)

ORACLE_SENTENCES = 5
HIDDEN, EPOCHS, LEARNING_RATE, L2, SEED = 16, 400, 0.01, 1e-4, 0
# Chosen on held-out validation data: fitted on CNN/DailyMail validation[:500] + the even reports, scored on
# validation[500:] + the even reports (benchmarks/experiments/text-ranker/README.md): mean ROUGE-1 35.31 at 0,
# 35.77 at 0.3, 35.38 at 1.0.
CENTRALITY_WEIGHT = 0.3


def parse_source(spec: str) -> tuple[Path, slice]:
    """``PATH`` or ``PATH[START::STEP]`` -> (path, slice of its records)."""
    m = re.fullmatch(r"(.+?)\[(\d*)::(\d+)\]", spec)
    if not m:
        return Path(spec), slice(None)
    return Path(m.group(1)), slice(int(m.group(2) or 0), None, int(m.group(3)))


def document_rows(summarizer, article: str) -> tuple[np.ndarray, list[str]]:
    """(features of the candidate sentences, their texts) of one document, as the summarizer's final choice sees it."""
    sents, words, cands, starts = summarizer.candidates(article)
    texts = [sents[i].text for i in cands]
    emb = summarizer.encoder.embed(texts)
    c = Candidates(np.array(cands), np.arange(len(cands)), starts[cands], np.array([words[i] for i in cands]))
    return features(c, centrality(emb, emb.sum(0)), len(sents), len(cands)), texts


def labelled_rows(summarizer, records, scorer) -> tuple[np.ndarray, np.ndarray]:
    """Features and oracle labels of every candidate sentence of ``records``."""
    xs, ys = [], []
    for n, rec in enumerate(records, 1):
        x, texts = document_rows(summarizer, rec.article)
        y = np.zeros(len(x), np.float32)
        y[oracle(texts, rec.reference, scorer, ORACLE_SENTENCES)] = 1.0
        xs.append(x)
        ys.append(y)
        if n % 100 == 0:
            log.info("labelled %d/%d documents", n, len(records))
    return np.concatenate(xs), np.concatenate(ys)


def fit(x: np.ndarray, y: np.ndarray, info: dict, hidden: int = HIDDEN, epochs: int = EPOCHS, lr: float = LEARNING_RATE,
        l2: float = L2, seed: int = SEED, centrality_weight: float = CENTRALITY_WEIGHT) -> Ranker:
    """A :class:`Ranker` fitted by full-batch Adam on the class-weighted logistic loss."""
    rng = np.random.default_rng(seed)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    params = [rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], hidden)), np.zeros(hidden),
              rng.normal(0, 1 / np.sqrt(hidden), hidden), np.zeros(1)]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    weight = np.where(y > 0, (1 - y.mean()) / max(y.mean(), 1e-9), 1.0)
    weight /= weight.mean() * len(y)
    for t in range(1, epochs + 1):
        h = np.maximum(z @ params[0] + params[1], 0)
        g = (1 / (1 + np.exp(-(h @ params[2] + params[3][0]))) - y) * weight
        gh = np.outer(g, params[2]) * (h > 0)
        grads = [z.T @ gh + l2 * params[0], gh.sum(0), h.T @ g + l2 * params[2], np.array([g.sum()])]
        for i, grad in enumerate(grads):
            m, v = moments[i]
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad * grad
            params[i] -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return Ranker(mean, scale, params[0], params[1], params[2], float(params[3][0]), centrality_weight,
                  {**info, "hidden": hidden, "epochs": epochs, "learning_rate": lr, "l2": l2, "seed": seed})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.text.evaluate import load_jsonl
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    ap = argparse.ArgumentParser(prog="python -m edge_sdk.quantize.text.ranker", description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="JSONL files with 'article' and 'reference' (PATH[START::STEP] allowed)")
    ap.add_argument("--variant", default="int8", help="encoder variant that embeds the training sentences")
    ap.add_argument("--centrality-weight", type=float, default=CENTRALITY_WEIGHT, help=f"default {CENTRALITY_WEIGHT}")
    ap.add_argument("--out", required=True, help="where to write the ranker JSON")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    scorer = require("rouge_score.rouge_scorer", "eval").RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
    sources, rows = [], []
    with Summarizer.create(SummarizerOptions(variant=args.variant)) as summarizer:
        for spec in args.train:
            path, part = parse_source(spec)
            records = load_jsonl(path)[part]
            log.info("%s: %d documents", spec, len(records))
            rows.append(labelled_rows(summarizer, records, scorer))
            sources.append({"file": path.name, "records": spec[len(str(path)):] or "all", "documents": len(records),
                            "sha256": _sha256(path)})
    x, y = np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    info = {"trained_on": sources, "sentences": len(y), "oracle_positive": int(y.sum()), "encoder_variant": args.variant}
    Path(args.out).write_text(fit(x, y, info, centrality_weight=args.centrality_weight).to_json(), encoding="utf-8")
    log.info("wrote %s (%d sentences, %d oracle picks)", args.out, len(y), int(y.sum()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
