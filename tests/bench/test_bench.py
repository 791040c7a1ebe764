"""A short bench run writes a complete, schema-valid report; comparisons flag regressions;
the CUDA check runs here with its CUDA parts skipped explicitly. No timing is asserted."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys

import onnxruntime
import pytest

from edge_sdk.bench.gpu_check import check_model
from edge_sdk.bench.gpu_check import run as gpu_check
from edge_sdk.bench.report import compare, validate
from edge_sdk.bundle import load_bundle


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, speech_bundle, text_bundle, data_dir):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "bench", "--quick", "--tasks", "speech,text", "--variants", "int8,fp32", "--out", str(out), "--data", str(data_dir)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, json.loads((out / "report.json").read_text()), proc.stdout


@pytest.mark.slow
def test_quick_bench_writes_complete_report(quick_report):
    out, report, stdout = quick_report
    assert validate(report) == []
    assert {(r["task"], r["variant"]) for r in report["results"]} == {("speech", "int8"), ("speech", "fp32"), ("text", "int8"), ("text", "fp32")}
    for r in report["results"]:
        assert r["providers"] == ["CPUExecutionProvider"] and r["latency_ms"]["n"] >= 4
        assert r["accuracy"]["value"] is not None and r["peak_rss_mb"] > 50 and r["model_size_mb"] > 1
        assert r["energy"]["source"] in ("unavailable", "rapl", "jetson-ina", "nvml")
    speech = {r["variant"]: r for r in report["results"] if r["task"] == "speech"}
    assert speech["int8"]["accuracy"]["metric"] == "wer" and speech["int8"]["accuracy"]["value"] < 15
    assert report["machine"]["onnxruntime_providers"] == onnxruntime.get_available_providers()
    assert (out / "report.md").read_text().startswith("# edge-sdk bench")
    if importlib.util.find_spec("matplotlib"):  # a runtime-only environment writes no charts
        assert (out / "speech.png").stat().st_size > 1000 and (out / "text.png").stat().st_size > 1000
    else:
        assert not list(out.glob("*.png"))
    assert "text int8 / fp32" in stdout


def test_compare_flags_a_latency_regression(quick_report):
    _, report, _ = quick_report
    slower = copy.deepcopy(report)
    slower["results"][0]["latency_ms"]["p50"] *= 1.5
    lines = compare(report, slower)
    assert any("REGRESSION" in line and "latency_ms.p50" in line for line in lines)
    assert not any("REGRESSION" in line for line in compare(report, report))


def test_validate_names_missing_fields():
    assert "missing top-level key 'results'" in validate({"schema": "edge-sdk-bench/1"})


def test_gpu_check_skips_explicitly_without_cuda(tmp_path, speech_bundle):
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA: the check runs for real")
    report = gpu_check(tmp_path)
    assert report["checks"] and all(c["status"] == "skipped" and "CPUExecutionProvider" in c["reason"] for c in report["checks"])
    assert (tmp_path / "gpu_check.json").is_file()


def test_gpu_check_compares_and_binds_on_a_real_model(speech_bundle):
    """The CUDA comparison path, run with the CPU provider standing in for the GPU one."""
    b = load_bundle(speech_bundle)
    for role in ("encoder", "decoder"):
        result = check_model(b.read(b.variants["fp32"].files[role]), f"fp32/{role}", "CPUExecutionProvider", io_device="cpu")
        assert result["status"] == "ok" and result["max_abs_diff"] == 0.0 and result["latency_ms_iobinding"] > 0
