"""On aarch64 the runtime computes what it computes on x86-64: speech, vision and text, fp32 and int8, under QEMU.

``benchmarks/emulate/aarch64.sh --quick`` sets up Debian's arm64 Python 3.11, the aarch64 wheels of numpy, onnxruntime
and tokenizers, and QEMU 10 where the installed one is older, under ``.cache/aarch64`` (Debian mirror and PyPI, about
120 MB once; later runs reuse them), then runs one clip,
two photos and one text natively and under ``qemu-aarch64``: ``-cpu cortex-a53`` (plain NEON, no dot product) on
fp32 and int8, ``-cpu max`` (dot product, i8mm, SVE2, SME) on int8. The script exits 1 when a comparison is outside
the limits its report states; this test also checks what the report says about detection and the emulated CPUs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "emulate" / "aarch64.sh"
CPUS = "cortex-a53 max:int8"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(speech_bundle, vision_bundle, text_bundle, tmp_path_factory) -> dict:
    """The quick comparison's report (the script's exit status and stderr tail kept beside it)."""
    if shutil.which("qemu-aarch64") is None:
        pytest.skip("qemu-aarch64 is not installed (apt-get install qemu-user); the aarch64 comparison needs QEMU user mode")
    out = tmp_path_factory.mktemp("aarch64") / "report"
    env = os.environ | {"PYTHON": sys.executable, "OUT": str(out), "QEMU_CPUS": CPUS}
    proc = subprocess.run(["bash", str(SCRIPT), "--quick"], cwd=REPO, env=env, capture_output=True, text=True, timeout=2400)
    assert out.with_suffix(".json").is_file(), proc.stderr[-4000:]
    data = json.loads(out.with_suffix(".json").read_text())
    data["exit_status"], data["stderr_tail"] = proc.returncode, proc.stderr[-4000:]
    return data


def test_every_comparison_is_within_its_limit(report):
    assert report["failed"] == [] and report["exit_status"] == 0, (report["failed"], report["stderr_tail"])
    for cpu, variants in (("aarch64-cortex-a53", ("fp32", "int8")), ("aarch64-max", ("int8",))):
        for variant in variants:
            d = report["x86_vs_aarch64"][cpu][variant]
            assert d["speech"]["transcripts_equal"] == d["speech"]["clips"] == 1, (cpu, variant, d["speech"])
            assert d["vision"]["top1_equal"] == d["vision"]["photos"] == 2, (cpu, variant, d["vision"])
            assert d["text"]["summaries_equal"] == d["text"]["docs"] == 1, (cpu, variant, d["text"])
            assert all(c["ok"] for c in d["checks"]), (cpu, variant, d["checks"])


def test_fp32_matches_x86_to_float_rounding(report):
    d = report["x86_vs_aarch64"]["aarch64-cortex-a53"]["fp32"]
    assert d["vision"]["logprob_max_abs"] < 1e-3 and d["text"]["embedding_min_cosine"] > 0.99999, d
    assert d["speech"]["tokens_equal"] == 1 and d["speech"]["encoder_max_abs"] < 1e-2, d["speech"]


def test_detection_picks_arm64_under_emulation(report):
    for cpu in ("aarch64-cortex-a53", "aarch64-max"):
        machine = report["machines"][cpu]["machine"]
        assert machine["python_machine"] == "aarch64" and machine["detected_profile"] == "arm64", machine
        assert machine["u8s8_saturates_probe"] is False, machine  # ARM kernels accumulate u8 x s8 exactly


def test_the_two_cpus_have_and_lack_the_dot_product(report):
    """onnxruntime picks its int8 kernels from these features: both kernels were exercised."""
    machines = report["machines"]
    features = {cpu: set(machines[cpu]["machine"]["arm64_cpu"]["features"]) for cpu in ("aarch64-cortex-a53", "aarch64-max")}
    assert "asimddp" not in features["aarch64-cortex-a53"] and {"asimddp", "i8mm", "sme"} <= features["aarch64-max"], features
    assert "asimddp" in machines["aarch64-max"]["machine"]["facts"]["cpu_flags"]  # what detection read
