"""What a benchmark ran on: machine, versions, GPU, Jetson power mode."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
from pathlib import Path

from edge_sdk.devices.detect import read_machine

PACKAGES = ("edge-sdk", "onnxruntime", "onnxruntime-gpu", "numpy", "tokenizers", "opencv-python-headless", "sounddevice", "faster-whisper", "ctranslate2", "torch")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def gpu() -> dict | None:
    """NVIDIA GPU name, driver and memory from nvidia-smi, or None."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        line = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip().splitlines()[0]
    except (subprocess.SubprocessError, IndexError, OSError):
        return None
    name, driver, memory = (s.strip() for s in line.split(","))
    return {"name": name, "driver": driver, "memory": memory}


def jetson_power_mode() -> str | None:
    if not shutil.which("nvpmodel"):
        return None
    try:
        return subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (subprocess.SubprocessError, OSError):
        return None


def describe(root: str | Path = "/") -> dict:
    """Machine description for ``report.json``."""
    facts = read_machine(root)
    out = facts.describe()
    out.update(platform=platform.platform(), gpu=gpu(), jetson_power_mode=jetson_power_mode() if facts.jetson_model else None)
    return out
