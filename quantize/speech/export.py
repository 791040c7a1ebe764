"""Export Whisper to two ONNX graphs the runtime drives with numpy.

``encoder``: ``mel`` (batch, n_mels, frames) -> ``cross_k_0, cross_v_0, ...`` (batch, heads, frames/2, head_dim)
per decoder layer.
The number of frames is dynamic (even, at most 3000): the positional embedding is sliced, so a
short window costs in proportion to its length. The encoder also runs every decoder layer's
cross-attention k/v projections once, so decoding steps never recompute them. Its self-attention is one
onnxruntime ``MultiHeadAttention`` node per layer (:class:`FusedAttention`): the unfused MatMul-Softmax-MatMul
of a 30 s window writes a (heads, 1500, 1500) score matrix, 54 MB per layer, through three operators and takes
twice as long (``benchmarks/experiments/speech-encoder-attention/``).

``decoder``: ``tokens`` (batch, steps) int64, ``self_k_i, self_v_i`` (batch, heads, past, head_dim) and
``cross_k_i, cross_v_i`` per layer -> ``logits`` (batch, steps, vocab; or only the last ``logit_positions`` steps,
see :func:`prompt_rows_read`), ``new_self_k_i, new_self_v_i`` (past + steps along axis 2), and ``cross_attn``
(batch, layers, heads, steps, enc_len), the cross-attention weights word timestamps are aligned with. Positions
start at ``past``; a causal mask covers multi-token prompts. One tensor per layer, not one stacked tensor: slicing
a stack copies it on every step.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from edge_sdk.quantize.speech.vocab_trim import input_remap, output_index

log = logging.getLogger(__name__)
OPSET = 17


class EncoderGraph(nn.Module):
    """Whisper encoder over a variable number of frames, plus every decoder layer's cross k/v."""

    def __init__(self, model) -> None:
        super().__init__()
        enc = model.model.encoder
        self.conv1, self.conv2 = enc.conv1, enc.conv2
        self.positions = enc.embed_positions.weight
        self.layers, self.norm = enc.layers, enc.layer_norm
        self.cross = nn.ModuleList([layer.encoder_attn for layer in model.model.decoder.layers])
        self.heads = model.config.decoder_attention_heads

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = nn.functional.gelu(self.conv1(mel))
        x = nn.functional.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.positions[: x.shape[1]]
        for layer in self.layers:
            x = _encoder_layer(layer, x)
        x = self.norm(x)
        b, t, d = x.shape
        kv = []
        for attn in self.cross:
            k = attn.k_proj(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
            v = attn.v_proj(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
            kv += [k, v]
        return tuple(kv)


class FusedAttention(torch.autograd.Function):
    """Unmasked multi-head attention over ``(batch, time, d_model)`` queries, keys and values, exported as
    onnxruntime's ``com.microsoft.MultiHeadAttention`` (which has CPU and CUDA kernels)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
        b, t, d = q.shape

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, -1, heads, d // heads).transpose(1, 2)

        out, _ = _attend(split(q), split(k), split(v), None, scale)
        return out.transpose(1, 2).reshape(b, t, d)

    @staticmethod
    def symbolic(g, q, k, v, heads: int, scale: float):
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads, scale_f=scale)
        out.setType(q.type())
        return out


def _encoder_layer(layer, x: torch.Tensor) -> torch.Tensor:
    """A Whisper encoder layer (pre-norm attention, then the MLP) with :class:`FusedAttention`."""
    sa = layer.self_attn
    h = layer.self_attn_layer_norm(x)
    x = x + sa.out_proj(FusedAttention.apply(sa.q_proj(h), sa.k_proj(h), sa.v_proj(h), sa.num_heads, float(sa.scaling)))
    h = layer.final_layer_norm(x)
    return x + layer.fc2(layer.activation_fn(layer.fc1(h)))


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention output and its weights."""
    # scale is a Python float so the graph holds a constant, not Cast(Shape) -> Pow (which fp16 conversion breaks)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, v), weights


class DecoderGraph(nn.Module):
    """One or more Whisper decoder steps with an explicit self-attention KV cache.

    With ``kept`` (token ids, see :mod:`edge_sdk.quantize.speech.vocab_trim`) the projection covers only those
    tokens and the logits of the others are ``-inf``. With ``logit_positions`` the projection reads only the last
    that many positions: a 200-token prompt then makes 2 rows of logits instead of 200.
    """

    def __init__(self, model, kept: torch.Tensor | None = None, logit_positions: int | None = None) -> None:
        super().__init__()
        dec = model.model.decoder
        weight = dec.embed_tokens.weight.detach()
        # One (d_model, vocab) initializer serves both the token lookup and the output projection,
        # so the exported file does not hold the tied embedding twice.
        self.embed_t = nn.Parameter((weight if kept is None else weight[kept]).t().contiguous())
        self.register_buffer("remap", None if kept is None else input_remap(weight, kept))
        self.register_buffer("out_index", None if kept is None else output_index(kept, weight.shape[0]))
        self.positions = dec.embed_positions.weight
        self.layers, self.norm = dec.layers, dec.layer_norm
        self.heads = model.config.decoder_attention_heads
        self.scale = float((model.config.d_model // self.heads) ** -0.5)
        self.logit_positions = logit_positions

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        return x.view(b, s, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, tokens: torch.Tensor, *kv: torch.Tensor):
        n = len(self.layers)
        self_kv, cross_kv = kv[: 2 * n], kv[2 * n :]
        b, s = tokens.shape
        past = self_kv[0].shape[2]
        pos = torch.arange(s, device=tokens.device) + past
        ids = tokens.reshape(-1) if self.remap is None else torch.index_select(self.remap, 0, tokens.reshape(-1))
        x = torch.index_select(self.embed_t, 1, ids).t().reshape(b, s, -1) + self.positions[pos]
        # query i (absolute past+i) sees keys 0..past+i
        keys = torch.arange(s + past, device=tokens.device)
        mask = torch.where(keys[None, :] > pos[:, None], torch.tensor(float("-inf")), torch.tensor(0.0))
        new_kv, cross_weights = [], []
        for i, layer in enumerate(self.layers):
            h = layer.self_attn_layer_norm(x)
            sa = layer.self_attn
            k = torch.cat([self_kv[2 * i], self._split(sa.k_proj(h))], dim=2)
            v = torch.cat([self_kv[2 * i + 1], self._split(sa.v_proj(h))], dim=2)
            new_kv += [k, v]
            a, _ = _attend(self._split(sa.q_proj(h)), k, v, mask, self.scale)
            x = x + sa.out_proj(a.transpose(1, 2).reshape(b, s, -1))
            h = layer.encoder_attn_layer_norm(x)
            ca = layer.encoder_attn
            a, w = _attend(self._split(ca.q_proj(h)), cross_kv[2 * i], cross_kv[2 * i + 1], None, self.scale)
            cross_weights.append(w)
            x = x + ca.out_proj(a.transpose(1, 2).reshape(b, s, -1))
            h = layer.final_layer_norm(x)
            x = x + layer.fc2(nn.functional.gelu(layer.fc1(h)))
        x = self.norm(x)
        if self.logit_positions:
            x = x[:, -self.logit_positions :]
        logits = torch.matmul(x, self.embed_t)
        if self.out_index is not None:
            logits = torch.index_select(nn.functional.pad(logits, (0, 1), value=float("-inf")), 2, self.out_index)
        return (logits, *new_kv, torch.stack(cross_weights, dim=1))


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(path), input_names=inputs, output_names=outputs,
            dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )


def prompt_rows_read(config) -> int:
    """Rows of a prompt's logits the runtime reads: the start token's (no-speech probability) to the last.

    The start token is followed by ``<|notimestamps|>`` and, in multilingual models, by language and task.
    """
    return 4 if config.vocab_size >= 51865 else 2


def export_onnx(model, out_dir: Path, kept: torch.Tensor | None = None, logit_positions: int | None = None) -> dict[str, Path]:
    """Export the encoder and decoder graphs of ``model`` into ``out_dir`` (fp32).

    ``kept`` and ``logit_positions`` (None: logits of every position): see :class:`DecoderGraph`.

    Returns:
        ``{"encoder": path, "decoder": path}``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    layers, heads, dh = cfg.decoder_layers, cfg.decoder_attention_heads, cfg.d_model // cfg.decoder_attention_heads
    enc, dec = EncoderGraph(model).eval(), DecoderGraph(model, kept, logit_positions).eval()
    paths = {"encoder": out_dir / "encoder.onnx", "decoder": out_dir / "decoder.onnx"}
    names = [f"{kind}_{i}" for i in range(layers) for kind in ("k", "v")]
    cross_names, self_names, new_names = (["cross_" + n for n in names], ["self_" + n for n in names], ["new_self_" + n for n in names])
    with torch.no_grad():
        mel = torch.randn(1, cfg.num_mel_bins, 400)
        _export(enc, (mel,), paths["encoder"], ["mel"], cross_names,
                {"mel": {0: "batch", 2: "frames"}, **{n: {0: "batch", 2: "enc_len"} for n in cross_names}})
        cross = enc(mel)
        tokens = torch.tensor([[50257, 50362, 440]])
        past = tuple(torch.zeros(1, heads, 2, dh) for _ in names)
        _export(
            dec, (tokens, *past, *cross), paths["decoder"], ["tokens", *self_names, *cross_names], ["logits", *new_names, "cross_attn"],
            {
                "tokens": {0: "batch", 1: "steps"},
                **{n: {0: "batch", 2: "past"} for n in self_names},
                **{n: {0: "batch", 2: "enc_len"} for n in cross_names},
                "logits": {0: "batch", 1: "logit_steps" if logit_positions else "steps"},
                **{n: {0: "batch", 2: "total"} for n in new_names},
                "cross_attn": {0: "batch", 3: "steps", 4: "enc_len"},
            },
        )
    log.info("exported %s and %s", paths["encoder"].name, paths["decoder"].name)
    return paths
