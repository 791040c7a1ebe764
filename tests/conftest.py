"""Shared fixtures: the shared data folder and the default bundles, built once and reused.

Bundles are built into ``.cache/test-home`` inside the checkout by ``edge_sdk.quantize.prepare``,
which skips a bundle whose recipe is unchanged, so only the first run pays for the build.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = REPO / ".cache" / "test-home"
os.environ.setdefault("EDGE_SDK_HOME", str(TEST_HOME))


def _shared_data() -> Path:
    for candidate in (os.environ.get("EDGE_SDK_DATA"), REPO.parent / "shared" / "data", REPO / "shared" / "data"):
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    raise RuntimeError("shared data not found: set EDGE_SDK_DATA to the folder that holds speech/, images/, text/")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _shared_data()


@pytest.fixture(scope="session")
def int8_format() -> str:
    """The int8 format of the profile detected here (or named by ``EDGE_SDK_PROFILE``): the one ``prepare`` uses.

    Tests that run integer kernels quantize with it, so they hold on every CPU kind: ``u8s8`` where the kernel
    accumulates exactly (VNNI, AMX, ARM dot product), ``u8u8`` where it saturates (AVX2 without VNNI).
    """
    from edge_sdk.devices.resolve import resolve_device

    return resolve_device("auto").int8_format


def _bundle(what: str) -> Path:
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
