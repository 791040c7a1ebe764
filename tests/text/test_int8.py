"""The int8 variant of the text bundle: integer ops, recorded gate figures, live agreement with fp32."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_sdk.errors import QualityGateError
from edge_sdk.quantize.text import gate
from edge_sdk.runtime import load_model
from edge_sdk.text.encoder import SentenceEncoder
from edge_sdk.text.segment import split_sentences


def test_int8_passed_the_gate_recorded_in_bundle_json(text_bundle) -> None:
    meta = json.loads((text_bundle / "bundle.json").read_text())
    m = meta["variants"]["int8"]["metrics"]
    print(f"\nint8 gate: cosine_mean {m['cosine_mean']} rouge1_drop {m['rouge1_drop']} on {m['n']} docs")
    assert m["passed"] is True
    assert m["cosine_mean"] >= gate.MIN_COSINE
    assert m["rouge1_drop"] <= gate.MAX_ROUGE1_DROP
    assert meta["variants"]["int8"]["recipe"]["per_channel"] is True


def test_int8_graph_holds_integer_ops(text_bundle) -> None:
    onnx = pytest.importorskip("onnx", reason="reading the graph needs onnx (edge-sdk-ondevice[quantize])")

    meta = json.loads((text_bundle / "bundle.json").read_text())
    model = onnx.load(str(text_bundle / meta["variants"]["int8"]["files"]["encoder"]["path"]))
    ops = {n.op_type for n in model.graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops
    int8_inits = [t for t in model.graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)]
    assert len(int8_inits) >= 36  # 6 layers x 6 weight matrices


def test_int8_embeddings_agree_with_fp32_on_a_shared_text(text_bundle, data_dir) -> None:
    article = json.loads((data_dir / "text" / "summaries.jsonl").read_text().splitlines()[5])["article"]
    texts = [s.text for s in split_sentences(article) if not s.heading][:60]
    emb = {}
    for variant in ("fp32", "int8"):
        emb[variant] = SentenceEncoder.from_model(load_model(str(text_bundle), variant, "x86_64-avx2", task="text")).embed(texts)
    cos = np.sum(emb["fp32"] * emb["int8"], axis=1)
    print(f"\nfp32 vs int8 cosine on {len(texts)} sentences: mean {cos.mean():.4f} min {cos.min():.4f}")
    assert cos.mean() >= gate.MIN_COSINE


def test_gate_refuses_when_no_attempt_passes() -> None:
    def run(op_types, label):
        verdict = {"passed": False, "cosine_mean": 0.95, "rouge1_drop": 1.2, "thresholds": {"cosine_mean_min": 0.99, "rouge1_drop_max": 0.3}}
        return None, {"weight_type": "QInt8"}, None, verdict

    with pytest.raises(QualityGateError, match="matmul-only.*cosine_mean 0.95"):
        gate.first_passing(((None, "matmul+gather"), (("MatMul",), "matmul-only")), run)


def test_gate_compare_flags_a_rouge_drop() -> None:
    emb = np.eye(4, dtype=np.float32)
    ref = gate.GateResult({"rouge1": 40.0}, emb, 1.0)
    worse = gate.GateResult({"rouge1": 39.5}, emb, 1.0)
    verdict = gate.compare(ref, worse)
    assert verdict["cosine_mean"] == 1.0 and verdict["passed"] is False
