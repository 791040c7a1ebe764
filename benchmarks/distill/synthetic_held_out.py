"""Synthetic speech of held-out sentences: a second, larger held-out set for the speech students.

The students train on espeak-ng and flite speech of the shared texts' training sentences; this speaks
sentences of the held-out documents instead (never trained on), augmented as the training clips are,
with another seed, and writes ``transcripts.tsv`` beside the clips. It is synthetic speech: a check of
the gap on more words, not a replacement for the real held-out clips.

    python benchmarks/distill/synthetic_held_out.py .cache/distill/data/synthetic-held-out --clips 80
    EDGE_SDK_HOME=.cache/test-home python benchmarks/distill/speech_wer.py .cache/distill/speech-3l24k-ts1 \
        --manifest .cache/distill/data/synthetic-held-out/transcripts.tsv --variants fp32 distilled int8-0
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import soundfile as sf

from edge_sdk.quantize.distill.data.audio_corpus import TTS_ENGINES, synthetic_clips, write_manifest
from edge_sdk.quantize.distill.data.corpus import read_documents, sentence_split
from edge_sdk.quantize.distill.students.speech import spoken_sentences
from edge_sdk.quantize.speech.prepare import shared_data

PLAIN = re.compile(r"[A-Za-z ,.;:'?!-]+")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--clips", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--data-root", type=Path, help="shared data folder with text/ (default: found as the speech bundle's build finds it)")
    args = ap.parse_args()
    texts = (args.data_root or shared_data()) / "text"
    # words only: a synthesizer reads "[13]" or "(Figure S7A)" in ways no reference writes
    held_out = [s for s in spoken_sentences(sentence_split(read_documents([texts])).held_out) if PLAIN.fullmatch(s)]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, clip in enumerate(synthetic_clips(held_out, args.clips, args.seed, engines=TTS_ENGINES)):
        path = args.out / f"held-out-{i:03d}.wav"
        sf.write(path, clip.audio, 16000)
        rows.append((path, clip.reference))
    write_manifest(rows, args.out / "transcripts.tsv")
    print(f"{len(rows)} clips of {len(held_out)} held-out sentences -> {args.out / 'transcripts.tsv'}")


if __name__ == "__main__":
    main()
