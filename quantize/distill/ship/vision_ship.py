"""Ship the vision student: export and int8 with the vision engineer's tools, measure, write variants.

Quality is measured on the held-out labelled photos with onnxruntime and the runtime's own
preprocessing (``edge_sdk.quantize.vision.data.batch``); speed is measured side by side against the teacher
(EfficientNet-Lite2 exported the same way; an ensemble runs each member in turn) and the bundle's own
fp32 and int8 Lite0.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge_sdk.bundle import load_bundle
from edge_sdk.quantize.distill.ship import measure
from edge_sdk.quantize.distill.ship.refusal import record_refusal, write_or_refuse
from edge_sdk.quantize.distill.students.vision import VisionDistillConfig, teacher_members, train_vision_student
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.vision.images import read_photo_labels

log = logging.getLogger(__name__)

TEACHER = "teacher-fp32"


def _onnx_scores(logits: np.ndarray, teacher: np.ndarray, labels: np.ndarray) -> dict:
    top1 = logits.argmax(1)
    return {"agreement_top1_with_teacher": round(float((top1 == teacher.argmax(1)).mean()), 4),
            "top1": round(float((top1 == labels).mean()), 4),
            "top5": round(float(np.mean([labels[i] in np.argsort(-logits[i])[:5] for i in range(len(labels))])), 4)}


def _int8_student(cfg: VisionDistillConfig, student, bundle, fp32: Path, int8_path: Path, photos, labelled) -> tuple:
    """The student's int8 graph at ``int8_path``, searched down the int8 ladder (QAT when ``cfg.qat_fallback``) in the
    bundle's int8 format: ``(recipe, gate metrics, None)`` when one passes the gate, else ``(None, None, (reason, metrics))``:
    the fp32 student may still ship and the int8 one is recorded as refused."""
    from edge_sdk.quantize.vision import data, int8, qat
    from edge_sdk.quantize.vision.models import ARCHS

    pre = ARCHS[cfg.student].preprocess
    int8_format = bundle.variants["int8"].recipe.get("int8_format", "u8s8") if bundle and "int8" in bundle.variants else "u8s8"
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    ladder, tune = qat.int8_ladder(student, cfg.student, photos, int8_format, cfg.qat_fallback)
    outcome = int8.search_int8(fp32, int8_path, data.batch(photos.calibration, pre), data.batch(photos.holdout, pre),
                               labelled, int8_format, ladder, tune)
    if outcome.accepted:
        return outcome.recipe, outcome.metrics, None
    log.warning("distilled-int8 refused: %s", outcome.refusal())
    return None, None, (outcome.refusal(), {"int8_gate": outcome.metrics})


def _timings(student_arch: str, paths: dict[str, Path], teachers: dict[str, Path], one: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Side-by-side batch-1 timings (15 interleaved runs) of each graph in ``paths`` and of the teacher (every member
    in turn; each member alone too when there are several); and the members' timed calls."""
    sessions = {name: measure.session(p) for name, p in paths.items()}
    members = {f"teacher-{a}": (measure.session(path), one[a]) for a, path in teachers.items()}
    alone = {name: (lambda s=s, x=x: s.run(None, {s.get_inputs()[0].name: x})) for name, (s, x) in members.items()}
    runs = {TEACHER: lambda: [run() for run in alone.values()], **(alone if len(alone) > 1 else {}),
            **{name: (lambda s=s: s.run(None, {s.get_inputs()[0].name: one[student_arch]})) for name, s in sessions.items()}}
    return measure.side_by_side_ms(runs, repeats=15, warmup=2), alone


def _goals(metrics: dict[str, dict], cfg: VisionDistillConfig) -> dict:
    """Set each variant's goals against Lite0 before distillation; return those that miss one when ``cfg.gate``."""
    refused = {}
    for name, m in metrics.items():
        before = m["lite0_before_distillation"]
        m["goals"] = {f"top1>=lite0-{cfg.max_top1_drop}": before is None or m["held_out"]["top1"] >= before["top1"] - cfg.max_top1_drop,
                      "agreement_improved": before is None or m["held_out"]["agreement_top1_with_teacher"] > before["agreement_top1_with_teacher"]}
        if cfg.gate and not all(m["goals"].values()):
            refused[name] = m["goals"]
    return refused


def _exports(cfg: VisionDistillConfig, student, bundle, onnx_dir: Path) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """The student's fp32 graph; the bundle's own graphs by variant (Lite0 before distillation, exported the same way,
    when the bundle has no fp32); and each teacher member's graph by architecture."""
    from edge_sdk.quantize.vision.export import export_onnx
    from edge_sdk.quantize.vision.models import ARCHS
    from edge_sdk.quantize.vision.weights import load_lite

    sspec = ARCHS[cfg.student]
    fp32 = export_onnx(student, onnx_dir / "fp32" / "model.onnx", sspec.image_size)
    own = {v: bundle.path_of(bundle.variants[v].files["model"]) for v in ("fp32", "int8") if v in bundle.variants} if bundle else {}
    if "fp32" not in own:  # the student before distillation, exported the same way
        own["fp32"] = export_onnx(load_lite(cfg.student)[0], onnx_dir / "lite0" / "model.onnx", sspec.image_size)
    teachers = {a: export_onnx(load_lite(a)[0], onnx_dir / "teacher" / a / "model.onnx", ARCHS[a].image_size)
                for a in teacher_members(cfg.teacher)}
    return fp32, own, teachers


def _variant_metrics(teacher: str, name: str, paths: dict[str, Path], quality: dict, timings: dict, members: dict,
                     teachers: dict[str, Path], held_out_photos: int) -> dict:
    """Variant ``name``'s held-out quality and batch-1 speed beside the teacher's and Lite0's before distillation."""
    return {
        "teacher": teacher, "held_out": quality[name], "teacher_held_out": quality[TEACHER],
        "lite0_before_distillation": quality.get("bundle-fp32" if name == "distilled" else "bundle-int8"),
        "held_out_photos": held_out_photos, "labels": "images/labels.tsv + calibration/labels.tsv (never trained on)",
        "latency_ms_batch1": timings[name]["median_ms"], "teacher_latency_ms_batch1": timings[TEACHER]["median_ms"],
        "speedup_vs_teacher_fp32": measure.speedup(timings, TEACHER, name),
        **({"speedup_vs_each_member_fp32": {m: measure.speedup(timings, m, name) for m in members}} if len(members) > 1 else {}),
        "size_mb": measure.file_mb(paths[name]), "teacher_size_mb": round(sum(measure.file_mb(t) for t in teachers.values()), 3),
        "timings": timings,
    }


def distill_vision(cfg: VisionDistillConfig, workdir: Path, data_root: Path | None = None, write: bool = True,
                   engine: Engine | None = None) -> dict:
    """Train the student, then (when the bundle exists) export, int8, measure and write the variants.

    Returns:
        The report: recipe, training (with before/after evaluations) and per-variant metrics.
    """
    from edge_sdk.errors import BundleNotFoundError
    from edge_sdk.quantize.vision import data, int8
    from edge_sdk.quantize.vision.models import ARCHS

    workdir, root = Path(workdir), Path(data_root or ".")
    student, report = train_vision_student(cfg, workdir, root, engine)
    try:
        bundle = load_bundle(cfg.bundle)
    except BundleNotFoundError:
        if write:
            raise
        bundle = None
        log.warning("bundle %r not found: measuring against a fresh Lite0 export; build it and rerun to ship", cfg.bundle)
    onnx_dir = workdir / "onnx"
    fp32, own, teachers = _exports(cfg, student, bundle, onnx_dir)
    preprocess = {a: ARCHS[a].preprocess for a in (cfg.student, *teacher_members(cfg.teacher))}
    photos = data.photo_sets(root / "images")
    held = read_photo_labels(root / "images")
    held_x = {a: data.batch([p.path for p in held], config) for a, config in preprocess.items()}  # each input size once
    lab_x = held_x[cfg.student]
    lab_y = np.asarray([p.label for p in held])
    teacher_logits = np.mean([int8.predict(path, held_x[a]) for a, path in teachers.items()], axis=0)
    before = _onnx_scores(int8.predict(own["fp32"], lab_x), teacher_logits, lab_y)
    after = _onnx_scores(int8.predict(fp32, lab_x), teacher_logits, lab_y)
    int8_path = onnx_dir / "int8" / "model.onnx"
    if cfg.gate and after["top1"] < before["top1"] - cfg.max_top1_drop:
        log.warning("fp32 student already misses the budget (top-1 %.3f vs %.3f before); int8 not built", after["top1"], before["top1"])
        int8_recipe, gate_metrics = None, None
        int8_refusal = ("not built: the fp32 student already misses the quality budget", {})
    else:
        int8_recipe, gate_metrics, int8_refusal = _int8_student(cfg, student, bundle, fp32, int8_path, photos, (lab_x, lab_y))
    paths = {"distilled": fp32,
             **({"distilled-int8": int8_path} if int8_recipe else {}),
             **{f"bundle-{v}": p for v, p in own.items()}}
    quality = {name: _onnx_scores(int8.predict(p, lab_x), teacher_logits, lab_y) for name, p in paths.items()}
    quality[TEACHER] = _onnx_scores(teacher_logits, teacher_logits, lab_y)
    timings, members = _timings(cfg.student, paths, teachers, {a: x[:1] for a, x in held_x.items()})
    metrics = {name: _variant_metrics(cfg.teacher, name, paths, quality, timings, members, teachers, len(held))
               for name in ("distilled", "distilled-int8") if name in paths}
    if gate_metrics:
        metrics["distilled-int8"]["int8_gate"] = gate_metrics
    refused = _goals(metrics, cfg)
    if int8_refusal:
        refused["distilled-int8"] = int8_refusal[0]
    report["metrics"], report["refused"] = metrics, refused
    if write:
        recipes = {"distilled": report["recipe"], "distilled-int8": {**report["recipe"], "int8": int8_recipe.to_dict() if int8_recipe else None}}
        files = {"distilled": {"model": fp32}, "distilled-int8": {"model": int8_path}}
        report["variants"] = write_or_refuse(bundle.root, metrics, refused, files, recipes)
        if int8_refusal:  # never measured as a variant: refused by its own gate, or not built
            record_refusal(bundle.root, "distilled-int8", int8_refusal[1], recipes["distilled-int8"], int8_refusal[0])
    return report
