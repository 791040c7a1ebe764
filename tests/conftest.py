"""Shared fixtures: the shared data folder and the default bundles, built once and reused.

Bundles are built into ``.cache/test-home`` inside the checkout by ``edge_sdk.quantize.prepare``,
which skips a bundle whose recipe is unchanged, so only the first run pays for the build.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = REPO / ".cache" / "test-home"
os.environ.setdefault("EDGE_SDK_HOME", str(TEST_HOME))

# A runtime-only environment (a device: no torch or onnx) runs the runtime's tests on bundles that a full environment
# built; the tests of model preparation and distillation need edge-sdk-ondevice[quantize] and are not collected, and
# the emulated-CPU comparisons (minutes under QEMU) run once, in the full environment.
RUNTIME_ONLY = any(importlib.util.find_spec(m) is None for m in ("torch", "onnx"))
collect_ignore_glob = [
    "distill/*", "speech/test_speech_quality_gate.py", "vision/test_gptq.py", "vision/test_int8_gate.py", "vision/test_int8_sweep.py",
    "vision/test_qat.py",
    "foundation/test_aarch64_emulated.py", "foundation/test_kernels_emulated.py", "quantize/test_fp16.py",
    "quantize/test_whisper_export.py",
] if RUNTIME_ONLY else []


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The evaluation data: ``$EDGE_SDK_DATA``, else this checkout's ``data/`` (also when the SDK under test is an
    installed wheel, whose own default has no checkout to point at)."""
    from edge_sdk.datasets import data_dir

    return data_dir(os.environ.get("EDGE_SDK_DATA") or REPO / "data")


@pytest.fixture(scope="session")
def int8_format() -> str:
    """The int8 format of the profile detected here (or named by ``EDGE_SDK_PROFILE``): the one ``prepare`` uses.

    Tests that run integer kernels quantize with it, so they hold on every CPU kind: ``u8s8`` where the kernel
    accumulates exactly (VNNI, AMX, ARM dot product), ``u8u8`` where it saturates (AVX2 without VNNI).
    """
    from edge_sdk.devices.resolve import resolve_device

    return resolve_device("auto").int8_format


DEFAULT_BUNDLES = {"speech": "whisper-tiny.en", "vision": "efficientnet-lite0", "text": "minilm-l6-extractive"}


def _bundle(what: str) -> Path:
    """Build the default bundle (skipped when up to date); in a runtime-only environment (no torch), use the one a
    full environment built into the same ``EDGE_SDK_HOME``, as a device uses bundles built on a host."""
    if RUNTIME_ONLY:
        from edge_sdk.bundle import bundles_dir

        path = bundles_dir() / DEFAULT_BUNDLES[what]
        if not (path / "bundle.json").is_file():
            pytest.fail(f"runtime-only environment and no {path}: build the bundles with the full environment first")
        return path
    from edge_sdk.quantize.prepare import prepare

    return prepare(what)[0]


@pytest.fixture(scope="session")
def speech_bundle() -> Path:
    """Folder of the default speech bundle (Whisper tiny.en + Silero VAD)."""
    return _bundle("speech")


@pytest.fixture(scope="session")
def vision_bundle() -> Path:
    """Folder of the default vision bundle (EfficientNet-Lite0)."""
    return _bundle("vision")


@pytest.fixture(scope="session")
def text_bundle() -> Path:
    """Folder of the default text bundle (all-MiniLM-L6-v2 extractive)."""
    return _bundle("text")
