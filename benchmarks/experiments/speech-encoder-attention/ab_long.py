"""Transcribe speech/long with two speech bundle folders, alternating, in fresh processes; print wall times.

``python benchmarks/experiments/speech-encoder-attention/ab_long.py OLD_BUNDLE_DIR NEW_BUNDLE_DIR [--variant int8] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
from edge_sdk import Transcriber, TranscriberOptions
from edge_sdk.datasets import data_dir
from edge_sdk.speech.evaluate import corpus_wer
path = next((data_dir() / "speech" / "long").glob("*.flac"))
asr = Transcriber.create(TranscriberOptions(bundle=sys.argv[1], variant=sys.argv[2]))
walls, encoder = [], [0.0]
encode = asr._decoder.encode
def timed(mel):
    t = time.perf_counter(); out = encode(mel); encoder[0] += time.perf_counter() - t; return out
asr._decoder.encode = timed
for _ in range(2):
    encoder[0] = 0.0
    t = time.perf_counter(); text = " ".join(s.text for s in asr.transcribe(path)[0]); walls.append(time.perf_counter() - t)
wer = corpus_wer([path.with_suffix(".txt").read_text()], [text])
print(json.dumps({"walls_s": [round(w, 2) for w in walls], "encoder_s": round(encoder[0], 2), "wer": round(wer, 2)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundles", nargs=2)
    ap.add_argument("--variant", default="int8")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    for r in range(args.rounds):
        for bundle in args.bundles:
            out = subprocess.run([sys.executable, "-c", CHILD, bundle, args.variant], capture_output=True, text=True, check=True)
            print(r, bundle, json.loads(out.stdout.strip().splitlines()[-1]), flush=True)


if __name__ == "__main__":
    main()
