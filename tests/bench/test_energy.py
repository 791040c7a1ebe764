"""Energy meters on fixture copies of real sysfs layouts (Jetson INA3221 on JetPack 4, 5 and 6; RAPL), NVML through a
fake of the pynvml module (no GPU on the test machines), and energy per inference in the bench report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_sdk.bench.energy import (
    NvmlEnergyMeter,
    PowerReading,
    RaplMeter,
    SampledPowerMeter,
    find_ina3221_rails,
    jetson_power,
    open_meter,
    read_ina3221,
)
from edge_sdk.bench.report import compare, render_markdown

POWER = Path(__file__).parent.parent / "fixtures" / "power"
RAPL_RANGE_UJ = 262143328850  # max_energy_range_uj in the x86-rapl fixture


def _copy(tmp_path: Path, machine: str) -> Path:
    return shutil.copytree(POWER / machine, tmp_path / machine)


def _write(path: Path, value: int) -> None:
    """Replace a sysfs value in one step, as the kernel serves it: a polling thread never reads a half-written file."""
    new = path.with_name(path.name + ".new")
    new.write_text(f"{value}\n")
    os.replace(new, path)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- Jetson INA3221 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "rails_w", "total_w"),
    [
        # JetPack 6, hwmon: VDD_IN 5032 mV x 1184 mA, VDD_CPU_GPU_CV 5024 x 232, VDD_SOC 5024 x 456
        ("jetson-orin-nano-jp6", {"VDD_IN": 5.957888, "VDD_CPU_GPU_CV": 1.165568, "VDD_SOC": 2.290944}, 5.957888),
        # JetPack 5, hwmon: VDD_IN 5048 mV x 2088 mA, VDD_CPU_GPU_CV 5040 x 784, VDD_SOC 5040 x 632
        ("jetson-orin-nx-jp5", {"VDD_IN": 10.540224, "VDD_CPU_GPU_CV": 3.95136, "VDD_SOC": 3.18528}, 10.540224),
    ],
)
def test_hwmon_rail_power_is_bus_millivolts_times_milliamps_and_input_rail_is_the_total(machine, rails_w, total_w):
    reading = jetson_power(POWER / machine)
    assert reading == PowerReading(rails_w, total_w, "VDD_IN")
    assert reading.total_w < sum(reading.rails_w.values())  # the input rail was not added to its sub-rails


def test_shunt_voltage_and_summation_channels_are_not_rails():
    """in4..6 (shunt uV) and in7 ("sum of shunt voltages") are present in the fixture and must not be read as rails."""
    hwmon = POWER / "jetson-orin-nano-jp6/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
    assert (hwmon / "in7_label").read_text().strip() == "sum of shunt voltages" and (hwmon / "in4_input").is_file()
    rails = find_ina3221_rails(POWER / "jetson-orin-nano-jp6")
    assert [(r.name, r.bus_mv.name, r.current_ma.name) for r in rails] == [
        ("VDD_IN", "in1_input", "curr1_input"), ("VDD_CPU_GPU_CV", "in2_input", "curr2_input"), ("VDD_SOC", "in3_input", "curr3_input"),
    ]


def test_agx_orin_without_input_rail_totals_its_rails_and_skips_unconnected_channels():
    reading = jetson_power(POWER / "jetson-agx-orin-jp5")
    # 19160 mV x 312 mA, 19160 x 104, 4976 x 480 on 1-0040; 4976 x 60 on 1-0041, whose channels 1 and 3 are NC
    assert reading == PowerReading({"VDD_GPU_SOC": 5.97792, "VDD_CPU_CV": 1.99264, "VIN_SYS_5V0": 2.38848, "VDDQ_VDD2_1V8AO": 0.29856}, 10.6576, None)


def test_jetpack4_iio_power_is_read_as_given_in_milliwatts():
    # in_power0_input is 2560 mW while in_voltage0 x in_current0 is 5072 mV x 504 mA = 2556.288 mW: power is taken as given
    assert jetson_power(POWER / "jetson-nano-jp4") == PowerReading({"POM_5V_IN": 2.56, "POM_5V_GPU": 0.203, "POM_5V_CPU": 0.603}, 2.56, "POM_5V_IN")


def test_no_ina3221_means_no_jetson_power(tmp_path):
    assert jetson_power(tmp_path) is None and find_ina3221_rails(POWER / "x86-rapl") == []


def test_jetson_meter_integrates_the_input_rail_over_the_block():
    meter = open_meter(POWER / "jetson-orin-nano-jp6")
    assert (meter.source, meter.scope) == ("jetson-ina", "board input rail VDD_IN")
    with meter:
        time.sleep(0.12)  # a couple of 50 ms samples on the thread
    assert 0.12 <= meter.seconds < 2
    assert meter.joules == pytest.approx(5.957888 * meter.seconds, rel=1e-9)
    assert meter.rails_j == pytest.approx({"VDD_IN": 5.957888 * meter.seconds, "VDD_CPU_GPU_CV": 1.165568 * meter.seconds, "VDD_SOC": 2.290944 * meter.seconds}, rel=1e-9)


def test_sampled_power_is_integrated_with_trapezoids(tmp_path):
    root, clock = _copy(tmp_path, "jetson-orin-nano-jp6"), FakeClock()
    rails = find_ina3221_rails(root)
    meter = SampledPowerMeter("jetson-ina", "board input rail VDD_IN", lambda: read_ina3221(rails), interval_s=3600, clock=clock)
    with meter:  # starts at 5.957888 W on VDD_IN
        _write(root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/curr1_input", 2368)  # 5032 mV x 2368 mA = 11.915776 W
        clock.now = 0.5
    assert meter.seconds == 0.5
    assert meter.joules == pytest.approx((5.957888 + 11.915776) / 2 * 0.5, rel=1e-12)
    assert meter.rails_j["VDD_SOC"] == pytest.approx(2.290944 * 0.5, rel=1e-12)


# --- RAPL ----------------------------------------------------------------------------------------------------------


def test_rapl_counts_package_zones_not_subzones_or_psys(tmp_path):
    root = _copy(tmp_path, "x86-rapl")
    zones = root / "sys/class/powercap"
    meter = open_meter(root)
    assert isinstance(meter, RaplMeter) and meter.scope == "CPU package (package-0)"
    with meter:
        _write(zones / "intel-rapl:0/energy_uj", 43290147331 + 12_500_000)
        _write(zones / "intel-rapl:0:0/energy_uj", 18110522806 + 8_000_000)  # core: part of the package
        _write(zones / "intel-rapl:1/energy_uj", 95321876421 + 30_000_000)  # psys: includes the package
    assert meter.joules == 12.5


def test_rapl_counter_wrap_around(tmp_path):
    root = _copy(tmp_path, "x86-rapl")
    counter = root / "sys/class/powercap/intel-rapl:0/energy_uj"
    _write(counter, RAPL_RANGE_UJ - 2_000_000)
    with open_meter(root) as meter:
        _write(counter, 1_500_000)
    assert meter.joules == 3.5


def test_rapl_counts_every_wrap_of_a_long_block(tmp_path):
    root = _copy(tmp_path, "x86-rapl")
    zone = root / "sys/class/powercap/intel-rapl:0"
    _write(zone / "energy_uj", RAPL_RANGE_UJ - 1_000_000)
    meter = RaplMeter([zone], interval_s=0.005)
    steps = [RAPL_RANGE_UJ // 2, 1_000_000, RAPL_RANGE_UJ // 2, 2_000_000]  # wraps twice
    with meter:
        for value in steps:
            seen = meter.joules
            _write(zone / "energy_uj", value)
            deadline = time.monotonic() + 5
            while meter.joules == seen and time.monotonic() < deadline:  # wait for the thread's poll to see the value
                time.sleep(0.002)
    assert meter.joules == (2 * RAPL_RANGE_UJ + 2_000_000 + 1_000_000) / 1e6


# --- NVML ----------------------------------------------------------------------------------------------------------


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 9: "Driver Not Loaded"}[self.value]


class NVMLError_NotSupported(NVMLError):  # pynvml's name
    def __init__(self) -> None:
        super().__init__(3)


class FakeNvml:
    """The part of pynvml that energy.py calls, for one GPU; ``energy_mj`` and ``power_mw`` are what it reads."""

    NVMLError, NVMLError_NotSupported = NVMLError, NVMLError_NotSupported

    def __init__(self, energy_counter: bool = True, driver: bool = True) -> None:
        self.energy_counter, self.driver = energy_counter, driver
        self.energy_mj, self.power_mw, self.handles, self.power_reads = 987_654_321, 61_500, [], 0

    def nvmlInit(self) -> None:
        if not self.driver:
            raise NVMLError(9)

    def nvmlDeviceGetHandleByIndex(self, index: int):
        self.handles.append(index)
        return ("gpu", index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str):
        self.handles.append(uuid)
        return ("gpu", uuid)

    def nvmlDeviceGetName(self, handle) -> str:
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle) -> int:
        if not self.energy_counter:
            raise NVMLError_NotSupported()
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle) -> int:
        self.power_reads += 1
        return self.power_mw


@pytest.fixture
def no_subprocess(monkeypatch):
    """Every attempt to start a process is recorded and refused."""
    started = []

    def refuse(*args, **kwargs):
        started.append(args)
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    return started


def test_nvml_energy_is_the_difference_of_the_energy_counter(monkeypatch, tmp_path, no_subprocess):
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    meter = open_meter(tmp_path, gpu=True)
    assert isinstance(meter, NvmlEnergyMeter) and (meter.source, meter.scope) == ("nvml", "GPU NVIDIA H100 80GB HBM3")
    with meter:
        fake.energy_mj += 4_250  # millijoules
    assert meter.joules == 4.25
    assert fake.handles == [0] and fake.power_reads == 0 and no_subprocess == []


def test_nvml_without_energy_counter_integrates_power_usage(monkeypatch, tmp_path, no_subprocess):
    fake = FakeNvml(energy_counter=False)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meter = open_meter(tmp_path, gpu=True)
    assert isinstance(meter, SampledPowerMeter) and meter.source == "nvml" and "power sampled" in meter.scope
    with meter:
        time.sleep(0.12)
    assert meter.joules == pytest.approx(61.5 * meter.seconds, rel=1e-9)  # 61 500 mW
    assert fake.power_reads >= 3 and no_subprocess == []


@pytest.mark.parametrize(("visible", "handle"), [("2", 2), ("GPU-5f2c3b4e-1d2a-4c1b-9a4e-0e1f2a3b4c5d,0", "GPU-5f2c3b4e-1d2a-4c1b-9a4e-0e1f2a3b4c5d")])
def test_nvml_measures_the_gpu_cuda_uses(monkeypatch, tmp_path, visible, handle):
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    open_meter(tmp_path, gpu=True)
    assert fake.handles == [handle]


def test_gpu_work_prefers_nvml_and_cpu_work_rapl(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    assert open_meter(POWER / "x86-rapl", gpu=True).source == "nvml"
    assert open_meter(POWER / "x86-rapl", gpu=False).source == "rapl"


@pytest.mark.parametrize(("pynvml", "why"), [(None, "nvidia-ml-py is not installed"), (FakeNvml(driver=False), "NVML: Driver Not Loaded")])
def test_no_source_says_why_each_failed(monkeypatch, tmp_path, pynvml, why):
    monkeypatch.setitem(sys.modules, "pynvml", pynvml)
    meter = open_meter(tmp_path)
    with meter:
        pass
    assert meter.source == "unavailable" and meter.joules is None
    assert "INA3221: no rails" in meter.reason and "RAPL: no package zone" in meter.reason and why in meter.reason
    assert meter.report(10)["joules_per_inference"] is None


# --- energy per inference in the bench report -----------------------------------------------------------------------


def test_report_gives_joules_per_inference_per_rail_and_mean_power():
    clock = FakeClock()
    meter = SampledPowerMeter("jetson-ina", "board input rail VDD_IN", lambda: PowerReading({"VDD_IN": 8.0, "VDD_SOC": 2.0}, 8.0, "VDD_IN"), interval_s=3600, clock=clock)
    with meter:
        clock.now = 5.0
    assert meter.report(40) == {
        "source": "jetson-ina", "scope": "board input rail VDD_IN", "joules": 40.0, "seconds": 5.0, "mean_power_w": 8.0,
        "joules_per_inference": 1.0, "rails_joules_per_inference": {"VDD_IN": 1.0, "VDD_SOC": 0.25}, "reason": None,
    }
    assert meter.report(0)["joules_per_inference"] is None


def _report(energy: dict | None) -> dict:
    row = {"task": "vision", "variant": "int8", "latency_ms": {"p50": 4.0, "p95": 5.0}, "energy": energy}
    return {"profile": {"profile": "jetson-orin"}, "machine": {"cpu_model": "ARMv8"}, "created": "now", "energy_source": "jetson-ina (board input rail VDD_IN)",
            "results": [row], "references": []}


def test_markdown_shows_joules_per_inference_and_rails():
    md = render_markdown(_report({"joules_per_inference": 0.0123, "rails_joules_per_inference": {"VDD_IN": 0.0123, "VDD_SOC": 0.00456}}))
    header = next(line for line in md.splitlines() if line.startswith("| task"))
    row = next(line for line in md.splitlines() if line.startswith("| vision"))
    assert header.endswith("| J/inference |") and row.endswith("| 0.0123 |")
    assert "- vision/int8: VDD_IN 0.0123, VDD_SOC 0.00456" in md and "- energy: jetson-ina (board input rail VDD_IN)" in md


def test_markdown_shows_a_dash_where_energy_is_not_measurable():
    row = next(line for line in render_markdown(_report({"joules_per_inference": None})).splitlines() if line.startswith("| vision"))
    assert row.endswith("| - |")


def test_compare_flags_an_energy_regression():
    lines = compare(_report({"joules_per_inference": 0.010}), _report({"joules_per_inference": 0.013}))
    assert any("REGRESSION" in line and "energy.joules_per_inference" in line for line in lines)
