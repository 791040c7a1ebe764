"""``edge-sdk prepare``'s terminal: steps on the console, third-party output (even C-level writes) in the log."""

from __future__ import annotations

import logging
import os
import sys

from edge_sdk.quantize.console import quiet_build


def test_steps_reach_the_console_and_third_party_output_goes_to_the_log(tmp_path, capfd):
    log_path = tmp_path / "logs" / "prepare.log"
    with quiet_build(log_path):
        os.write(2, b"2026-12-07 [W:onnxruntime, graph.cc] Removing initializer\n")  # as C++ code writes
        print("histogram: 100 bins")
        print("Quantized bias exceeds the range of int32", file=sys.stderr)
        logging.getLogger("edge_sdk.quantize.text.prepare").info("[3/5] measuring fp32 on 32 gate documents")
        logging.getLogger("edge_sdk.quantize.text.prepare").debug("not shown anywhere")
    print("bundle ready: /x")
    out, err = capfd.readouterr()
    assert err == "[3/5] measuring fp32 on 32 gate documents\n"
    assert out == "bundle ready: /x\n"
    log = log_path.read_text()
    for line in ("Removing initializer", "histogram: 100 bins", "Quantized bias exceeds the range of int32"):
        assert line in log
    assert "not shown anywhere" not in log and logging.getLogger("edge_sdk").level == logging.NOTSET


def test_the_terminal_is_restored_when_the_build_fails(tmp_path, capfd):
    try:
        with quiet_build(tmp_path / "prepare.log"):
            raise RuntimeError("export failed")
    except RuntimeError:
        pass
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert not logging.getLogger("edge_sdk").handlers
