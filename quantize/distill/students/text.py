"""Distil the MiniLM sentence encoder into a student with half its layers.

from-teacher -> cut layers -> train on the teacher's sentence embeddings -> export (the text
engineer's :mod:`edge_sdk.quantize.text.export`) -> int8 -> measure on held-out documents -> write the
``distilled`` and ``distilled-int8`` variants into the teacher's bundle with recipe and metrics.

Held-out sentences come only from held-out documents (see :mod:`edge_sdk.quantize.distill.data.corpus`), so
cosine and summary ROUGE are measured on text the student never saw.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from edge_sdk.bundle import load_bundle
from edge_sdk.errors import BundleNotFoundError, InvalidInputError
from edge_sdk.quantize.bundle_writer import scratch_copy
from edge_sdk.quantize.distill.data.corpus import SentenceSplit, augment, corpus_sentences, read_documents, sentence_split
from edge_sdk.quantize.distill.ship import measure
from edge_sdk.quantize.distill.ship.refusal import write_or_refuse
from edge_sdk.quantize.distill.students.text_student import (
    TEACHER_PACKAGE,
    Tokenize,
    embed_all,
    freeze_token_embeddings,
    hidden_state_loss,
    layer_targets,
    load_student_weights,
    load_teacher,
    make_student,
    mean_pool,
    packaged_teacher_dir,
    teacher_dir_of,
)
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.distill.training.loop import Schedule, bucketed_batch, resume_key, seed_everything, train

log = logging.getLogger(__name__)

LOSSES = ("cosine", "mse", "cosine+mse", "cosine+hidden")
TEACHER_MAX_TOKENS = 128
SHIP_ONLY = ("int8_format", "rouge_docs", "speed_sentences", "speed_rounds", "gate")
# News the gate summarizes and training never reads (BBC News Summary, CC0; data/text/MANIFEST.md).
NEWS_FILE = "news_bbc.jsonl"
MAX_ROUGE1_LOSS = 0.5  # points of ROUGE-1 below the teacher's fp32, on the held-out reports and on the news
# A student must cost less than the default it would replace: this much faster end to end (a whole document), or this much smaller.
MIN_DOCUMENT_SPEEDUP, MIN_SIZE_RATIO = 1.5, 2.0
DOCUMENT_ROUNDS = 9  # interleaved rounds of the end-to-end timing, whose median ratio the cost gate reads
# The gate's figures, first in a variant's metrics (what ``edge-sdk bundles`` shows first).
HEADLINE = ("rouge1_delta_vs_teacher", "news_rouge1_delta_vs_teacher", "document_speedup", "size_ratio", "eval_cosine_to_teacher_fp32")
# Tokenizer and sentence-transformers files copied next to the student weights so the folder is a
# complete model the text engineer's exporter (and sentence-transformers) can load.
_MODEL_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                "sentence_bert_config.json", "modules.json", "config_sentence_transformers.json")


@dataclass(frozen=True)
class TextDistillConfig:
    """What to distil and how.

    Attributes:
        teacher: Bundle (store name or folder) whose encoder is the teacher; the variants go into it.
        data: Folders or files of ``.jsonl`` / ``.txt`` / ``.xml`` documents, split by id into training and
            held-out documents; empty means the shared ``text/`` folder but its news (:data:`NEWS_FILE`), which
            the gate summarizes and training never reads.
        train_data: More documents, trained on only (never evaluated); one whose id is also in ``data``
            is skipped. ``python -m edge_sdk.quantize.distill.data.jats DIR`` fetches PLOS's starter corpus (121 CC BY / CC0 articles kept).
        keep_layers: Teacher layers the student keeps. (0, 3, 5) starts closest to the teacher
            (held-out cosine 0.66 before training, against 0.39 for (0, 2, 4)).
        max_tokens: Truncation while training, for student and teacher alike (the median sentence has
            33 tokens, 7 % have more than 64). Evaluation always uses 128.
        held_out_percent: Share of documents held out for evaluation (by a hash of their id).
        augment_share: Share of each batch replaced by an augmented sentence (a span, or words dropped;
            :func:`edge_sdk.quantize.distill.data.corpus.augment`), labelled by the teacher on the fly.
        eval_sentences: Held-out sentences scored at each evaluation step.
        loss: ``cosine`` (1 - cos of normalised embeddings), ``mse`` (of normalised embeddings,
            times the hidden size), their sum, or ``cosine+hidden``: cosine plus each student layer's
            token states against the teacher layer it stands for (3 of 6: layers 2, 4, 6), which
            reached a held-out cosine of 0.882 in 150 steps against 0.876 for cosine alone.
        int8_format: ``u8s8`` or ``u8u8`` weights for the int8 variant (see the device profiles).
        rouge_docs: Held-out documents summarised for ROUGE (0 skips it).
        speed_sentences: Held-out sentences encoded per timed call (one document's worth).
        speed_rounds: Timed rounds of the side-by-side speed measurement.
        gate: Refuse (do not write) a variant below the quality budget: summary ROUGE-1 >= the teacher's
            fp32 - 0.5 on the held-out reports and on the news. Cosine to the teacher and speed are reported.
        freeze_embeddings: Keep the teacher's token embeddings as they are (they are 11.7M of the student's
            17M weights): a token the training text never holds then keeps the meaning the teacher's layers expect.
        init_from: A previous run's work folder (or its ``student`` folder) whose weights the student starts
            from instead of the teacher's layers: a longer run in stages, each with its own schedule.
        schedule: Steps, batch size, learning rate, cadence, seed.
    """

    teacher: str = "minilm-l6-extractive"
    data: tuple[str, ...] = ()
    train_data: tuple[str, ...] = ()
    keep_layers: tuple[int, ...] = (0, 3, 5)
    max_tokens: int = TEACHER_MAX_TOKENS
    held_out_percent: int = 20
    augment_share: float = 0.5
    eval_sentences: int = 512
    loss: str = "cosine+hidden"
    int8_format: str = "u8s8"
    rouge_docs: int = 16
    speed_sentences: int = 96
    speed_rounds: int = 5
    gate: bool = True
    freeze_embeddings: bool = False
    init_from: str = ""
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=1500, batch_size=64, lr=3e-4, warmup_steps=30,
                                                                 eval_every=100, checkpoint_every=100))

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise InvalidInputError(f"loss {self.loss!r} is not one of {LOSSES}")
        if not 8 <= self.max_tokens <= 512:
            raise InvalidInputError(f"max_tokens must be in [8, 512], got {self.max_tokens}")
        if not 0 <= self.augment_share <= 1:
            raise InvalidInputError(f"augment_share must be in [0, 1], got {self.augment_share}")
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


def held_out_rouge(bundle_root: Path, variant: str, docs) -> dict:
    """ROUGE (percent) of the text engineer's summarizer with ``variant`` on held-out ``docs`` (3 sentences)."""
    from edge_sdk.text.evaluate import Record, evaluate
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    records = [Record(d.id, d.text, d.reference) for d in docs if d.reference]
    with Summarizer.create(SummarizerOptions(bundle=str(bundle_root), variant=variant)) as summarizer:
        out = evaluate(summarizer, records, sentences=3)
    return {k: out[k] for k in ("rouge1", "rouge2", "rougeLsum", "n")}


def eval_sentences(split: SentenceSplit, cfg: TextDistillConfig) -> list[str]:
    """The held-out sentences a run scores: ``cfg.eval_sentences`` of them, drawn with the run's seed, sorted."""
    rng = random.Random(cfg.schedule.seed)
    return sorted(rng.sample(list(split.held_out), min(cfg.eval_sentences, len(split.held_out))))


def _training_documents(text: Path) -> list[Path]:
    """The document files of the shared ``text`` folder but the news the gate keeps for itself."""
    if not text.is_dir():
        return [text]  # read_documents says it does not exist
    return sorted(p for p in text.iterdir() if p.suffix in (".jsonl", ".txt", ".xml") and p.name != NEWS_FILE)


def _text_student(cfg: TextDistillConfig, teacher: torch.nn.Module) -> torch.nn.Module:
    """The student cut from ``teacher`` (``cfg.keep_layers``), started from ``cfg.init_from`` when given."""
    student = make_student(teacher, cfg.keep_layers)
    if cfg.init_from:
        load_student_weights(student, Path(cfg.init_from))
    if cfg.freeze_embeddings:
        freeze_token_embeddings(student)
    return student


def _ship_text(cfg: TextDistillConfig, bundle, sdir: Path, workdir: Path, report: dict, ev: _EvalSet, write: bool) -> dict:
    """Export the trained student at ``sdir`` to fp32 and int8 ONNX, measure both against the teacher and
    (when ``write``) add them to ``bundle`` unless refused; return ``report`` with metrics and variants."""
    from edge_sdk.quantize.text.export import export_sentence_encoder

    recipe = report["recipe"]
    # exported and quantized exactly as the teacher's variants were, so the comparison is like for like
    fp32 = export_sentence_encoder(sdir, workdir / "onnx" / "fp32" / "encoder.onnx")
    role = _encoder_role(bundle)
    int8, int8_recipe, teacher_int8 = _int8_like_teacher(bundle, fp32, workdir, cfg.int8_format)
    docs = ev.split.held_out_docs
    metrics = _measure(bundle, ev.tokenize, ev.eval_sents, ev.teacher_eval, docs, fp32, int8, teacher_int8, cfg)
    files = {"distilled": fp32, "distilled-int8": int8}
    recipes = {"distilled": recipe, "distilled-int8": {**recipe, "int8": int8_recipe}}
    eval_root = scratch_copy(bundle.root, workdir / "eval-bundle", {name: {role: path} for name, path in {**files, "int8": teacher_int8}.items()})
    _add_document_speed(metrics, eval_root, sorted(docs, key=lambda d: len(d.text))[len(docs) // 2],
                        max(cfg.speed_rounds, DOCUMENT_ROUNDS))
    if cfg.rouge_docs:
        _add_rouge(metrics, eval_root, {"": docs[: cfg.rouge_docs], "news_": list(ev.news)})
    refused = _goals(metrics, cfg.gate)
    report["metrics"], report["refused"] = metrics, refused
    if not write:
        return report
    report["variants"] = write_or_refuse(bundle.root, metrics, refused, {n: {role: p} for n, p in files.items()}, recipes)
    return report


@dataclass(frozen=True)
class _EvalSet:
    """What a student is measured on: the document files and their split, the held-out sentences and the teacher's
    embeddings of them (at the runtime's length), and the news the gate summarizes."""

    sources: list[Path]
    split: SentenceSplit
    eval_sents: list[str]
    tokenize: Tokenize
    teacher_eval: np.ndarray
    news: list


def _eval_set(cfg: TextDistillConfig, teacher, tdir: Path, data_root: Path | None) -> _EvalSet:
    """The held-out data of ``cfg`` (documents split by id, so a shipped student is measured on the documents its
    training run held out) and the teacher's embeddings of its sentences."""
    text = Path(data_root or ".") / "text"
    data = [Path(p) for p in cfg.data] or _training_documents(text)
    split = sentence_split(read_documents(data), cfg.held_out_percent, train_only=read_documents([Path(p) for p in cfg.train_data]))
    eval_sents = eval_sentences(split, cfg)
    tokenize = Tokenize(tdir, TEACHER_MAX_TOKENS)
    news = read_documents([text / NEWS_FILE]) if (text / NEWS_FILE).is_file() else []
    return _EvalSet(data, split, eval_sents, tokenize, embed_all(teacher, tokenize, eval_sents).numpy(), news)


def distill_text(cfg: TextDistillConfig, workdir: Path, data_root: Path | None = None, write: bool = True,
                 engine: Engine | None = None) -> dict:
    """Train, export, measure and (when ``write``) ship the text student; return the report.

    Args:
        cfg: The run's configuration.
        workdir: Checkpoints, metrics log, the student's HF folder and its ONNX files.
        data_root: The shared data folder, used when ``cfg.data`` is empty.
        write: Add ``distilled`` and ``distilled-int8`` to the teacher bundle.
        engine: Device and processes to train on (default: this CPU).

    Returns:
        ``{"recipe": ..., "metrics": {...}, "variants": [...]}``.
    """
    workdir = Path(workdir)
    engine = engine or Engine.create("cpu")
    seed_everything(cfg.schedule.seed)
    tdir = _teacher_dir(cfg.teacher)
    teacher = load_teacher(tdir).to(engine.device)
    ev = _eval_set(cfg, teacher, tdir, data_root)
    split = ev.split
    log.info("text: %d training sentences, %d held-out documents, %d eval sentences",
             len(split.train), len(split.held_out_docs), len(ev.eval_sents))

    tokenize = Tokenize(tdir, cfg.max_tokens)
    recipe = _recipe(cfg, tdir, len(teacher.encoder.layer), ev.sources, [Path(p) for p in cfg.train_data], split)
    # settings that only affect shipping (int8 format, ROUGE documents) do not invalidate the checkpoint
    rhash = resume_key(recipe, SHIP_ONLY)
    teacher_eval = torch.from_numpy(ev.teacher_eval)  # training targets come from the teacher on the fly

    student = _text_student(cfg, teacher)
    loss_of_batch = _batch_loss(cfg, engine, student, teacher, tokenize, list(split.train))

    def evaluate() -> dict:
        emb = embed_all(student, ev.tokenize, ev.eval_sents)  # at the runtime's length, as the teacher
        return {"eval_cosine": float((emb * teacher_eval).sum(-1).mean())}

    run = train(student, loss_of_batch, evaluate, cfg.schedule, workdir, rhash, desc="distill text", engine=engine)
    report = {"recipe": recipe, "training": run.summary()}

    sdir = _save_student(student, tdir, workdir / "student")
    try:
        bundle = load_bundle(cfg.teacher)  # loaded after training: it may have been built meanwhile
    except BundleNotFoundError:
        if write:
            raise
        log.warning("bundle %r not found: trained only; build it ('edge-sdk prepare text') and rerun to ship", cfg.teacher)
        return report
    return _ship_text(cfg, bundle, sdir, workdir, report, ev, write)


def _batch_loss(cfg: TextDistillConfig, engine: Engine, student, teacher, tokenize, train_sents: list[str]):
    """The loss of training batch ``step`` (a function of the step alone, so a run resumes exactly): a length-bucketed
    batch, some sentences augmented, the student's embeddings (and hidden states) against the teacher's on the fly."""
    lengths = [len(s) for s in train_sents]

    def loss_of_batch(step: int) -> torch.Tensor:
        idx = bucketed_batch(lengths, step, cfg.schedule.batch_size, cfg.schedule.seed)
        rng = np.random.default_rng((cfg.schedule.seed, step))  # a function of the step: resumable
        sents = [augment(train_sents[i], rng) if rng.random() < cfg.augment_share else train_sents[i] for i in idx]
        ids, mask = engine.put(tokenize(engine.shard(sents)))
        hidden = cfg.loss == "cosine+hidden"
        out = student(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
        with torch.no_grad():
            target = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
        loss = _loss(cfg.loss.removesuffix("+hidden"), mean_pool(out.last_hidden_state, mask), mean_pool(target.last_hidden_state, mask))
        return loss + hidden_state_loss(out.hidden_states, target.hidden_states, mask) if hidden else loss

    return loss_of_batch


def _recipe(cfg: TextDistillConfig, tdir: Path, teacher_layers: int, data: list[Path], extra: list[Path], split: SentenceSplit) -> dict:
    """What the student is made from: teacher, configuration, data and its split, and the objective."""
    return {
        "kind": "distillation", "student": f"MiniLM, teacher layers {list(cfg.keep_layers)} of {teacher_layers}",
        "teacher": {"bundle": cfg.teacher, "weights": str(tdir)}, "config": asdict(cfg),
        "data": {"sources": [str(p) for p in data], "train_only_sources": [str(p) for p in extra], "train_sentences": len(split.train),
                 "train_documents": len(split.train_doc_ids), "held_out_documents": [d.id for d in split.held_out_docs],
                 "split": f"document held out when crc32(id) % 100 < {cfg.held_out_percent}"},
        "objective": (f"{cfg.loss.split('+')[0]} between student and teacher mean-pooled, L2-normalised sentence embeddings"
                      + (" + token hidden states of student layers vs teacher layers "
                         f"{layer_targets(len(cfg.keep_layers), teacher_layers)} (squared error relative to "
                         "the teacher's)" if cfg.loss == "cosine+hidden" else "")),
    }


def _int8_like_teacher(bundle, fp32: Path, workdir: Path, default_format: str) -> tuple[Path, dict, Path]:
    """The student's int8 encoder, quantized exactly as the teacher's int8 was (format and op types), its recipe,
    and the teacher's int8 encoder (quantized the same way when the bundle refused its own: timing only)."""
    from edge_sdk.quantize.text.export import quantize_int8

    role = _encoder_role(bundle)
    teacher_int8_recipe = bundle.variants["int8"].recipe if "int8" in bundle.variants else {}
    op_types = teacher_int8_recipe.get("op_types")
    op_types = tuple(op_types) if isinstance(op_types, list) else None
    int8_format = teacher_int8_recipe.get("int8_format", default_format)
    int8 = workdir / "onnx" / "int8" / "encoder.onnx"
    int8.parent.mkdir(parents=True, exist_ok=True)
    int8_recipe = quantize_int8(fp32, int8, int8_format, op_types)
    if "int8" in bundle.variants:
        teacher_int8 = bundle.path_of(bundle.variants["int8"].files[role])
    else:  # the bundle refused its own int8; quantize the teacher the same way, for the int8-vs-int8 timing only
        teacher_int8 = workdir / "onnx" / "teacher-int8" / "encoder.onnx"
        teacher_int8.parent.mkdir(parents=True, exist_ok=True)
        quantize_int8(bundle.path_of(bundle.variants["fp32"].files[role]), teacher_int8, int8_format, op_types)
    return int8, int8_recipe, teacher_int8


def _add_rouge(metrics: dict[str, dict], eval_root: Path, doc_sets: dict[str, list]) -> None:
    """Add each student's held-out ROUGE on each set of ``doc_sets`` (key: the metric prefix; empty sets skipped),
    through the runtime's summarizer on the scratch bundle ``eval_root``, beside the teacher's fp32."""
    for prefix, docs in doc_sets.items():
        if not docs:
            continue
        ref = held_out_rouge(eval_root, "fp32", docs)
        for name in metrics:
            got = held_out_rouge(eval_root, name, docs)
            metrics[name].update({f"{prefix}rouge": got, f"{prefix}teacher_fp32_rouge": ref,
                                  f"{prefix}rouge1_delta_vs_teacher": round(got["rouge1"] - ref["rouge1"], 3)})


def _add_document_speed(metrics: dict[str, dict], eval_root: Path, doc, rounds: int) -> None:
    """Add each student's end-to-end time to summarize ``doc`` (the held-out document of median length; the runtime's
    summarizer: sentences, encoder, ranker), interleaved with the default it would replace (``distilled``: fp32; ``distilled-int8``: int8)."""
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    defaults = {"distilled": "fp32", "distilled-int8": "int8"}
    summarizers = {v: Summarizer.create(SummarizerOptions(bundle=str(eval_root), variant=v)) for v in (*defaults, *defaults.values())}
    try:
        timings = measure.side_by_side_ms({v: (lambda s=s: s.summarize(doc.text, sentences=3)) for v, s in summarizers.items()},
                                          repeats=rounds, warmup=1)
    finally:
        for s in summarizers.values():
            s.close()
    for name, default in defaults.items():
        metrics[name].update({"document_ms": timings[name]["median_ms"], "default_document_ms": timings[default]["median_ms"],
                              "document_speedup": measure.speedup(timings, default, name), "document_speedup_against": default,
                              "document": f"held-out document {doc.id} ({len(doc.text.split())} words), 3-sentence summary, "
                                          f"median of {rounds} interleaved rounds"})


def _goals(metrics: dict[str, dict], gate: bool) -> dict:
    """Set each variant's goals; return those that miss one when ``gate``: ROUGE-1 within :data:`MAX_ROUGE1_LOSS`
    of the teacher's fp32 on the held-out reports and on the news (both measured), and a cost below the default's
    it would replace: :data:`MIN_DOCUMENT_SPEEDUP` x faster end to end or :data:`MIN_SIZE_RATIO` x smaller.
    Cosine to the teacher and encoder speed are reported, never gated."""
    refused = {}
    for name, m in metrics.items():
        quality = {f"rouge1>=teacher-{MAX_ROUGE1_LOSS:g} ({what})": m[f"{prefix}rouge1_delta_vs_teacher"] >= -MAX_ROUGE1_LOSS
                   if f"{prefix}rouge1_delta_vs_teacher" in m else None for what, prefix in (("reports", ""), ("news", "news_"))}
        size_ratio = m["teacher_size_mb"] / m["size_mb"] if m.get("size_mb") else 0.0
        cost = {f"document_speedup>={MIN_DOCUMENT_SPEEDUP:g} or size_ratio>={MIN_SIZE_RATIO:g}":
                m["document_speedup"] >= MIN_DOCUMENT_SPEEDUP or size_ratio >= MIN_SIZE_RATIO if "document_speedup" in m else None}
        m["size_ratio"] = round(size_ratio, 3)
        m["goals"] = quality | cost | {"cosine_to_teacher>=0.95": m["eval_cosine_to_teacher_fp32"] >= 0.95}
        passed = all(v is True for v in (quality | cost).values())
        verdict = ("accepted" if passed else "refused") if gate else "not applied (--no-gate)"
        metrics[name] = {"gate": verdict, **{k: m[k] for k in HEADLINE if k in m}} | m
        if gate and not passed:
            refused[name] = m["goals"]
    return refused


def _teacher_dir(name: str) -> Path:
    """The teacher's HF folder: from the bundle's source when the bundle exists, else the packaged one."""
    try:
        return teacher_dir_of(load_bundle(name).source)
    except BundleNotFoundError:
        return packaged_teacher_dir()


def _encoder_role(bundle) -> str:
    """The file role of the encoder in the teacher's fp32 variant (the student replaces it)."""
    roles = [r for r, f in bundle.variants["fp32"].files.items() if f.path.endswith(".onnx")]
    if len(roles) != 1:
        raise InvalidInputError(f"bundle {bundle.name!r} fp32 has ONNX roles {roles}; expected exactly one encoder")
    return roles[0]


def _measure(bundle, tokenize, eval_sents, teacher_eval, docs, fp32: Path, int8: Path, teacher_int8: Path,
             cfg: TextDistillConfig) -> dict:
    """Cosine to the teacher and side-by-side encoder speed, fp32 vs fp32 and int8 vs int8."""
    role = _encoder_role(bundle)
    paths = {"teacher-fp32": bundle.path_of(bundle.variants["fp32"].files[role]), "distilled": fp32, "distilled-int8": int8,
             "teacher-int8": teacher_int8}
    sessions = {name: measure.session(p) for name, p in paths.items()}
    emb = {name: onnx_embed(s, tokenize, eval_sents) for name, s in sessions.items()}
    # one document's sentences per call, the summarizer's unit of work
    doc_sents = [s for d in docs[:3] for s in corpus_sentences(d.text)][: cfg.speed_sentences]
    timings = measure.side_by_side_ms({n: (lambda s=s: onnx_embed(s, tokenize, doc_sents)) for n, s in sessions.items()},
                                      repeats=cfg.speed_rounds)
    out = {}
    for student, teacher in (("distilled", "teacher-fp32"), ("distilled-int8", "teacher-int8")):
        cos_t = (emb[student] * teacher_eval).sum(-1)
        out[student] = {
            "eval_cosine_to_teacher_fp32": round(float(cos_t.mean()), 4),
            "eval_cosine_to_teacher_p5": round(float(np.percentile(cos_t, 5)), 4),
            "eval_sentences": len(eval_sents),
            "encoder_ms": timings[student]["median_ms"], "teacher_encoder_ms": timings[teacher]["median_ms"],
            "timed_call": f"{len(doc_sents)} held-out sentences, batches of 64, median of {cfg.speed_rounds} interleaved rounds",
            "encoder_speedup": measure.speedup(timings, teacher, student), "speedup_against": teacher,
            "teacher_int8_in_bundle": "int8" in bundle.variants,
            "size_mb": measure.file_mb(paths[student]), "teacher_size_mb": measure.file_mb(paths[teacher]),
            "eval_data": "held-out documents of the shared text corpus (document-level split)",
        }
    return out


def _layer_origin(keep_layers: tuple[int, ...], names) -> dict[str, str]:
    """Each student tensor name -> the teacher tensor it started from (student layer ``j`` is ``keep_layers[j]``)."""
    layer = re.compile(r"^encoder\.layer\.(\d+)\.")
    return {n: layer.sub(lambda m: f"encoder.layer.{keep_layers[int(m.group(1))]}.", n) for n in names}


def _config_of(recipe: dict) -> TextDistillConfig:
    """The configuration a run's recipe records; its data folders are those of the machine that trained it, so the
    training-only sources are dropped (they never change which documents are held out)."""
    given = dict(recipe["config"])
    schedule = Schedule(**given.pop("schedule"))
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if k in TextDistillConfig.__dataclass_fields__}
    return TextDistillConfig(**{**fields, "train_data": (), "init_from": "", "schedule": schedule})


def ship_run(workdir: Path) -> Path:
    """Ship the student a ``distill text`` run left in ``workdir`` (``student/`` and ``report.json``) with the
    repository: the tensors that differ from the packaged teacher's, and their record. Returns the record's path."""
    import importlib.metadata

    from safetensors.torch import load_file

    from edge_sdk.quantize.distill.ship import shipped

    workdir = Path(workdir)
    report = json.loads((workdir / "report.json").read_text())
    cfg = _config_of(report["recipe"])
    teacher = load_teacher(packaged_teacher_dir()).state_dict()
    student = load_file(str(workdir / "student" / "model.safetensors"))
    tensors = shipped.differing(student, teacher, _layer_origin(cfg.keep_layers, student))
    package = TEACHER_PACKAGE.replace("_", "-")
    rec = shipped.ShippedStudent(
        bundle=cfg.teacher, capability="text", file=f"{cfg.teacher}.safetensors", sha256="", tensors=0,
        parent={"package": package, "version": importlib.metadata.version(package), "model": "sentence-transformers/all-MiniLM-L6-v2",
                "license": "Apache-2.0 (the model card in the package; the package itself: MIT)"},
        recipe={**report["recipe"], "training": report.get("training")},
        trained_metrics=report.get("metrics", {}))
    return shipped.save(rec, tensors)


def build_shipped(bundle_root: Path, workdir: Path, data_root: Path | None = None) -> dict | None:
    """Rebuild the text student shipped for the bundle at ``bundle_root`` (the packaged teacher plus the shipped
    tensors), measure and gate it as a trained one, and write ``distilled`` / ``distilled-int8`` or their refusal.
    Returns the report, or None when no student ships for this bundle."""
    from edge_sdk.quantize.distill.ship import shipped

    bundle = load_bundle(bundle_root)
    rec = shipped.record(bundle.name)
    if rec is None:
        return None
    cfg = _config_of(rec.recipe)
    tdir = teacher_dir_of(bundle.source)
    teacher = load_teacher(tdir)
    student = make_student(teacher, cfg.keep_layers)
    student.load_state_dict(shipped.apply(student.state_dict(), shipped.load_tensors(rec)))
    sdir = _save_student(student, tdir, Path(workdir) / "student")
    ev = _eval_set(cfg, teacher, tdir, data_root)
    report = {"recipe": {**rec.recipe, "shipped": {"file": rec.file, "sha256": rec.sha256, "tensors": rec.tensors, "parent": rec.parent}}}
    return _ship_text(cfg, bundle, sdir, Path(workdir), report, ev, write=True)
