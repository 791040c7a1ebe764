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
