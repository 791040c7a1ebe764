"""Judge an int8 vision model on integer kernels this machine does not have, under QEMU user-mode emulation.

    python -m edge_sdk.quantize.vision.kernel_check efficientnet-lite0 --kernels x86_64-avx2,aarch64-dotprod --json out.json

Each kernel runs the bundle's int8 model on the gate's held-out photos (the inputs the native run used, saved once)
and is judged by the build's gate (:func:`edge_sdk.quantize.vision.int8.gate`) against the native fp32 logits; the
row also gives the largest logit difference from the native int8 run (0.0: the same integers, so the same verdict).
x86 kernels run this venv's Python under ``qemu-x86_64 -cpu MODEL`` (QEMU's TCG has AVX2 but neither AVX-512 nor
VNNI, so onnxruntime takes its AVX2 kernels, where u8 x s8 pairs add in int16 with saturation); aarch64 ones run the
Python, numpy and onnxruntime that ``benchmarks/emulate/aarch64.sh`` unpacks under ``.cache/aarch64``, in the root
of the emulated CPU. ``edge-sdk prepare vision --check-kernels`` records the rows in ``bundle.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.vision import int8

WORKER = Path(__file__).with_name("kernel_worker.py")
AARCH64_CACHE = Path(os.environ.get("AARCH64_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "aarch64"))
# kernel -> (emulator, QEMU CPU model, what onnxruntime runs there)
KERNELS = {
    "x86_64-avx2": ("qemu-x86_64", "Haswell", "AVX2 without VNNI: vpmaddubsw, pairs of u8 x s8 products saturate in int16"),
    "aarch64-dotprod": ("qemu-aarch64", "neoverse-n1", "ARMv8.2 with the dot-product instructions (udot/sdot)"),
    "aarch64-neon": ("qemu-aarch64", "cortex-a53", "ARMv8.0 NEON without dot product (widening multiplies)"),
}


def native_kernel() -> str:
    """This machine's integer kernel in a few words (architecture, the flags that pick it, whether u8 x s8 saturates)."""
    from edge_sdk.devices.detect import read_machine
    from edge_sdk.devices.kernels import u8s8_saturates

    facts = read_machine()
    flags = [f for f in ("avx2", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp") if f in facts.cpu_flags]
    saturates = platform.machine() in ("x86_64", "AMD64") and u8s8_saturates()
    return f"{facts.arch} {'+'.join(flags) or 'baseline'}, native ({'u8 x s8 saturates' if saturates else 'exact u8 x s8'})"


def _command(kernel: str, args: list[str]) -> list[str]:
    emulator, cpu, _ = KERNELS[kernel]
    if emulator == "qemu-x86_64":
        exe = shutil.which("qemu-x86_64")
        if exe is None:
            raise FileNotFoundError("qemu-x86_64 not found: apt-get install qemu-user")
        return [exe, "-cpu", cpu, sys.executable, str(WORKER), *args]
    root, qemu = AARCH64_CACHE / "roots" / cpu, AARCH64_CACHE / "qemu" / "usr" / "bin" / "qemu-aarch64"
    qemu = qemu if qemu.is_file() else Path(shutil.which("qemu-aarch64") or qemu)
    if not (root / "usr" / "bin" / "python3.11").exists() or not qemu.is_file():
        raise FileNotFoundError(f"no aarch64 Python root for {cpu} under {AARCH64_CACHE}: run benchmarks/emulate/aarch64.sh once")
    return [str(qemu), "-cpu", cpu, "-L", str(root), str(root / "usr" / "bin" / "python3.11"), str(WORKER), *args]


def emulated_logits(kernel: str, model: Path, inputs: Path, out: Path) -> np.ndarray:
    """The logits of ``model`` on the saved ``inputs`` under ``kernel``'s emulator (see :data:`KERNELS`)."""
    env = os.environ | {"PYTHONNOUSERSITE": "1"}
    if KERNELS[kernel][0] == "qemu-aarch64":
        env["PYTHONPATH"] = str(AARCH64_CACHE / "site")
    proc = subprocess.run(_command(kernel, [str(model), str(inputs), str(out)]), env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(line for line in proc.stderr.splitlines() if "TCG doesn't support" not in line)[-2000:]
        raise RuntimeError(f"{kernel}: the worker exited with {proc.returncode}: {tail}")
    return np.load(out)


def check_kernels(fp32: Path, model: Path, holdout: np.ndarray, labelled: tuple[np.ndarray, np.ndarray],
                  kernels: list[str]) -> list[dict]:
    """Gate rows for ``model`` natively and under each of ``kernels``, all against the native fp32 logits.

    ``labelled``: the rows of ``holdout`` that have a label, and their classes.
    """
    unknown = sorted(set(kernels) - set(KERNELS))
    if unknown:
        raise InvalidInputError(f"unknown kernels {unknown}: choose from {sorted(KERNELS)}")
    fp32_hold, native_hold = int8.predict(fp32, holdout), int8.predict(model, holdout)
    rows = [_row(native_kernel(), fp32_hold, native_hold, labelled, native_hold)]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, holdout)
        for kernel in kernels:
            hold = emulated_logits(kernel, model, inputs, Path(tmp) / f"{kernel}.npy")
            rows.append(_row(f"{kernel}, emulated: qemu -cpu {KERNELS[kernel][1]} ({KERNELS[kernel][2]})", fp32_hold, hold, labelled,
                             native_hold))
    return rows


def kernel_row(kernel: str, metrics: dict, max_abs_diff: float) -> dict:
    """One kernel's row: the gate's verdict and figures (``metrics`` of :func:`~edge_sdk.quantize.vision.int8.gate` with
    its ``gate``) and the largest logit difference from the native int8 run."""
    return {"kernel": kernel, "gate": metrics["gate"], **{k: metrics[k] for k in int8.GATE_FIGURES},
            "labelled_top1": metrics["labelled"]["top1"], "max_abs_diff_vs_native_int8": round(max_abs_diff, 6)}


def _row(kernel: str, fp32_hold: np.ndarray, hold: np.ndarray, labelled: tuple[np.ndarray, np.ndarray], native_hold: np.ndarray) -> dict:
    rows_of, lab_y = labelled
    ok, m = int8.gate(fp32_hold, hold, fp32_hold[rows_of], hold[rows_of], lab_y)
    return kernel_row(kernel, m | {"gate": "accepted" if ok else "refused"}, float(np.abs(hold - native_hold).max()))


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.bundle import load_bundle
    from edge_sdk.quantize.vision import data
    from edge_sdk.quantize.vision.models import ARCHS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", help="a built vision bundle (store name or folder)")
    parser.add_argument("--variant", default="int8")
    parser.add_argument("--arch", default="efficientnet-lite0", choices=sorted(ARCHS), help="for its preprocessing")
    parser.add_argument("--kernels", default=",".join(KERNELS), help=f"comma-separated, of {sorted(KERNELS)}")
    parser.add_argument("--json", type=Path, help="save the rows here")
    args = parser.parse_args(argv)
    b = load_bundle(args.bundle)
    photos = data.photo_sets()
    rows = check_kernels(b.path_of(b.variants["fp32"].files["model"]), b.path_of(b.variants[args.variant].files["model"]),
                         data.batch(photos.holdout, ARCHS[args.arch].preprocess), photos.labelled_rows(),
                         [k for k in args.kernels.split(",") if k])
    for r in rows:
        lo, hi = r["holdout_top1_agreement_ci95"]
        print(f"{r['kernel']}: agreement {r['holdout_top1_agreement']:.4f} [{lo:.4f}, {hi:.4f}] of {r['holdout_n']}, estimated top-1 change "
              f"{100 * r['top1_change_estimate']:+.2f} points, max |logit - native int8| {r['max_abs_diff_vs_native_int8']}: {r['gate']}")
    if args.json:
        args.json.write_text(json.dumps({"bundle": args.bundle, "variant": args.variant, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
