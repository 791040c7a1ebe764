"""Ship the CTC student: write its ``ctc`` bundle, measure it beside the Whisper teacher, install it.

WER and real-time factor come from the runtime's :class:`~edge_sdk.speech.transcriber.Transcriber` on the
held-out real clips, for the student and the teacher's fp32 variant alike. Streaming cost is timed side
by side: the student advancing an utterance by one second of new audio (its native streaming step)
against the teacher re-decoding a five-second utterance (what a live Whisper stream does per partial).
The student is a new model, not a variant of the teacher, so there is no quality gate; its metrics
state its WER beside the teacher's, and it is installed only when ``write`` is set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from edge_sdk.quantize.bundle_writer import add_variant
from edge_sdk.quantize.distill.data.audio_corpus import load_clip, write_manifest
from edge_sdk.quantize.distill.ship import measure
from edge_sdk.quantize.distill.students.ctc import CTCDistillConfig, train_ctc_student
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.speech.ctc import write_bundle

PARTIAL_S, CHUNK_S = 5.0, 1.0


def stream_step_ms(student_root: Path, teacher, audio: np.ndarray) -> dict:
    """Median ms of the student's streaming step (1 s of new audio) and the teacher's partial (5 s utterance)."""
    from edge_sdk.speech.ctc import CTCModel

    ctc = CTCModel.create(student_root, variant="fp32")
    utterance = np.resize(audio, int(PARTIAL_S * 16000)).astype(np.float32)  # repeats a clip shorter than 5 s
    chunk = utterance[: int(CHUNK_S * 16000)]
    runs = {"student-1s-chunk": lambda: ctc.start_utterance().accept(chunk),
            "teacher-fp32-5s-partial": lambda: teacher.decode(utterance)}
    return measure.side_by_side_ms(runs, repeats=10, warmup=2)


def measure_student(root: Path, cfg: CTCDistillConfig, held: list, workdir: Path) -> dict:
    """WER, RTF, streaming step time and size of the student bundle at ``root``, beside the teacher."""
    from edge_sdk.speech.evaluate import evaluate
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    manifest = write_manifest(held, workdir / "held_out.tsv")
    student = Transcriber.create(TranscriberOptions(bundle=str(root), variant="fp32"))
    teacher = Transcriber.create(TranscriberOptions(bundle=cfg.data.teacher, variant="fp32"))
    s, t = evaluate(student, manifest), evaluate(teacher, manifest)
    (workdir / "wer.json").write_text(json.dumps({name: {**r.to_dict(), "hypotheses": r.hypotheses} for name, r in
                                                  (("student", s), ("teacher-fp32", t))}, indent=1))
    steps = stream_step_ms(root, teacher, load_clip(*held[0]).audio)
    refs = {str(Path(p).resolve()): ref for p, ref in held}
    return {
        "wer": s.wer, "teacher_fp32_wer": t.wer, "wer_delta_points": round(s.wer - t.wer, 3), "n": s.n,
        "rtf": s.rtf, "teacher_fp32_rtf": t.rtf,
        "stream_step_ms": steps["student-1s-chunk"]["median_ms"], "teacher_partial_ms": steps["teacher-fp32-5s-partial"]["median_ms"],
        "stream_timing": f"student: one streaming step over {CHUNK_S:g} s of new audio; teacher: one decode of a "
                         f"{PARTIAL_S:g} s utterance, as a live Whisper stream re-decodes per partial", "timings": steps,
        "size_mb": measure.file_mb(student.bundle.path_of(student.bundle.variants["fp32"].files["model"])),
        "teacher_size_mb": round(sum(measure.file_mb(teacher.bundle.path_of(f)) for f in teacher.bundle.variants["fp32"].files.values()), 3),
        "eval_data": f"held-out shared clips ({s.n}), never trained on",
        "examples": [{"reference": refs.get(p), "student": h, "teacher": t.hypotheses[p]} for p, h in list(s.hypotheses.items())[:5]],
    }


def distill_ctc(cfg: CTCDistillConfig, workdir: Path, data_root: Path | None = None, write: bool = True,
                engine: Engine | None = None) -> dict:
    """Train, write the bundle into ``workdir/bundle``, measure it and, with ``write``, install it in the store.

    Returns:
        The report: recipe, data, training and the student's metrics (``bundle`` names the installed folder).
    """
    from edge_sdk.bundle import bundles_dir, load_bundle

    workdir = Path(workdir)
    model, report, held = train_ctc_student(cfg, workdir, Path(data_root or "."), engine)
    weights = workdir / "student.pt"
    torch.save(model.state_dict(), weights)
    shutil.rmtree(workdir / "bundle", ignore_errors=True)
    root = write_bundle(workdir / "bundle", cfg.model, cfg.schedule.seed, weights=weights, name=cfg.bundle_name)
    metrics = measure_student(root, cfg, held, workdir)
    # the measured graph, now with its metrics and the distillation recipe
    written = load_bundle(root)
    add_variant(root, "fp32", {"model": written.path_of(written.variants["fp32"].files["model"])}, metrics, report["recipe"])
    report["metrics"] = {"fp32": metrics}
    if write:
        dest = bundles_dir() / cfg.bundle_name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(root, dest)
        report["bundle"] = str(load_bundle(dest).root)
    return report
