"""Energy meters where the platform exposes power: RAPL powercap, Jetson INA rails, NVML.

Each meter reads cumulative joules (or integrates power) around a block of work;
:func:`open_meter` returns the first that works here, or a meter that says why none does.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import threading
import time
from pathlib import Path


class EnergyMeter:
    """Context manager: ``with meter: work()``, then ``meter.joules`` (None when unavailable)."""

    source = "unavailable"

    def __init__(self, reason: str = "no RAPL, INA or NVML power source readable on this machine"):
        self.reason = reason
        self.joules: float | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class RaplMeter(EnergyMeter):
    """Intel/AMD RAPL package energy from /sys/class/powercap (needs read access)."""

    source = "rapl"

    def __init__(self, files: list[Path]):
        super().__init__("")
        self.files = files
        self.ranges = [int((f.parent / "max_energy_range_uj").read_text()) for f in files]

    def _read(self) -> list[int]:
        return [int(f.read_text()) for f in self.files]

    def __enter__(self):
        self.start = self._read()
        return self

    def __exit__(self, *exc) -> None:
        end = self._read()
        total = sum((e - s) % r for s, e, r in zip(self.start, end, self.ranges, strict=True))
        self.joules = total / 1e6


class SampledPowerMeter(EnergyMeter):
    """Integrates a power reading (watts) sampled every 50 ms on a thread."""

    def __init__(self, source: str, read_watts):
        super().__init__("")
        self.source, self.read_watts = source, read_watts

    def _loop(self) -> None:
        last = time.perf_counter()
        while not self.stop.is_set():
            time.sleep(0.05)
            now = time.perf_counter()
            self.total += self.read_watts() * (now - last)
            last = now

    def __enter__(self):
        self.total, self.stop = 0.0, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.joules = self.total


def _rapl() -> EnergyMeter | None:
    files = [Path(p) for p in glob.glob("/sys/class/powercap/intel-rapl:[0-9]*/energy_uj")]
    try:
        if files and all(int(f.read_text()) >= 0 for f in files):
            return RaplMeter(files)
    except (OSError, ValueError):
        return None
    return None


def _jetson_ina() -> EnergyMeter | None:
    # Orin: in_power*_input in mW (hwmon); older JetPack: in_power0_input under iio.
    files = glob.glob("/sys/bus/i2c/drivers/ina3221*/*/hwmon/hwmon*/in*_input") + glob.glob("/sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_power*_input")
    power = [Path(f) for f in files if "power" in f or "curr" not in f]
    if not power:
        return None
    try:
        [int(p.read_text()) for p in power]
    except (OSError, ValueError):
        return None
    return SampledPowerMeter("jetson-ina", lambda: sum(int(p.read_text()) for p in power) / 1000.0)


def _nvml() -> EnergyMeter | None:
    if not shutil.which("nvidia-smi"):
        return None

    def watts() -> float:
        out = subprocess.run(["nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
        return float(out.stdout.split()[0])

    try:
        watts()
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None
    return SampledPowerMeter("nvml", watts)


def open_meter() -> EnergyMeter:
    """The first energy source that works here, else an :class:`EnergyMeter` saying none does."""
    for probe in (_rapl, _jetson_ina, _nvml):
        meter = probe()
        if meter is not None:
            return meter
    return EnergyMeter()
