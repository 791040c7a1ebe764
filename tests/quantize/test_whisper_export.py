"""The exported Whisper encoder against PyTorch, on a small random model: fused attention, same numbers."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from edge_sdk.quantize.speech.export import export_onnx


@pytest.fixture(scope="module")
def small_whisper():
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=64, encoder_layers=2, encoder_attention_heads=4,
        decoder_layers=2, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448,
    )
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # peaked attention, as in a trained model: random weights give near-uniform weights
        for layer in model.model.encoder.layers:
            layer.self_attn.q_proj.weight.mul_(8.0)
            layer.self_attn.k_proj.weight.mul_(8.0)
    return model


def test_encoder_self_attention_is_one_fused_node_per_layer(small_whisper, tmp_path):
    paths = export_onnx(small_whisper, tmp_path)
    ops = [n.op_type for n in onnx.load(str(paths["encoder"])).graph.node]
    assert ops.count("MultiHeadAttention") == 2
    assert "Softmax" not in ops  # no unfused (heads, frames, frames) score matrix


def _hidden(model, mel: torch.Tensor) -> torch.Tensor:
    """The encoder's output by transformers' own layers (its ``forward`` takes only 3,000 frames)."""
    enc = model.model.encoder
    x = torch.nn.functional.gelu(enc.conv1(mel))
    x = torch.nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
    x = x + enc.embed_positions.weight[: x.shape[1]]
    for layer in enc.layers:
        x = layer(x, attention_mask=None, layer_head_mask=None)[0]
    return enc.layer_norm(x)


@pytest.mark.parametrize("frames", [400, 3000])
def test_encoder_cross_kv_equal_pytorch(small_whisper, tmp_path, frames):
    paths = export_onnx(small_whisper, tmp_path)
    mel = torch.randn(1, 80, frames, generator=torch.Generator().manual_seed(frames)) * 0.5
    with torch.no_grad():
        hidden = _hidden(small_whisper, mel)
        want = []
        for layer in small_whisper.model.decoder.layers:
            attn = layer.encoder_attn
            want += [p(hidden).view(1, -1, 4, 16).transpose(1, 2).numpy() for p in (attn.k_proj, attn.v_proj)]
    session = ort.InferenceSession(str(paths["encoder"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {"mel": mel.numpy()})
    assert len(got) == len(want) == 4
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape == (1, 4, frames // 2, 16)
        np.testing.assert_allclose(g, w, atol=2e-5 * max(1.0, float(np.abs(w).max())), rtol=0)
