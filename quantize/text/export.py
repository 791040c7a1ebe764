"""Export a BERT-family sentence encoder to ONNX and derive its int8 and fp16 variants.

The exported graph includes mean pooling and L2 normalisation, so the runtime feeds token ids
and reads ``sentence_embedding`` directly (the way sentence-transformers computes it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

OPSET = 17
# int8_format of a device profile -> onnxruntime weight type name (activations are always u8 in
# dynamic quantization). "u8u8" avoids vpmaddubsw saturation on AVX2 without VNNI.
WEIGHT_TYPES = {"u8s8": "QInt8", "s8s8": "QInt8", "u8u8": "QUInt8"}


def encoder_config(folder: Path) -> dict:
    """Facts about a sentence-encoder folder: max tokens, hidden size, heads, pooling."""
    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    max_tokens = cfg.get("max_position_embeddings", 512)
    sbert = folder / "sentence_bert_config.json"
    if sbert.is_file():
        max_tokens = min(max_tokens, json.loads(sbert.read_text()).get("max_seq_length", max_tokens))
    return {
        "model_type": cfg.get("model_type", "bert"),
        "hidden_size": cfg["hidden_size"],
        "num_heads": cfg["num_attention_heads"],
        "num_layers": cfg["num_hidden_layers"],
        "max_tokens": int(max_tokens),
        "type_vocab_size": cfg.get("type_vocab_size", 0),
    }


def export_sentence_encoder(folder: Path, out: Path) -> Path:
    """Export ``folder`` (a local HF BERT-family model) with mean pooling to ``out`` (fp32 ONNX).

    Uses the TorchScript exporter (``dynamo=False``), which torch 2.13 still supports and which
    gives a graph onnxruntime's BERT fusions recognise.
    """
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    uses_types = encoder_config(folder)["type_vocab_size"] > 0

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_types else [])
    args = (ids, mask, torch.zeros_like(ids)) if uses_types else (ids, mask)
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["sentence_embedding"] = {0: "batch"}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            Pooled(model), args, str(out), input_names=names, output_names=["sentence_embedding"],
            dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
    return out


def optimize_bert(src: Path, dst: Path, num_heads: int, hidden_size: int) -> Path:
    """Fuse attention, LayerNorm and GELU with onnxruntime's transformer optimizer (offline, CPU)."""
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=1, use_gpu=False)
    opt.save_model_to_file(str(dst))
    log.info("fused ops: %s", opt.get_fused_operator_statistics())
    return dst


def quantize_int8(src: Path, dst: Path, int8_format: str, op_types: tuple[str, ...] | None = None) -> dict:
    """Dynamic per-channel int8 of ``src``; returns the recipe written next to the artifact.

    Raises:
        ValueError: ``int8_format`` is not one of :data:`WEIGHT_TYPES`.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if int8_format not in WEIGHT_TYPES:
        raise ValueError(f"int8_format {int8_format!r} is not one of {sorted(WEIGHT_TYPES)}; fix the device profile")
    weight_type = WEIGHT_TYPES[int8_format]
    kwargs = {"op_types_to_quantize": list(op_types)} if op_types else {}
    # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference; their
    # outputs are float, which DefaultTensorType says.
    quantize_dynamic(
        str(src), str(dst), per_channel=True, weight_type=getattr(QuantType, weight_type),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **kwargs,
    )
    return {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "per_channel": True,
        "weight_type": weight_type,
        "activation_type": "QUInt8",
        "int8_format": int8_format,
        "op_types": list(op_types) if op_types else "default",
    }
