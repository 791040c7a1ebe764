"""The distilled vision student against each teacher it learnt from, in several interleaved rounds.

One round of ``edge_sdk.quantize.distill.students.vision``'s side-by-side timing (15 runs each) moved the student's speed-up over
Lite2 from 2.10x to 1.44x between two runs on a shared 2-core machine; the median of the per-round ratios is the
figure to quote.

    EDGE_SDK_DATA=../shared/data python benchmarks/distill/vision_speed.py .cache/distill/vision-ens-b6 [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from edge_sdk.quantize.distill.ship import measure
from edge_sdk.quantize.vision import data
from edge_sdk.quantize.vision.models import ARCHS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path, help="a 'distill vision --out' folder (its onnx/ holds fp32 and teacher/<arch>)")
    ap.add_argument("--student", default="efficientnet-lite0", choices=sorted(ARCHS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=15, help="runs of each model per round")
    ap.add_argument("--json", type=Path, help="write the rounds and ratios here")
    args = ap.parse_args()
    onnx = args.workdir / "onnx"
    files = {"student-fp32": (onnx / "fp32" / "model.onnx", args.student),
             **{f"teacher-{p.name}": (p / "model.onnx", p.name) for p in sorted((onnx / "teacher").iterdir())}}
    photo = data.photo_sets().holdout[:1]
    runs = {}
    for name, (path, arch) in files.items():
        sess, x = measure.session(path), data.batch(photo, ARCHS[arch].preprocess)
        runs[name] = lambda s=sess, x=x: s.run(None, {s.get_inputs()[0].name: x})
    rounds = [{k: v["median_ms"] for k, v in measure.side_by_side_ms(runs, repeats=args.repeats, warmup=2).items()}
              for _ in range(args.rounds)]
    out = measure.speedup_rounds(rounds, {t: (t, "student-fp32") for t in files if t.startswith("teacher-")})
    out["median_ms"] = {k: statistics.median(r[k] for r in rounds) for k in files}
    print(json.dumps({k: out[k] for k in ("median_speedup", "median_ms")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
