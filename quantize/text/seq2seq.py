"""Abstractive bundles: any local HF seq2seq folder (BART, DistilBART, T5) -> ONNX with KV cache.

Three graphs, exported with optimum-onnx (``text2text-generation-with-past``):
``encoder`` (input_ids, attention_mask -> last_hidden_state), ``decoder`` (first step; returns the
self- and cross-attention caches) and ``decoder_with_past`` (one token per step on the caches).
The ``int8`` variant quantizes all three dynamically, per channel, with the profile's weight type.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

ROLES = {"encoder": "encoder_model.onnx", "decoder": "decoder_model.onnx", "decoder_with_past": "decoder_with_past_model.onnx"}
RECIPE_VERSION = 1


def generation_facts(folder: Path) -> dict:
    """Token ids and sizes the runtime needs to decode, from ``config.json`` (+ ``generation_config.json``)."""
    cfg = json.loads((Path(folder) / "config.json").read_text())
    gen_path = Path(folder) / "generation_config.json"
    gen = json.loads(gen_path.read_text()) if gen_path.is_file() else {}

    def pick(key, default=None):
        return gen.get(key, cfg.get(key, default))

    return {
        "kind": "seq2seq",
        "model_type": cfg.get("model_type"),
        "decoder_start_token_id": pick("decoder_start_token_id", cfg.get("pad_token_id")),
        "eos_token_id": pick("eos_token_id"),
        "pad_token_id": pick("pad_token_id"),
        "forced_bos_token_id": pick("forced_bos_token_id"),
        "forced_eos_token_id": pick("forced_eos_token_id"),
        "max_source_tokens": cfg.get("max_position_embeddings") or cfg.get("n_positions") or 512,
        "num_decoder_layers": cfg.get("decoder_layers") or cfg.get("num_decoder_layers") or cfg.get("num_layers"),
        "vocab_size": cfg.get("vocab_size"),
    }


def export_onnx(folder: Path, out: Path) -> dict[str, Path]:
    """Export ``folder`` to ``out`` with optimum; returns role -> ONNX path."""
    from optimum.exporters.onnx import main_export

    main_export(str(folder), str(out), task="text2text-generation-with-past", no_post_process=True, device="cpu")
    paths = {role: Path(out) / name for role, name in ROLES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"optimum export of {folder} did not produce {missing}")
    return paths


def build_seq2seq(folder: Path, store: Path, name: str | None = None, int8_format: str | None = None, force: bool = False) -> Path:
    """Build an abstractive bundle (variants ``fp32`` and ``int8``) from a local HF seq2seq folder.

    Args:
        folder: HF folder with ``config.json`` and weights (and ideally ``tokenizer.json``).
        store: Bundle store folder.
        name: Bundle name; default ``<folder name>-abstractive``.
        int8_format: ``u8s8``/``u8u8``/``s8s8``; default the detected profile's.
        force: Rebuild even when the recipe is unchanged.

    Returns:
        The bundle folder.
    """
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.quantize.bundle_writer import BundleWriter, up_to_date
    from edge_sdk.quantize.text.export import quantize_int8

    folder = Path(folder)
    name = name or f"{folder.name}-abstractive"
    int8_format = int8_format or resolve_device("auto").int8_format
    facts = generation_facts(folder)
    weights = sorted(p.name for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    recipe = {"recipe_version": RECIPE_VERSION, "folder": str(folder.resolve()), "weights": weights,
              "mtimes": [int((folder / w).stat().st_mtime) for w in weights], "int8_format": int8_format}
    root = Path(store) / name
    if not force and up_to_date(root, recipe):
        log.info("%s is up to date in %s", name, root)
        return root
    if root.exists():
        shutil.rmtree(root)
    writer = BundleWriter(root, name=name, task="text", family=facts["model_type"] or "seq2seq",
                          source={"path": str(folder.resolve())}, preprocessing=facts)
    if (folder / "tokenizer.json").is_file():
        writer.add_asset("tokenizer", folder / "tokenizer.json")
        writer.preprocessing["tokenizer"] = "tokenizer.json"
    with tempfile.TemporaryDirectory() as tmp:
        log.info("[1/2] exporting %s to ONNX encoder/decoder with KV cache", folder)
        fp32 = export_onnx(folder, Path(tmp) / "fp32")
        writer.add_variant("fp32", fp32, recipe={"exporter": "optimum text2text-generation-with-past"})
        log.info("[2/2] int8 (dynamic, per-channel, %s)", int8_format)
        int8 = {}
        for role, src in fp32.items():
            dst = Path(tmp) / "int8" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            q_recipe = quantize_int8(src, dst, int8_format)
            int8[role] = dst
        writer.add_variant("int8", int8, recipe=q_recipe)
    return writer.write(recipe)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_sdk.quantize.text.seq2seq FOLDER [--name N] [--force]``: build into the bundle store."""
    import argparse

    from edge_sdk.bundle import bundles_dir

    parser = argparse.ArgumentParser(description="Build an abstractive (seq2seq) bundle from a local HF folder")
    parser.add_argument("folder")
    parser.add_argument("--name", default=None)
    parser.add_argument("--int8-format", default=None, choices=["u8s8", "u8u8", "s8s8"])
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = build_seq2seq(Path(args.folder), bundles_dir(), args.name, args.int8_format, args.force)
    print(f"bundle ready: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
