"""The kernel-dependent tests on onnxruntime's AVX2 kernel (no VNNI, no AVX-512), under QEMU user-mode emulation
from any x86-64 machine: ``benchmarks/emulate/x86_kernels.sh``. Here the quick ones; the script runs all of them
(``-m kernel``, 15 min or more under emulation)."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "emulate" / "x86_kernels.sh"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(platform.machine() != "x86_64", reason="emulates another x86-64 CPU"),
    pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="needs QEMU user-mode emulation: apt-get install qemu-user"),
    pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="the kernel tests quantize models (edge-sdk-ondevice[quantize])"),
]


def test_quick_kernel_tests_pass_on_an_emulated_avx2_cpu():
    """Under emulation detection measures the saturating kernel and picks x86_64-avx2 (u8u8) by itself, and the
    integer-kernel tests hold there: the u8s8 probe, the doctor's int8 check, a float conv between QDQ nodes."""
    proc = subprocess.run([str(SCRIPT), "-m", "kernel and not slow"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "profile : x86_64-avx2 (detected: x86_64-avx2)" in proc.stdout
    assert "int8    : u8u8 (integer kernel: saturates u8 x s8 (no VNNI))" in proc.stdout
    assert "2 passed" in proc.stdout, proc.stdout[-2000:]


def test_the_vision_int8_computes_the_same_logits_on_an_emulated_avx2_cpu(vision_bundle, tmp_path):
    """The u8s7 int8 model (dense weights within [-64, 64]) gives bit-identical logits on the saturating AVX2 kernel
    and on this machine's: one file, the same gate verdict on every x86 kernel."""
    import numpy as np

    from edge_sdk.bundle import load_bundle
    from edge_sdk.quantize.vision import data, int8, kernel_check
    from edge_sdk.quantize.vision.models import ARCHS

    b = load_bundle(vision_bundle)
    kernels = b.variants["int8"].metrics["kernels"]
    assert kernels["int8_format"] == "u8s7" and kernels["largest_dense_weight"] == 64
    assert kernels["checked"][0]["kernel"].endswith(", native (exact u8 x s8)") or "saturates" in kernels["checked"][0]["kernel"]
    model = b.path_of(b.variants["int8"].files["model"])
    photos = data.batch(data.photo_sets().holdout[::300], ARCHS["efficientnet-lite0"].preprocess)  # 4 photos
    np.save(tmp_path / "x.npy", photos)
    emulated = kernel_check.emulated_logits("x86_64-avx2", model, tmp_path / "x.npy", tmp_path / "y.npy")
    np.testing.assert_array_equal(emulated, int8.predict(model, photos))
