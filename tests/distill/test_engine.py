"""Devices and processes of a training run: a missing GPU is an error; two processes under torchrun take
the same steps as one process with the whole batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_fit import fit

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.distill.training.loop import METRICS_LOG


def test_an_unknown_device_or_precision_is_rejected_by_name():
    with pytest.raises(InvalidInputError, match="tpu"):
        Engine.create("tpu")
    with pytest.raises(InvalidInputError, match="int4"):
        Engine.create("cpu", precision="int4")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_an_error_not_a_cpu_run():
    with pytest.raises(InvalidInputError, match="sees no CUDA device"):
        Engine.create("cuda")


def test_bf16_is_reported_and_a_process_keeps_its_first_precision():
    code = ("from edge_sdk.quantize.distill.training.engine import Engine\n"
            "from edge_sdk.errors import InvalidInputError\n"
            "print(Engine.create('cpu', 'bf16').describe()['precision'])\n"
            "try:\n    Engine.create('cpu')\nexcept InvalidInputError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[0] == "bf16"
    assert out[1].startswith("refused: this process already trains with another device or precision")


def test_one_cpu_process_reports_where_it_ran_and_puts_tensors_there():
    engine = Engine.create("cpu")
    assert engine.describe() | {"torch_threads": 0} == {"device": "cpu", "device_name": "cpu", "processes": 1,
                                                        "precision": "fp32", "torch_threads": 0}
    assert engine.shard([1, 2, 3]) == [1, 2, 3]
    x, (y,) = engine.put((torch.ones(2), [torch.zeros(1)]))
    assert x.device.type == "cpu" and y.device.type == "cpu"


@pytest.mark.slow
def test_two_processes_under_torchrun_end_where_one_process_does(tmp_path):
    single, summary = fit(tmp_path / "one", Engine.create("cpu"))
    assert summary["processes"] == 1
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = Path(__file__).with_name("ddp_fit.py")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # each process computed the loss on half of every batch of 8, for 12 steps
    assert [(tmp_path / "two" / f"seen-{rank}").read_text() for rank in (0, 1)] == ["48", "48"]
    saved = torch.load(tmp_path / "two" / "weights.pt", weights_only=True)
    assert saved["processes"] == 2
    for name, value in single.state_dict().items():
        assert torch.allclose(saved["state"][name], value, atol=1e-5), name
    # process 0 alone evaluates and logs, once per evaluation step
    logged = [json.loads(line)["step"] for line in (tmp_path / "two" / METRICS_LOG).read_text().splitlines()]
    assert logged == [0, 4, 8, 12]
