"""The write-or-refuse tail every student shares: a variant within its budget is written, one outside it is recorded."""

import json
from pathlib import Path

from edge_sdk.quantize.bundle_writer import BundleWriter
from edge_sdk.quantize.distill.ship.refusal import write_or_refuse


def _bundle(tmp_path: Path) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"teacher")
    w = BundleWriter(tmp_path / "b", name="tiny", task="vision", family="test", source={"kind": "test"})
    w.add_variant("fp32", {"model": tmp_path / "model.onnx"}, metrics={"top1": 1.0})
    return w.write({"recipe": 1})


def test_a_refused_variant_is_recorded_with_its_metrics_and_never_added(tmp_path):
    root = _bundle(tmp_path)
    for name in ("student.onnx", "student-int8.onnx"):
        (tmp_path / name).write_bytes(name.encode())
    metrics = {"distilled": {"top1": 0.9}, "distilled-int8": {"top1": 0.5}}
    refused = {"distilled-int8": {"top1>=lite0-0.02": False}}
    files = {"distilled": {"model": tmp_path / "student.onnx"}, "distilled-int8": {"model": tmp_path / "student-int8.onnx"}}
    recipes = {"distilled": {"kind": "distillation"}, "distilled-int8": {"kind": "distillation", "int8": "u8s8"}}

    written = write_or_refuse(root, metrics, refused, files, recipes, {"window_margin_s": 0.5})

    data = json.loads((root / "bundle.json").read_text())
    assert written == ["distilled"]
    assert set(data["variants"]) == {"fp32", "distilled"}
    assert data["variants"]["distilled"]["metrics"] == {"top1": 0.9}
    assert data["variants"]["distilled"]["preprocessing"] == {"window_margin_s": 0.5}
    assert (root / "distilled" / "student.onnx").read_bytes() == b"student.onnx"
    record = data["refused_variants"]["distilled-int8"]
    assert record["metrics"] == {"top1": 0.5} and record["recipe"] == recipes["distilled-int8"]
    assert record["reason"] == "missed the quality budget: {'top1>=lite0-0.02': False}"
    assert not (root / "distilled-int8").exists()
