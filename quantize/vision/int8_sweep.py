"""Try int8 recipes on a built vision bundle's fp32 model, through the same gate the build applies.

    python -m edge_sdk.quantize.vision.int8_sweep efficientnet-lite0 percentile,stem,bc,99.99 percentile,stem,gptq

Each recipe is ``method,exclude[,bc|gptq|qat][,percentile]`` (``bc``: bias correction, ``gptq``: weights rounded
by :mod:`edge_sdk.quantize.vision.gptq`; ``qat``: weights fine-tuned for int8 by :mod:`edge_sdk.quantize.vision.qat`, on the calibration
photos and the shared videos; see :mod:`edge_sdk.quantize.vision.int8`). Every recipe is measured and printed (held-out top-1 changes and
labelled accuracy against fp32); ``--json`` saves them. Nothing is written into the bundle: the
build's ladder (:data:`edge_sdk.quantize.vision.int8.LADDER`) decides what ships.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from edge_sdk.bundle import load_bundle
from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.vision import data, int8, qat
from edge_sdk.quantize.vision.models import ARCHS, LITE
from edge_sdk.quantize.vision.weights import load_lite


def parse_recipe(text: str) -> dict:
    """``method,exclude[,bc|gptq|qat][,percentile]`` -> a ladder entry (:class:`~edge_sdk.quantize.vision.int8.Int8Recipe` fields)."""
    parts = text.split(",")
    flags = {"bc": "bias_correction", "gptq": "gptq", "qat": "qat"}
    numbers = [p for p in parts[2:] if p not in flags]
    given = [flags[p] for p in parts[2:] if p in flags]
    if (len(parts) < 2 or parts[0] not in int8.METHODS or not int8.valid_exclusion(parts[1]) or len(given) > 1 or len(numbers) > 1
            or not all(n.replace(".", "", 1).isdigit() for n in numbers)):
        raise InvalidInputError(f"recipe {text!r}: expected method,exclude[,bc|gptq|qat][,percentile] with method in "
                                f"{sorted(int8.METHODS)} and exclude 'none' or parts of {int8.EXCLUSION_PARTS} joined by '+'")
    percentile = {"percentile": float(numbers[0])} if numbers else {}
    return {"method": parts[0], "exclude": parts[1]} | dict.fromkeys(given, True) | percentile


def sweep(bundle: str, recipes: list[dict], arch: str, int8_format: str, variant: str = "fp32",
          float_weights_at_load: bool = False) -> list[dict]:
    """Gate metrics of every recipe on ``bundle``'s ``variant`` model (the build's photo split)."""
    b = load_bundle(bundle)
    model = b.path_of(b.variants[variant].files["model"])
    pre = ARCHS[arch].preprocess
    photos = data.photo_sets()
    calib, holdout = data.batch(photos.calibration, pre), data.batch(photos.holdout, pre)
    lab_x, lab_y = data.batch([p for p, _ in photos.labelled], pre), np.asarray([c for _, c in photos.labelled])
    tune = None
    if any(r.get("qat") for r in recipes):
        if variant != "fp32" or arch not in LITE:
            raise InvalidInputError(f"qat fine-tunes the packaged {sorted(LITE)} weights; not the {variant!r} variant of {arch!r}")
        tune = qat.tuner(load_lite(arch)[0], arch, photos, int8_format)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:  # every recipe is measured, even after one is accepted
        for r, m, _ in int8.measure_recipes(model, Path(tmp), calib, holdout, (lab_x, lab_y), int8_format, tuple(recipes), tune,
                                                float_weights_at_load):
            rows.append({"recipe": r.to_dict(), "label": r.label(), **{k: m[k] for k in (*int8.GATE_FIGURES, "holdout_logit_rmse", "gate")},
                         "labelled_top1": m["labelled"]["top1_correct"], "fp32_labelled_top1": m["fp32_labelled"]["top1_correct"],
                         "labelled_top5": m["labelled"]["top5_correct"], "fp32_labelled_top5": m["fp32_labelled"]["top5_correct"]}
                        | ({"qat": m["qat"]} if "qat" in m else {}))
            print(f"{r.label():55s} {int8.summary(m)}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", help="a built vision bundle (store name or folder)")
    parser.add_argument("recipes", nargs="+", type=parse_recipe, help="method,exclude[,bc|gptq|qat][,percentile]")
    parser.add_argument("--variant", default="fp32", help="the model to quantize (fp32, or distilled)")
    parser.add_argument("--arch", default="efficientnet-lite0", choices=sorted(ARCHS), help="for its preprocessing")
    parser.add_argument("--int8-format", default="u8s8", choices=sorted(int8.FORMATS))
    parser.add_argument("--float-weights-at-load", action="store_true",
                        help="measure with onnxruntime's per-tensor re-quantization of float inner convs off "
                             "(so 'depthwise', 'tail', 'head' stay float; the runtime loads with it on)")
    parser.add_argument("--json", type=Path, help="save the rows here")
    args = parser.parse_args(argv)
    rows = sweep(args.bundle, args.recipes, args.arch, args.int8_format, args.variant, args.float_weights_at_load)
    if args.json:
        args.json.write_text(json.dumps({"bundle": args.bundle, "variant": args.variant, "float_weights_at_load": args.float_weights_at_load, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
