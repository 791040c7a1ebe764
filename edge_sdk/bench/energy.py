"""Energy meters where the platform exposes it: Jetson INA3221 rails, RAPL powercap, NVML.

``with meter: work()``, then ``meter.joules``. Counters (RAPL, NVML's total energy) are read at the start and the
end; instantaneous power (the Jetson rails, a GPU whose NVML has no energy counter) is sampled on a thread and
integrated. :func:`open_meter` returns the first source that works here, or a meter whose ``reason`` says why none
does. Units, as the kernel and NVML give them:

- INA3221 hwmon driver (JetPack 5 and 6, ``/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/``, see the kernel's
  Documentation/hwmon/ina3221.rst): ``in1..3_input`` bus voltage in mV, ``curr1..3_input`` current in mA,
  ``in1..3_label`` the rail. ``in4..6_input`` are shunt voltages in uV and ``in7_input`` their sum: not power.
- INA3221x iio driver (JetPack 4, ``/sys/bus/i2c/drivers/ina3221x/*/iio:device*/``): ``in_power{n}_input`` in mW,
  ``rail_name_{n}`` the rail.
- RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``): microjoules, wrapping at ``max_energy_range_uj``.
- NVML (``nvidia-ml-py``): ``nvmlDeviceGetTotalEnergyConsumption`` in mJ since the driver loaded,
  ``nvmlDeviceGetPowerUsage`` in mW.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# The input rail is the whole module's power and the other rails are parts of it: it is the total, never a summand.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
NONE_READABLE = "no INA3221, RAPL or NVML energy source readable on this machine"


@dataclass(frozen=True)
class PowerReading:
    """Power at one instant.

    Attributes:
        rails_w: Watts per rail (for example ``VDD_IN``, ``VDD_CPU_GPU_CV``, ``VDD_SOC``).
        total_w: The input rail where the board has one, else the sum of the rails.
        total_rail: The input rail that ``total_w`` is, or None where ``total_w`` is the sum of the rails.
    """

    rails_w: dict[str, float]
    total_w: float
    total_rail: str | None


@dataclass(frozen=True)
class InaRail:
    """One INA3221 channel: its rail and the sysfs files it is read from.

    The iio driver (JetPack 4) reports power (``power_mw``); on the hwmon driver (JetPack 5, 6) power is bus
    voltage (``bus_mv``) x current (``current_ma``).
    """

    name: str
    bus_mv: Path | None = None
    current_ma: Path | None = None
    power_mw: Path | None = None

    def microwatts(self) -> int:
        """The rail's power now, in integer microwatts (mV x mA), so sums stay exact.

        Raises:
            OSError: A file is unreadable (a disabled channel reads ENODATA).
            ValueError: A file does not hold an integer.
        """
        if self.power_mw is not None:
            return int(self.power_mw.read_text()) * 1000
        return int(self.bus_mv.read_text()) * int(self.current_ma.read_text())


def _text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def find_ina3221_rails(root: str | Path = "/") -> list[InaRail]:
    """The labelled INA3221 channels under ``root``: hwmon (JetPack 5, 6) and iio (JetPack 4) layouts.

    Channels labelled ``NC`` (not connected, AGX Orin), unlabelled or disabled ones are left out, and so are the
    shunt-voltage and summation channels (``in4..7``), which are not rails.

    Args:
        root: Filesystem root that holds ``sys/``; tests point it at fixture trees.

    Returns:
        The rails in device order; empty where there is no INA3221.
    """
    root, rails = Path(root), []
    for hwmon in sorted(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*")):
        for n in (1, 2, 3):
            label = _text(hwmon / f"in{n}_label")
            if not label or label == "NC" or _text(hwmon / f"in{n}_enable") == "0":
                continue
            name = _unique(label, rails, hwmon.parent.parent.name)
            rails.append(InaRail(name, bus_mv=hwmon / f"in{n}_input", current_ma=hwmon / f"curr{n}_input"))
    for iio in sorted(root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*")):
        for label_file in sorted(iio.glob("rail_name_*")):
            n, label = label_file.name.removeprefix("rail_name_"), _text(label_file)
            if label and label != "NC":
                rails.append(InaRail(_unique(label, rails, iio.parent.name), power_mw=iio / f"in_power{n}_input"))
    return rails


def _unique(label: str, rails: list[InaRail], device: str) -> str:
    return f"{label} ({device})" if any(r.name == label for r in rails) else label


def read_ina3221(rails: list[InaRail]) -> PowerReading:
    """Read every rail once; the total is the input rail (``VDD_IN``, ``POM_5V_IN``) or, without one, the sum.

    Raises:
        OSError, ValueError: A rail could not be read.
    """
    uw = {rail.name: rail.microwatts() for rail in rails}
    total_rail = next((name for name in INPUT_RAILS if name in uw), None)
    total_uw = uw[total_rail] if total_rail else sum(uw.values())
    return PowerReading({name: v / 1e6 for name, v in uw.items()}, total_uw / 1e6, total_rail)


def jetson_power(root: str | Path = "/") -> PowerReading | None:
    """Jetson power now, per rail and in total; None where no INA3221 is readable.

    Args:
        root: Filesystem root that holds ``sys/``.
    """
    rails = find_ina3221_rails(root)
    try:
        return read_ina3221(rails) if rails else None
    except (OSError, ValueError):
        return None


class EnergyMeter:
    """Measures the energy of a block of work: ``with meter: work()``, then ``meter.joules``.

    This base class is the meter of a machine where nothing is measurable: ``joules`` stays None and ``reason``
    says why. A working meter names its ``source`` (``jetson-ina``, ``rapl``, ``nvml``) and its ``scope`` (what
    the joules cover: the board input, the CPU package, one GPU).
    """

    source = "unavailable"

    def __init__(self, reason: str = NONE_READABLE, scope: str = ""):
        self.reason, self.scope = reason, scope
        self.joules: float | None = None
        self.seconds: float | None = None
        self.rails_j: dict[str, float] | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def report(self, inferences: int) -> dict:
        """The bench row's ``energy`` field for ``inferences`` runs measured in one block.

        ``joules_per_inference`` (and ``rails_joules_per_inference`` on a Jetson) is None where nothing was
        measured or nothing ran. It covers the whole ``scope`` while the block ran, idle draw included.
        """
        measured = self.joules is not None and inferences > 0
        return {
            "source": self.source,
            "scope": self.scope or None,
            "joules": round(self.joules, 6) if self.joules is not None else None,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "mean_power_w": round(self.joules / self.seconds, 3) if self.joules is not None and self.seconds else None,
            "joules_per_inference": round(self.joules / inferences, 6) if measured else None,
            "rails_joules_per_inference": {k: round(v / inferences, 6) for k, v in self.rails_j.items()} if measured and self.rails_j else None,
            "reason": self.reason or None,
        }


class _PollingMeter(EnergyMeter):
    """A meter whose ``_poll`` runs every ``interval_s`` on a thread, and once more at the end of the block."""

    def __init__(self, scope: str, interval_s: float, clock: Callable[[], float]):
        super().__init__("", scope)
        self.interval_s, self.clock = interval_s, clock

    def _begin(self, t: float) -> None:
        raise NotImplementedError

    def _poll(self, t: float) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._poll(self.clock())
            except (OSError, ValueError) as exc:  # one bad read: the next poll spans the gap
                logger.warning("%s: a reading failed (%s); the next one covers the gap", self.source, exc)

    def __enter__(self):
        self._t0 = self.clock()
        self._begin(self._t0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"energy-{self.source}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        t = self.clock()
        self._poll(t)
        self.seconds = t - self._t0


class RaplMeter(_PollingMeter):
    """CPU package energy from the powercap RAPL counters (``energy_uj``, microjoules).

    The counters wrap at ``max_energy_range_uj`` (about 262 kJ on Intel, 65 kJ on AMD: a few minutes at full
    load); reading them every ``interval_s`` counts each wrap, however long the block.
    """

    source = "rapl"

    def __init__(self, zones: list[Path], interval_s: float = 10.0, clock: Callable[[], float] = time.perf_counter):
        super().__init__(f"CPU package ({', '.join(_text(z / 'name') for z in zones)})", interval_s, clock)
        self.files = [z / "energy_uj" for z in zones]
        self.ranges = [int((z / "max_energy_range_uj").read_text()) for z in zones]

    def _read(self) -> list[int]:
        return [int(f.read_text()) for f in self.files]

    def _begin(self, t: float) -> None:
        self._last, self._uj = self._read(), 0

    def _poll(self, t: float) -> None:
        now = self._read()
        self._uj += sum((n - last) % r for last, n, r in zip(self._last, now, self.ranges, strict=True))
        self._last = now
        self.joules = self._uj / 1e6


class SampledPowerMeter(_PollingMeter):
    """Integrates power (a :class:`PowerReading`, total and per rail) sampled every ``interval_s`` (trapezoids)."""

    def __init__(self, source: str, scope: str, read: Callable[[], PowerReading], interval_s: float = 0.05,
                 clock: Callable[[], float] = time.perf_counter):
        self.source = source
        super().__init__(scope, interval_s, clock)
        self.read = read

    def _begin(self, t: float) -> None:
        self._t, self._last = t, self.read()
        self.joules, self.rails_j = 0.0, dict.fromkeys(self._last.rails_w, 0.0)

    def _poll(self, t: float) -> None:
        reading, dt = self.read(), t - self._t
        self.joules += (reading.total_w + self._last.total_w) / 2 * dt
        for name, w in reading.rails_w.items():
            self.rails_j[name] = self.rails_j.get(name, 0.0) + (w + self._last.rails_w.get(name, w)) / 2 * dt
        self._t, self._last = t, reading


class NvmlEnergyMeter(EnergyMeter):
    """One GPU's energy from NVML's total-energy counter (millijoules since the driver loaded; Volta and newer)."""

    source = "nvml"

    def __init__(self, pynvml, handle, label: str, clock: Callable[[], float] = time.perf_counter):
        super().__init__("", f"GPU {label}")
        self.pynvml, self.handle, self.clock = pynvml, handle, clock

    def __enter__(self):
        self._t0, self._mj0 = self.clock(), self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        return self

    def __exit__(self, *exc) -> None:
        mj = self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        self.seconds, self.joules = self.clock() - self._t0, (mj - self._mj0) / 1000


def _jetson_ina(root: Path) -> EnergyMeter | str:
    rails = find_ina3221_rails(root)
    if not rails:
        return "INA3221: no rails under /sys/bus/i2c/drivers/ina3221*"
    try:
        first = read_ina3221(rails)
    except (OSError, ValueError) as exc:
        return f"INA3221: {exc}"
    scope = f"board input rail {first.total_rail}" if first.total_rail else f"sum of rails {', '.join(first.rails_w)}"
    return SampledPowerMeter("jetson-ina", scope, lambda: read_ina3221(rails))


def _rapl(root: Path) -> EnergyMeter | str:
    # Top-level package zones only: subzones (intel-rapl:0:0 core, uncore, dram) are parts of a package or outside
    # it, and psys (platform) already includes the package.
    zones = [z for z in sorted(root.glob("sys/class/powercap/intel-rapl:*"))
             if re.fullmatch(r"intel-rapl:\d+", z.name) and _text(z / "name").startswith("package-")]
    if not zones:
        return "RAPL: no package zone under /sys/class/powercap"
    try:
        meter = RaplMeter(zones)
        meter._read()
    except PermissionError:
        return "RAPL: energy_uj is readable by root only (Linux 5.10 and later)"
    except (OSError, ValueError) as exc:
        return f"RAPL: {exc}"
    return meter


def _cuda_device(pynvml) -> tuple[object, str]:
    """NVML handle of the GPU that CUDA numbers 0: the first of ``CUDA_VISIBLE_DEVICES`` (an index or a UUID).

    NVML counts GPUs in PCI bus order, as CUDA does with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``.
    """
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if first.startswith("GPU-"):
        handle = pynvml.nvmlDeviceGetHandleByUUID(first)
    else:
        handle = pynvml.nvmlDeviceGetHandleByIndex(int(first) if first.isdigit() else 0)
    name = pynvml.nvmlDeviceGetName(handle)
    return handle, name.decode() if isinstance(name, bytes) else name


def _nvml(root: Path) -> EnergyMeter | str:
    try:
        import pynvml
    except ImportError:
        return "NVML: nvidia-ml-py is not installed (pip install 'edge-sdk-ondevice[cuda]')"
    try:
        pynvml.nvmlInit()  # reference-counted; stays initialised for this process
        handle, label = _cuda_device(pynvml)
    except pynvml.NVMLError as exc:
        return f"NVML: {exc}"
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return NvmlEnergyMeter(pynvml, handle, label)
    except pynvml.NVMLError_NotSupported:
        pass  # before Volta: sample the power instead
    except pynvml.NVMLError as exc:
        return f"NVML: {exc}"

    def read() -> PowerReading:
        watts = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000
        return PowerReading({label: watts}, watts, None)

    try:
        read()
    except pynvml.NVMLError as exc:
        return f"NVML: {label} has neither an energy counter nor a power reading: {exc}"
    logger.info("%s has no NVML energy counter: sampling its power every 50 ms", label)
    return SampledPowerMeter("nvml", f"GPU {label} (power sampled: no energy counter)", read)


def open_meter(root: str | Path = "/", gpu: bool = False) -> EnergyMeter:
    """The first energy source that works here, else an :class:`EnergyMeter` whose ``reason`` says why none does.

    A Jetson's INA3221 comes first (it covers the whole module). Then RAPL, which covers the CPU package only, and
    NVML, which covers one GPU; ``gpu`` puts NVML before RAPL.

    Args:
        root: Filesystem root that holds ``sys/``; tests point it at fixture trees.
        gpu: The work runs on an NVIDIA GPU (CUDA or TensorRT provider).
    """
    root = Path(root)
    probes = (_jetson_ina, _nvml, _rapl) if gpu else (_jetson_ina, _rapl, _nvml)
    reasons = []
    for probe in probes:
        found = probe(root)
        if isinstance(found, EnergyMeter):
            return found
        reasons.append(found)
    return EnergyMeter(f"{NONE_READABLE}: {'; '.join(reasons)}")
