"""Decoder step of a distilled Whisper student against the teacher, in several interleaved rounds.

One round of ``edge_sdk.quantize.distill.students.speech``'s side-by-side timing moves by up to +-40 % on a shared 2-core
machine; the median of the per-round ratios is the figure to quote.

    EDGE_SDK_HOME=.cache/test-home python benchmarks/distill/decoder_steps.py .cache/distill/speech-v6 [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_sdk.bundle import load_bundle
from edge_sdk.quantize.distill.ship.measure import speedup_rounds
from edge_sdk.quantize.distill.students.speech import decoder_step_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path, help="a 'distill speech --out' folder (its onnx/ holds fp32 and int8-* graphs)")
    ap.add_argument("--teacher", default="whisper-tiny.en")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the rounds and ratios here")
    args = ap.parse_args()
    bundle = load_bundle(args.teacher)
    onnx = args.workdir / "onnx"
    files = {"teacher-fp32": bundle.path_of(bundle.variants["fp32"].files["decoder"]),
             "teacher-int8": bundle.path_of(bundle.variants["int8"].files["decoder"]),
             "student-fp32": onnx / "fp32" / "decoder.onnx",
             **{f"student-{p.name}": p / "decoder.onnx" for p in sorted(onnx.glob("int8-*"))}}
    rounds = [{k: v["median_ms"] for k, v in decoder_step_ms(files).items()} for _ in range(args.rounds)]
    out = speedup_rounds(rounds, {s: (f"teacher-{s.split('-')[1]}", s) for s in files if s.startswith("student-")})
    print(json.dumps(out["median_speedup"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
