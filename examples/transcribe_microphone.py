"""Live microphone transcription: partials overwrite one line, finals scroll.

    python examples/transcribe_microphone.py [--device NAME_OR_INDEX] [--bundle whisper-tiny.en] [--block-ms 32]

Build the default bundle first with ``edge-sdk prepare speech``. Ctrl-C stops; if the microphone goes away,
what it heard is transcribed and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import sys

from edge_sdk import MicrophoneSource, Transcriber, TranscriberOptions, transcribe_live


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="input device index or name (default: system default)")
    parser.add_argument("--bundle", default="whisper-tiny.en")
    parser.add_argument("--block-ms", type=int, default=None, help="capture block in ms (default: the device profile's)")
    args = parser.parse_args()

    # One shared model; one stream per audio source.
    transcriber = Transcriber.create(TranscriberOptions(bundle=args.bundle))
    stream = transcriber.create_stream(partial_interval_s=1.0, min_silence_ms=500)

    # The microphone captures on its own thread into a bounded buffer (block size from the device profile),
    # so a slow decode never loses audio; a device that disappears ends the loop with an "error" event.
    failed = False
    with transcriber, stream, MicrophoneSource(device=args.device, block_ms=args.block_ms) as mic:
        print(f"capturing from {mic.device_name!r} at {mic.sample_rate} Hz; Ctrl-C stops", file=sys.stderr)
        try:
            for event in transcribe_live(stream, mic):
                if event.kind == "partial":
                    print(f"\r\x1b[K... {event.text}", end="", flush=True)
                elif event.kind == "final":
                    print(f"\r\x1b[K[{event.start_s:6.2f} -> {event.end_s:6.2f}] {event.text}  ({event.latency_ms:.0f} ms)")
                else:
                    print(f"\r\x1b[K({event.kind}: {event.text})")
                    failed = failed or event.kind == "error"
        except KeyboardInterrupt:
            for event in stream.input_finished():
                print(f"\r\x1b[K[{event.start_s:6.2f} -> {event.end_s:6.2f}] {event.text}")

    s = stream.stats
    print(f"\n{s.finals} finals, {s.partials} partials ({s.partials_skipped} skipped), max lag {s.max_lag_s:.2f} s, "
          f"audio dropped by the capture buffer: {mic.stats.samples_dropped} samples", file=sys.stderr)
    return 1 if failed else 0  # the microphone went away: what it heard was transcribed above


if __name__ == "__main__":
    sys.exit(main())
