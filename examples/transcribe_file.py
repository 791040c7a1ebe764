"""Transcribe an audio file offline and print each segment as it is decoded.

    python examples/transcribe_file.py data/speech/public_domain/jfk.flac [--variant int8] [--beam-size 1] [--words]

Any format soundfile reads, any sample rate and channel count: the conversion is printed first.
"""

from __future__ import annotations

import argparse

from edge_sdk import Transcriber, TranscriberOptions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--bundle", default="whisper-tiny.en")
    parser.add_argument("--variant", default=None)
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--words", action="store_true", help="print each word with its start time")
    args = parser.parse_args()

    options = TranscriberOptions(bundle=args.bundle, variant=args.variant, beam_size=args.beam_size, word_timestamps=args.words)
    with Transcriber.create(options) as asr:  # leaving the block releases the onnxruntime sessions
        segments, info = asr.transcribe(args.path)
        print(f"{info.duration_s:.2f} s of audio; conversion: {info.conversion}")
        print(f"{info.bundle}/{info.variant} on {info.providers}, fallback: {info.fallback}")
        for segment in segments:  # decoded lazily, window by window: read them before the block ends
            print(f"[{segment.start_s:7.2f} -> {segment.end_s:7.2f}] {segment.text}")
            if segment.words:
                print("    " + " ".join(f"{w.text.strip()}@{w.start_s:.2f}" for w in segment.words))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
