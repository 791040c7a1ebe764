"""Benchmark: the int8 decoder whose token lookup reads the int8 projection weights, against the one that kept fp32.

Both int8 variants are quantized here from the bundle's fp32 graphs with the same encoder, into a scratch copy
of the bundle (the bundle itself is not touched): ``int8-fp32-embedding`` is the recipe the bundle shipped
until 2026-12-07 (the 51,864 x 384 token embedding kept in fp32 for the lookup, an int8 copy for the
projection), ``int8-shared-embedding`` the one it ships now (one int8 copy serves both). Reports file sizes,
WER of fp32 and both int8 variants on the shared clips, decoder step time (one token, 30 s of encoder
context, greedy), and whole-file time (wall and the process's CPU time) and peak RSS of a fresh process transcribing ``data/speech/long/*.flac``.
Timings alternate the variants so load on a shared machine hits both alike. Not a test.

    EDGE_SDK_HOME=.cache/test-home python -m edge_sdk.bench.speech_int8_embedding \\
        --work .cache/speech-exp/bench --json benchmarks/experiments/speech-int8-shared-embedding.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edge_sdk.bundle import load_bundle
from edge_sdk.devices.detect import read_machine

log = logging.getLogger(__name__)
# The decoder nodes each variant keeps in fp32 (``EMBEDDING`` of edge_sdk.quantize.speech.variants: the module
# imports the quantize extra only when it runs, so ``edge_sdk.bench`` imports in a runtime-only install).
VARIANTS = {"int8-fp32-embedding": ("embedding",), "int8-shared-embedding": ()}
STEPS = 48  # decoder steps per timing round, from an empty self-attention cache

# A fresh process per run: peak RSS of the whole process, load and transcription time. Linux carries the peak RSS of
# the address space a process replaces at exec into its ru_maxrss, and a child vforked from this (large) process
# replaces this process's: so the child is started by a small launcher, and also reports its own VmHWM.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"
_CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions
asr = Transcriber.create(TranscriberOptions(bundle=sys.argv[1], variant=sys.argv[2]))
loaded = time.perf_counter()
words = 0
for path in sys.argv[3:]:
    segments, info = asr.transcribe(path)
    words += sum(len(s.text.split()) for s in segments)
done = time.perf_counter()
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"load_s": round(loaded - start, 3), "transcribe_s": round(done - loaded, 3), "words": words,
                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "vm_hwm_mib": round(hwm / 1024, 1)}))
"""


def _profile() -> dict:
    from edge_sdk.devices.kernels import kernel_int8_format
    from edge_sdk.devices.resolve import resolve_device

    device = resolve_device("auto")
    return {"profile": device.profile, "int8_format": device.int8_format,
            "kernel": "saturates u8 x s8 (u8u8 only)" if kernel_int8_format() else "exact u8 x s8"}


def build_variants(bundle_root: Path, work: Path, int8_format: str) -> Path:
    """A scratch copy of the bundle's fp32 variant plus both int8 variants; returns its folder."""
    from edge_sdk.quantize.bundle_writer import add_variant, scratch_copy
    from edge_sdk.quantize.speech.variants import integer_op_count, quantize_int8

    bundle = load_bundle(bundle_root)
    fp32 = {role: bundle.path_of(f) for role, f in bundle.variants["fp32"].files.items()}
    root = scratch_copy(bundle_root, work / "bundle", {})
    for name, exclude in VARIANTS.items():
        out = work / "quantized" / name
        out.mkdir(parents=True, exist_ok=True)
        files = {role: out / p.name for role, p in fp32.items()}
        kept = {role: quantize_int8(p, files[role], int8_format, exclude if role == "decoder" else ()) for role, p in fp32.items()}
        add_variant(root, name, files, recipe={"precision": "int8", "int8_format": int8_format, "kept_fp32": kept,
                                               "integer_ops": {r: integer_op_count(p) for r, p in files.items()}})
    return root


def _sizes(root: Path, variants: list[str]) -> dict:
    bundle = load_bundle(root)
    out = {}
    for v in variants:
        files = {role: (root / f.path).stat().st_size for role, f in bundle.variants[v].files.items()}
        out[v] = {**{f"{r}_mb": round(s / 1e6, 2) for r, s in files.items()}, "total_mb": round(sum(files.values()) / 1e6, 2)}
    return out


def _wer(root: Path, variants: list[str], manifest: Path) -> dict:
    from edge_sdk.speech.evaluate import evaluate
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    out = {}
    for v in variants:
        r = evaluate(Transcriber.create(TranscriberOptions(bundle=str(root), variant=v)), manifest)
        out[v] = {k: r.to_dict()[k] for k in ("wer", "n", "rtf", "compute_s")}
        log.info("%s: WER %.3f%% on %d clips", v, r.wer, r.n)
    return out


def _step_times(root: Path, variants: list[str], clip: Path, rounds: int) -> dict:
    """Median ms per one-token decoder step (greedy, cache growing from 0 to ``STEPS``) over 30 s of encoder context."""
    from edge_sdk.audio import load_audio
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.runtime import create_session
    from edge_sdk.speech.features import log_mel

    device = resolve_device("auto")
    bundle = load_bundle(root)
    audio, _ = load_audio(clip)
    mel = log_mel(audio[: 30 * 16000], 3000)[None].astype(np.float32)
    encoder = create_session(bundle.read(bundle.variants[variants[0]].files["encoder"]), device)
    cross = encoder.run(None, {"mel": mel})
    decoders = {v: create_session(bundle.read(bundle.variants[v].files["decoder"]), device) for v in variants}
    names = [i.name for i in decoders[variants[0]].get_inputs()]
    n_self = sum(1 for n in names if n.startswith("self_"))
    heads, head_dim = cross[0].shape[1], cross[0].shape[3]
    times: dict[str, list[float]] = {v: [] for v in variants}
    tokens_of: dict[str, list[int]] = {}
    for i in range(rounds + 1):  # round 0 warms up
        for v in variants if i % 2 == 0 else variants[::-1]:
            kv = [np.zeros((1, heads, 0, head_dim), np.float32)] * n_self
            token, seq = 50257, []
            for _ in range(STEPS):
                feed = {"tokens": np.array([[token]], np.int64), **dict(zip(names[1:], [*kv, *cross], strict=True))}
                start = time.perf_counter()
                out = decoders[v].run(None, feed)
                if i:
                    times[v].append(1000 * (time.perf_counter() - start))
                kv, token = out[1 : 1 + n_self], int(out[0][0, -1].argmax())
                seq.append(token)
            tokens_of[v] = seq
    same = sum(a == b for a, b in zip(*tokens_of.values(), strict=True))
    return {
        **{v: {"p50_ms": round(float(np.median(t)), 3), "mean_ms": round(float(np.mean(t)), 3)} for v, t in times.items()},
        "steps_per_round": STEPS, "rounds": rounds, "encoder_frames": int(mel.shape[-1]), "clip": str(clip),
        "greedy_tokens_equal": f"{same} of {STEPS}", "threads": device.intra_op_threads,
    }


def _processes(root: Path, variants: list[str], files: list[Path], rounds: int) -> dict:
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(rounds):
        for v in variants if i % 2 == 0 else variants[::-1]:
            cmd = [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", _CHILD, str(root), v, *map(str, files)]
            runs[v].append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
            log.info("%s: %s", v, runs[v][-1])
    return {v: {"runs": r, "transcribe_s_min": min(x["transcribe_s"] for x in r),
                "transcribe_s_median": round(float(np.median([x["transcribe_s"] for x in r])), 3),
                "cpu_s_median": round(float(np.median([x["cpu_s"] for x in r])), 2),
                "peak_rss_mib_max": max(x["peak_rss_mib"] for x in r)} for v, r in runs.items()}


def bench(work: Path, rounds: int = 4, step_rounds: int = 4) -> dict:
    """Build both int8 variants from the installed bundle and measure them (sizes in MB, WER in percent)."""
    from edge_sdk.quantize.speech.prepare import BUNDLE_NAME, shared_data

    data = shared_data()
    if data is None:
        raise SystemExit("no shared evaluation data: set EDGE_SDK_DATA")
    bundle = load_bundle(BUNDLE_NAME)
    profile = _profile()
    int8_format = profile["int8_format"]
    root = build_variants(bundle.root, work, int8_format)
    variants = list(VARIANTS)
    long_files = sorted((data / "speech" / "long").glob("*.flac"))
    out = {
        "date": time.strftime("%Y-%m-%d"), "machine": {"cpu": read_machine().cpu_model, "cores": os.cpu_count(), "load_average_1m_start": os.getloadavg()[0],
                                                      "python": platform.python_version()},
        **profile, "edge_sdk_home": os.environ.get("EDGE_SDK_HOME"), "bundle": str(bundle.root), "scratch": str(root),
        "sizes": _sizes(root, ["fp32", *variants]),
        "recipes": {v: load_bundle(root).variants[v].recipe for v in variants},
        "wer": _wer(root, ["fp32", *variants], data / "speech" / "transcripts.tsv"),
        "decoder_step": _step_times(root, variants, long_files[0], step_rounds),
        "long_files": {"files": [str(f) for f in long_files], **_processes(root, variants, long_files, rounds)},
    }
    a, b = variants
    out["ratios_shared_over_fp32_embedding"] = {
        "decoder_step_p50": round(out["decoder_step"][b]["p50_ms"] / out["decoder_step"][a]["p50_ms"], 3),
        "long_files_transcribe_s_min": round(out["long_files"][b]["transcribe_s_min"] / out["long_files"][a]["transcribe_s_min"], 3),
        "long_files_transcribe_s_median": round(out["long_files"][b]["transcribe_s_median"] / out["long_files"][a]["transcribe_s_median"], 3),
        "long_files_process_cpu_s_median": round(out["long_files"][b]["cpu_s_median"] / out["long_files"][a]["cpu_s_median"], 3),
        "peak_rss": round(out["long_files"][b]["peak_rss_mib_max"] / out["long_files"][a]["peak_rss_mib_max"], 3),
        "int8_total_size": round(out["sizes"][b]["total_mb"] / out["sizes"][a]["total_mb"], 3),
    }
    out["machine"]["load_average_1m_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (a copy of the bundle goes here)")
    parser.add_argument("--rounds", type=int, default=4, help="fresh processes per variant on the long files")
    parser.add_argument("--step-rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("root").setLevel(logging.WARNING)
    out = bench(args.work, args.rounds, args.step_rounds)
    out["command"] = "python -m edge_sdk.bench.speech_int8_embedding " + " ".join(sys.argv[1:])
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
