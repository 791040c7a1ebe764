"""Device detection from real machine files, profile resolution and fallback recording."""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edge_sdk.devices import detect, list_profiles, load_profile, read_machine, resolve
from edge_sdk.devices.detect import choose_profile
from edge_sdk.devices.doctor import check_provider, run_doctor
from edge_sdk.devices.kernels import u8s8_probe_model, u8s8_saturates
from edge_sdk.errors import InvalidInputError, ProviderUnavailableError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "machines"
CPU_ONLY = ("CPUExecutionProvider",)
CUDA = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


@pytest.mark.parametrize(
    ("machine", "providers", "expected"),
    [
        ("x86-vnni", CPU_ONLY, "x86_64-vnni"),
        ("x86-avx2", CPU_ONLY, "x86_64-avx2"),
        ("arm64-dotprod", CPU_ONLY, "arm64"),
        ("jetson-orin-nano", CUDA, "jetson-orin"),
        ("jetson-nano", CUDA, "jetson-nano"),
        ("x86-avx2", ("CUDAExecutionProvider", "CPUExecutionProvider"), "cuda"),
    ],
)
def test_detection_picks_profile_from_machine_files(machine, providers, expected):
    assert detect(FIXTURES / machine, providers)[0] == expected


def test_detection_reads_flags_model_and_memory():
    orin = read_machine(FIXTURES / "jetson-orin-nano", CUDA)
    assert orin.jetson_model == "NVIDIA Jetson Orin Nano Developer Kit"
    assert orin.tegra_release.startswith("# R36")
    assert orin.arch == "aarch64" and orin.has_dotprod and orin.cores == 6
    nano = read_machine(FIXTURES / "jetson-nano", CUDA)
    assert not nano.has_dotprod and nano.memory_bytes == 4051032 * 1024
    assert read_machine(FIXTURES / "x86-vnni", CPU_ONLY).has_vnni
    assert not read_machine(FIXTURES / "x86-avx2", CPU_ONLY).has_vnni


def test_an_arm64_core_is_named_from_its_midr_when_cpuinfo_has_no_model_name():
    """arm64 kernels print only "CPU implementer" and "CPU part"; a board's device-tree name still comes first."""
    assert read_machine(FIXTURES / "arm64-dotprod", CPU_ONLY).cpu_model == "ARM Neoverse-N1"
    nano = read_machine(FIXTURES / "jetson-nano", CUDA)
    assert nano.cpu_model == nano.jetson_model == "NVIDIA Jetson Nano Developer Kit"


def test_vnni_in_the_flags_is_not_trusted_when_the_kernel_saturates():
    """An emulator or a VM can report VNNI that onnxruntime's integer kernel does not use: the measurement wins."""
    facts = dataclasses.replace(read_machine(FIXTURES / "x86-vnni", CPU_ONLY), u8s8_saturates=True)
    assert not facts.has_vnni and choose_profile(facts) == "x86_64-avx2"
    assert choose_profile(dataclasses.replace(facts, u8s8_saturates=False)) == "x86_64-vnni"


@pytest.mark.kernel
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the u8 x s8 saturation is an x86 kernel's")
def test_the_detected_profile_int8_format_is_exact_on_this_kernel():
    """The u8s8 probe gives one of the two values a real kernel gives, and the detected profile's int8 format is one
    this kernel computes without saturation (the doctor's int8 check passes; a u8s8 profile fails where it would)."""
    sess = ort.InferenceSession(u8s8_probe_model(), providers=["CPUExecutionProvider"])
    y = int(sess.run(None, {"a": np.full((1, 64), 255, np.uint8)})[0][0, 0])
    assert y == (32 * 32767 if u8s8_saturates() else 255 * 127 * 64)
    facts = detect()[1]
    name = choose_profile(dataclasses.replace(facts, providers=CPU_ONLY))
    assert facts.u8s8_saturates == u8s8_saturates() and name == ("x86_64-avx2" if u8s8_saturates() else "x86_64-vnni")
    int8_check = run_doctor(load_profile(name))[-1]
    assert int8_check.provider == f"int8 format {load_profile(name).int8_format}" and int8_check.ok, int8_check
    vnni_check = run_doctor(load_profile("x86_64-vnni"))[-1]
    assert vnni_check.ok != u8s8_saturates() and ("saturates" in vnni_check.error) == u8s8_saturates()


def test_int8_format_follows_vnni():
    assert load_profile("x86_64-vnni").int8_format == "u8s8"
    assert load_profile("x86_64-avx2").int8_format == "u8u8"
    assert load_profile("jetson-nano").int8_format == "none"
    assert "int8" not in load_profile("jetson-nano").variants


def test_every_shipped_profile_loads_and_names_providers():
    names = list_profiles()
    assert {"x86_64-avx2", "x86_64-vnni", "arm64", "cuda", "jetson-orin", "jetson-nano"} <= set(names)
    for name in names:
        p = load_profile(name)
        assert p.providers and p.variants
    assert "nvarguscamerasrc" in load_profile("jetson-orin").capture.camera_pipeline


def test_resolution_is_frozen_and_printable():
    r = resolve(load_profile("x86_64-vnni"), CPU_ONLY)
    assert r.providers == CPU_ONLY and r.fallback is None and r.variants[0] == "int8"
    assert json.loads(str(r))["profile"] == "x86_64-vnni"
    with pytest.raises(AttributeError):
        r.profile = "x"  # type: ignore[misc]


def test_missing_required_provider_raises_with_available_list():
    with pytest.raises(ProviderUnavailableError, match=r"CUDAExecutionProvider.*CPUExecutionProvider") as info:
        resolve(load_profile("cuda"), CPU_ONLY)
    assert isinstance(info.value, RuntimeError)


def test_allowed_fallback_is_recorded():
    r = resolve(load_profile("jetson-orin"), ("CUDAExecutionProvider", "CPUExecutionProvider"))
    assert r.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert "TensorrtExecutionProvider unavailable" in r.fallback
    cpu = resolve(load_profile("jetson-orin"), CPU_ONLY)
    assert cpu.providers == CPU_ONLY and "CUDAExecutionProvider" in cpu.fallback
    assert cpu.variants[0] == "fp32"  # fp16 moves behind fp32 when only the CPU runs


def test_signature_settings_default_off_and_resolve_relative_to_the_profile(tmp_path):
    """Shipped profiles keep loading unsigned bundles; a profile's trusted_keys are read from its own folder."""
    assert all(not load_profile(n).require_signed and not load_profile(n).trusted_keys for n in list_profiles())
    base = 'name = "t"\nvariants = ["fp32"]\n[[providers]]\nname = "CPUExecutionProvider"\n'
    (tmp_path / "t.toml").write_text('require_signed = true\ntrusted_keys = ["keys", "/etc/k.pub"]\n' + base)
    r = resolve(load_profile(tmp_path / "t.toml"), CPU_ONLY)
    assert r.require_signed and r.trusted_keys == (str(tmp_path / "keys"), "/etc/k.pub")
    (tmp_path / "bad.toml").write_text('require_signed = "yes"\n' + base)
    with pytest.raises(InvalidInputError, match="require_signed must be true or false"):
        load_profile(tmp_path / "bad.toml")


def test_session_memory_and_spinning_settings_default_off_and_reach_the_session_options(tmp_path):
    """The arena and busy-waiting threads are off unless a profile turns them on; a non-bool is refused."""
    from edge_sdk.runtime import session_options

    assert all(not load_profile(n).cpu_mem_arena and not load_profile(n).intra_op_spinning for n in list_profiles())
    off = session_options(resolve(load_profile("x86_64-avx2"), CPU_ONLY))
    assert not off.enable_cpu_mem_arena and off.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    base = 'name = "t"\nvariants = ["fp32"]\n[[providers]]\nname = "CPUExecutionProvider"\n'
    (tmp_path / "t.toml").write_text("cpu_mem_arena = true\nintra_op_spinning = true\n" + base)
    on = session_options(resolve(load_profile(tmp_path / "t.toml"), CPU_ONLY))
    assert on.enable_cpu_mem_arena and on.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    (tmp_path / "bad.toml").write_text("intra_op_spinning = 1\n" + base)
    with pytest.raises(InvalidInputError, match="intra_op_spinning must be true or false"):
        load_profile(tmp_path / "bad.toml")


def test_mem_pattern_defaults_off_and_reaches_the_session_options(tmp_path):
    """onnxruntime's memory pattern is off unless a profile turns it on (a block per window length, held)."""
    from edge_sdk.runtime import session_options

    assert all(not load_profile(n).mem_pattern for n in list_profiles())
    assert not session_options(resolve(load_profile("x86_64-avx2"), CPU_ONLY)).enable_mem_pattern
    base = 'name = "t"\nvariants = ["fp32"]\n[[providers]]\nname = "CPUExecutionProvider"\n'
    (tmp_path / "t.toml").write_text("mem_pattern = true\n" + base)
    assert session_options(resolve(load_profile(tmp_path / "t.toml"), CPU_ONLY)).enable_mem_pattern
    (tmp_path / "bad.toml").write_text('mem_pattern = "no"\n' + base)
    with pytest.raises(InvalidInputError, match="mem_pattern must be true or false"):
        load_profile(tmp_path / "bad.toml")


def test_malloc_mmap_threshold_reaches_mallopt_once_per_value(tmp_path, monkeypatch, text_bundle, speech_bundle):
    """A speech model fixes glibc's mmap threshold from the profile (1 MiB by default, 0: glibc's own rule); a text
    model leaves it (its mid-sized buffers would be mapped again on every call)."""
    import edge_sdk.runtime as runtime

    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: Libc())
    runtime.set_malloc_mmap_threshold.cache_clear()
    assert all(load_profile(n).malloc_mmap_threshold_kb == 1024 for n in list_profiles())
    runtime.load_model(str(text_bundle), "fp32", task="text")
    assert calls == []
    runtime.load_model(str(speech_bundle), "fp32", task="speech")
    assert calls == [(-3, 1024 * 1024)]
    assert runtime.set_malloc_mmap_threshold(1024) and calls == [(-3, 1024 * 1024)]  # cached: mallopt called once
    assert not runtime.set_malloc_mmap_threshold(0) and len(calls) == 1
    base = 'name = "t"\nvariants = ["fp32"]\n[[providers]]\nname = "CPUExecutionProvider"\n'
    (tmp_path / "bad.toml").write_text("malloc_mmap_threshold_kb = -1\n" + base)
    with pytest.raises(InvalidInputError, match="malloc_mmap_threshold_kb -1 must be KiB"):
        load_profile(tmp_path / "bad.toml")
    runtime.set_malloc_mmap_threshold.cache_clear()


def test_unknown_profile_names_the_shipped_ones():
    with pytest.raises(InvalidInputError, match="x86_64-vnni"):
        load_profile("no-such-target")


def test_doctor_runs_the_tiny_model_on_cpu():
    check = check_provider("CPUExecutionProvider", {})
    assert check.ok and check.executed_on == "CPUExecutionProvider" and check.latency_ms > 0


def test_doctor_fails_on_a_provider_onnxruntime_lacks():
    checks = run_doctor(load_profile("cuda"))
    cuda = [c for c in checks if c.provider == "CUDAExecutionProvider"][0]
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA; the failure path needs a CPU-only onnxruntime")
    assert not cuda.ok and "available" in cuda.error


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_sdk", *args], capture_output=True, text=True, timeout=120)


def test_cli_devices_json_names_profile_and_real_providers():
    out = _cli("devices", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    import onnxruntime

    assert data["machine"]["onnxruntime_providers"] == onnxruntime.get_available_providers()
    assert data["profile"] == detect()[0]


def test_cli_doctor_passes_here_and_fails_for_missing_cuda():
    assert _cli("devices", "--doctor").returncode == 0
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    bad = _cli("--profile", "cuda", "devices", "--doctor")
    assert bad.returncode == 4 and "CUDAExecutionProvider" in bad.stdout and "CPUExecutionProvider" in bad.stdout
