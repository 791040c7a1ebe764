"""Distil the MiniLM sentence encoder into a student with half its layers.

from-teacher -> cut layers -> train on the teacher's sentence embeddings -> export (the text
engineer's :mod:`quantize.text.export`) -> int8 -> measure on held-out documents -> write the
``distilled`` and ``distilled-int8`` variants into the teacher's bundle with recipe and metrics.

Held-out sentences come only from held-out documents (see :mod:`quantize.distill.corpus`), so
cosine and summary ROUGE are measured on text the student never saw.
"""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from edge_sdk.bundle import load_bundle
from edge_sdk.errors import BundleNotFoundError, InvalidInputError
from quantize.bundle_writer import add_variant, recipe_hash
from quantize.distill import measure
from quantize.distill.corpus import read_documents, sentence_split, split_sentences
from quantize.distill.loop import Schedule, epoch_order, seed_everything, train
from quantize.distill.text_student import (
    Tokenize,
    embed_all,
    load_teacher,
    make_student,
    packaged_teacher_dir,
    sentence_embedding,
    teacher_dir_of,
)

log = logging.getLogger(__name__)

LOSSES = ("cosine", "mse", "cosine+mse")
# Tokenizer and sentence-transformers files copied next to the student weights so the folder is a
# complete model the text engineer's exporter (and sentence-transformers) can load.
_MODEL_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                "sentence_bert_config.json", "modules.json", "config_sentence_transformers.json")


@dataclass(frozen=True)
class TextDistillConfig:
    """What to distil and how.

    Attributes:
        teacher: Bundle (store name or folder) whose encoder is the teacher; the variants go into it.
        data: Folders or files of ``.jsonl`` / ``.txt`` documents; empty means the shared ``text/`` folder.
        keep_layers: Teacher layers the student keeps. (0, 3, 5) starts closest to the teacher
            (held-out cosine 0.66 before training, against 0.39 for (0, 2, 4)).
        max_tokens: Truncation length while training (sentences are short).
        held_out_percent: Share of documents held out for evaluation (by a hash of their id).
        eval_sentences: Held-out sentences scored at each evaluation step.
        loss: ``cosine`` (1 - cos of normalised embeddings), ``mse`` (of normalised embeddings,
            times the hidden size) or their sum.
        int8_format: ``u8s8`` or ``u8u8`` weights for the int8 variant (see the device profiles).
        rouge_docs: Held-out documents summarised for ROUGE (0 skips it).
        schedule: Steps, batch size, learning rate, cadence, seed.
    """

    teacher: str = "minilm-l6-extractive"
    data: tuple[str, ...] = ()
    keep_layers: tuple[int, ...] = (0, 3, 5)
    max_tokens: int = 128
    held_out_percent: int = 20
    eval_sentences: int = 512
    loss: str = "cosine"
    int8_format: str = "u8s8"
    rouge_docs: int = 33
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=900, batch_size=32, lr=2e-4, warmup_steps=40,
                                                                 eval_every=150, checkpoint_every=150))

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise InvalidInputError(f"loss {self.loss!r} is not one of {LOSSES}")
        if not 8 <= self.max_tokens <= 512:
            raise InvalidInputError(f"max_tokens must be in [8, 512], got {self.max_tokens}")
        if self.eval_sentences < 1:
            raise InvalidInputError(f"eval_sentences must be >= 1, got {self.eval_sentences}")


def _loss(kind: str, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    cos = 1.0 - (student * teacher).sum(-1).mean()
    mse = torch.nn.functional.mse_loss(student, teacher) * student.shape[-1]
    return {"cosine": cos, "mse": mse, "cosine+mse": cos + mse}[kind]


def _save_student(student: torch.nn.Module, teacher_dir: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    student.save_pretrained(str(out), safe_serialization=True)
    for name in _MODEL_FILES:
        if (teacher_dir / name).is_file():
            shutil.copyfile(teacher_dir / name, out / name)
    if (teacher_dir / "1_Pooling").is_dir():
        shutil.copytree(teacher_dir / "1_Pooling", out / "1_Pooling", dirs_exist_ok=True)
    return out


def _feeds(sess, ids: np.ndarray, mask: np.ndarray) -> dict:
    names = {i.name for i in sess.get_inputs()}
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return {k: v for k, v in feeds.items() if k in names}


def onnx_embed(sess, tokenize: Tokenize, sentences: list[str], batch_size: int = 64) -> np.ndarray:
    """Embeddings of ``sentences`` from an exported encoder session (output ``sentence_embedding``)."""
    out = []
    for start in range(0, len(sentences), batch_size):
        ids, mask = tokenize(sentences[start : start + batch_size])
        out.append(sess.run(None, _feeds(sess, ids.numpy(), mask.numpy()))[0])
    return np.concatenate(out)


def _rouge(bundle: str, variant: str, docs) -> float | None:
    """Mean ROUGE-1 F (x100) of the text engineer's summarizer on ``docs``, or None if it is not there."""
    try:
        from rouge_score import rouge_scorer

        from edge_sdk.text import Summarizer, SummarizerOptions
    except ImportError as exc:
        log.warning("summary ROUGE skipped: %s", exc)
        return None
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    with Summarizer.create(SummarizerOptions(bundle=bundle, variant=variant)) as summarizer:
        scores = []
        for d in docs:
            summary = summarizer.summarize(d.text)
            text = getattr(summary, "text", summary if isinstance(summary, str) else " ".join(map(str, summary)))
            scores.append(scorer.score(d.reference, text)["rouge1"].fmeasure)
    return round(100 * float(np.mean(scores)), 3)


def distill_text(cfg: TextDistillConfig, workdir: Path, data_root: Path | None = None, write: bool = True) -> dict:
    """Train, export, measure and (when ``write``) ship the text student; return the report.

    Args:
        cfg: The run's configuration.
        workdir: Checkpoints, metrics log, the student's HF folder and its ONNX files.
        data_root: The shared data folder, used when ``cfg.data`` is empty.
        write: Add ``distilled`` and ``distilled-int8`` to the teacher bundle.

    Returns:
        ``{"recipe": ..., "metrics": {...}, "variants": [...]}``.
    """
    from quantize.text.export import export_sentence_encoder, optimize_bert, quantize_int8

    workdir = Path(workdir)
    seed_everything(cfg.schedule.seed)
    try:
        bundle = load_bundle(cfg.teacher)
    except BundleNotFoundError:
        if write:
            raise
        bundle = None  # train only; a later run resumes from the checkpoint and ships
    tdir = teacher_dir_of(bundle.source) if bundle else packaged_teacher_dir()
    data = [Path(p) for p in cfg.data] or [Path(data_root or ".") / "text"]
    split = sentence_split(read_documents(data), cfg.held_out_percent)
    rng = random.Random(cfg.schedule.seed)
    eval_sents = sorted(rng.sample(list(split.held_out), min(cfg.eval_sentences, len(split.held_out))))
    log.info("text: %d training sentences, %d held-out documents, %d eval sentences",
             len(split.train), len(split.held_out_docs), len(eval_sents))

    tokenize = Tokenize(tdir, cfg.max_tokens)
    teacher = load_teacher(tdir)
    recipe = {
        "kind": "distillation", "student": f"MiniLM, teacher layers {list(cfg.keep_layers)} of {len(teacher.encoder.layer)}",
        "teacher": {"bundle": cfg.teacher, "weights": str(tdir)}, "config": asdict(cfg),
        "data": {"sources": [str(p) for p in data], "train_sentences": len(split.train),
                 "train_documents": len(split.train_doc_ids), "held_out_documents": [d.id for d in split.held_out_docs],
                 "split": f"document held out when crc32(id) % 100 < {cfg.held_out_percent}"},
        "objective": f"{cfg.loss} between student and teacher mean-pooled, L2-normalised sentence embeddings",
    }
    rhash = recipe_hash(recipe)
    targets_path = workdir / f"teacher-targets-{rhash}.pt"
    if targets_path.is_file():
        targets = torch.load(targets_path)
    else:
        log.info("embedding %d sentences with the teacher", len(split.train) + len(eval_sents))
        targets = {"train": embed_all(teacher, tokenize, list(split.train)), "eval": embed_all(teacher, tokenize, eval_sents)}
        workdir.mkdir(parents=True, exist_ok=True)
        torch.save(targets, targets_path)

    student = make_student(teacher, cfg.keep_layers)
    train_sents = list(split.train)

    def loss_of_batch(step: int) -> torch.Tensor:
        idx = epoch_order(len(train_sents), step, cfg.schedule.batch_size, cfg.schedule.seed)
        ids, mask = tokenize([train_sents[i] for i in idx])
        return _loss(cfg.loss, sentence_embedding(student, ids, mask), targets["train"][idx])

    def evaluate() -> dict:
        emb = embed_all(student, tokenize, eval_sents)
        return {"eval_cosine": float((emb * targets["eval"]).sum(-1).mean())}

    run = train(student, loss_of_batch, evaluate, cfg.schedule, workdir, rhash, desc="distill text")
    report = {"recipe": recipe, "training": {"steps": run.step, "train_time_s": round(run.train_time_s, 1),
                                              "resumed_from": run.resumed_from, "evals": run.evals,
                                              "first_loss": run.losses[0] if run.losses else None,
                                              "last_loss": float(np.mean(run.losses[-20:])) if run.losses else None,
                                              "device": "cpu", "torch_threads": torch.get_num_threads()}}

    sdir = _save_student(student, tdir, workdir / "student")
    if bundle is None:
        log.warning("bundle %r not found: trained only; build it ('edge-sdk prepare text') and rerun to ship", cfg.teacher)
        return report
    onnx_dir = workdir / "onnx"
    raw = export_sentence_encoder(sdir, onnx_dir / "raw.onnx")
    heads, hidden = student.config.num_attention_heads, student.config.hidden_size
    fp32 = optimize_bert(raw, onnx_dir / "model.onnx", heads, hidden)
    int8_dir = onnx_dir / "int8"
    int8_dir.mkdir(parents=True, exist_ok=True)
    int8 = int8_dir / "model.onnx"
    int8_recipe = quantize_int8(fp32, int8, cfg.int8_format)
    report["metrics"] = _measure(bundle, tokenize, eval_sents, targets["eval"].numpy(), split.held_out_docs, fp32, int8)
    if write:
        role = _encoder_role(bundle)
        add_variant(bundle.root, "distilled", {role: fp32}, report["metrics"]["distilled"], recipe)
        add_variant(bundle.root, "distilled-int8", {role: int8}, report["metrics"]["distilled-int8"],
                    {**recipe, "int8": int8_recipe})
        for teacher_v, student_v in (("fp32", "distilled"), ("int8", "distilled-int8")):
            rouge_t = _rouge(str(bundle.root), teacher_v, split.held_out_docs[: cfg.rouge_docs]) if cfg.rouge_docs else None
            rouge_s = _rouge(str(bundle.root), student_v, split.held_out_docs[: cfg.rouge_docs]) if cfg.rouge_docs else None
            if rouge_s is not None:
                m = report["metrics"][student_v]
                m.update({"rouge1": rouge_s, "teacher_rouge1": rouge_t, "rouge_documents": len(split.held_out_docs[: cfg.rouge_docs])})
                files = {student_v: fp32, "distilled-int8": int8}
                add_variant(bundle.root, student_v, {role: files[student_v]}, m,
                            recipe if student_v == "distilled" else {**recipe, "int8": int8_recipe})
        report["variants"] = ["distilled", "distilled-int8"]
    return report


def _encoder_role(bundle) -> str:
    """The file role of the encoder in the teacher's fp32 variant (the student replaces it)."""
    roles = [r for r, f in bundle.variants["fp32"].files.items() if f.path.endswith(".onnx")]
    if len(roles) != 1:
        raise InvalidInputError(f"bundle {bundle.name!r} fp32 has ONNX roles {roles}; expected exactly one encoder")
    return roles[0]


def _measure(bundle, tokenize, eval_sents, teacher_eval, docs, fp32: Path, int8: Path) -> dict:
    """Cosine to the teacher and side-by-side encoder speed, fp32 vs fp32 and int8 vs int8."""
    role = _encoder_role(bundle)
    paths = {"teacher-fp32": bundle.path_of(bundle.variants["fp32"].files[role]), "distilled": fp32, "distilled-int8": int8}
    if "int8" in bundle.variants:
        paths["teacher-int8"] = bundle.path_of(bundle.variants["int8"].files[role])
    sessions = {name: measure.session(p) for name, p in paths.items()}
    emb = {name: onnx_embed(s, tokenize, eval_sents) for name, s in sessions.items()}
    # one document's sentences per call, the summarizer's unit of work
    doc_sents = [s for d in docs[:3] for s in split_sentences(d.text)][:96]
    timings = measure.side_by_side_ms({n: (lambda s=s: onnx_embed(s, tokenize, doc_sents)) for n, s in sessions.items()})
    out = {}
    for student, teacher in (("distilled", "teacher-fp32"), ("distilled-int8", "teacher-int8")):
        if teacher not in sessions:
            continue
        cos_t = (emb[student] * teacher_eval).sum(-1)
        out[student] = {
            "eval_cosine_to_teacher_fp32": round(float(cos_t.mean()), 4),
            "eval_cosine_to_teacher_p5": round(float(np.percentile(cos_t, 5)), 4),
            "eval_sentences": len(eval_sents),
            "encoder_ms_96_sentences": timings[student]["median_ms"],
            "teacher_encoder_ms_96_sentences": timings[teacher]["median_ms"],
            "encoder_speedup_vs_" + teacher.replace("teacher-", "teacher_"): measure.speedup(timings, teacher, student),
            "size_mb": measure.file_mb(paths[student]), "teacher_size_mb": measure.file_mb(paths[teacher]),
            "eval_data": "held-out documents of the shared text corpus (document-level split)",
        }
    return out
