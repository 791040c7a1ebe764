"""Where a text student falls short of its teacher: held-out cosine per source document collection, and
cosine on sentences of each training folder (seen in training, so a gap between the two is memorisation).

The held-out sentences are the ones ``distill text`` scores (same split, seed and count); each is credited to
its document's collection (the id without its number: ``govreport-crs-leval``, ``pcd``, ``plos``...).
Several students joined with ``+`` are averaged weight by weight first.

    python benchmarks/distill/text_cosine_by_source.py .cache/distill/text-bf16-pub2/student \\
        --train-data .cache/distill/data/plos .cache/distill/data/sotu --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from edge_sdk.quantize.distill.data.corpus import corpus_sentences, read_documents, sentence_split
from edge_sdk.quantize.distill.students.text import TEACHER_MAX_TOKENS, TextDistillConfig, eval_sentences
from edge_sdk.quantize.distill.students.text_student import (
    Tokenize,
    embed_all,
    load_student_weights,
    load_teacher,
    make_student,
    packaged_teacher_dir,
)


def student(teacher, folders: str, keep_layers: tuple[int, ...]):
    """The student in ``folders`` (several joined with ``+``: their weights averaged)."""
    models = []
    for folder in folders.split("+"):
        m = make_student(teacher, keep_layers)
        load_student_weights(m, Path(folder))
        models.append(m)
    state = {k: sum(m.state_dict()[k] for m in models) / len(models) if v.is_floating_point() else v
             for k, v in models[0].state_dict().items()}
    models[0].load_state_dict(state)
    return models[0]


def cosines(model, tokenize, sentences: list[str], targets: torch.Tensor) -> np.ndarray:
    """Cosine of ``model``'s embeddings of ``sentences`` to the teacher's (``targets``)."""
    return (embed_all(model, tokenize, sentences) * targets).sum(-1).numpy()


def summary(values) -> dict:
    return {"n": len(values), "mean": round(float(np.mean(values)), 4), "p5": round(float(np.percentile(values, 5)), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("students", nargs="+", help="student folders (a run's student/ folder); a+b averages a and b")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data" / "text",
                    help="the documents split into training and held out (default: the shared text)")
    ap.add_argument("--train-data", nargs="*", type=Path, default=[], help="training folders to score, each on its own")
    ap.add_argument("--sentences", type=int, default=512, help="sentences scored per training folder")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cfg = TextDistillConfig()
    torch.manual_seed(0)
    split = sentence_split(read_documents([args.data]), cfg.held_out_percent)
    held = eval_sentences(split, cfg)
    source = {s: d.id.rsplit("-", 1)[0] for d in split.held_out_docs for s in corpus_sentences(d.text)}
    pools = {"shared training documents": list(split.train)}
    pools |= {str(p): list(sentence_split(read_documents([p]), 0).train) for p in args.train_data}
    pools = {name: random.Random(1).sample(s, min(args.sentences, len(s))) for name, s in pools.items()}
    tdir = packaged_teacher_dir()
    tokenize, teacher = Tokenize(tdir, TEACHER_MAX_TOKENS), load_teacher(tdir)
    targets = {name: embed_all(teacher, tokenize, s) for name, s in pools.items()} | {"held out": embed_all(teacher, tokenize, held)}
    report = {}
    for name in args.students:
        model = student(teacher, name, cfg.keep_layers)
        c = cosines(model, tokenize, held, targets["held out"])
        by_source = {}
        for sentence, value in zip(held, c, strict=True):
            by_source.setdefault(source[sentence], []).append(value)
        seen = {pool: summary(cosines(model, tokenize, s, targets[pool])) for pool, s in pools.items()}
        report[name] = {"held_out": summary(c), "held_out_by_source": {k: summary(v) for k, v in sorted(by_source.items())},
                        "training_sentences": seen}
        print(json.dumps({name: report[name]}, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
