"""Play an audio file as if it were a live microphone and transcribe it as it plays.

    python examples/transcribe_file_live.py data/speech/long/237-134500_chapter_concat.flac [--speed 1]

Prints partials and finals with their stream times, then the end-of-speech-to-final latency, the partial
interval, CPU seconds per audio second and peak RSS: the numbers a live deployment cares about.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from edge_sdk import FileSource, Transcriber, TranscriberOptions, transcribe_live


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--bundle", default="whisper-tiny.en")
    parser.add_argument("--variant", default=None)
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed (1.0 = real time)")
    parser.add_argument("--min-silence-ms", type=int, default=500)
    parser.add_argument("--window-margin-s", type=float, default=None, help="Whisper encoder margin (default: the bundle's choice)")
    parser.add_argument("--reference", default=None, help="reference transcript (.txt) to score the finals (needs jiwer, whisper-normalizer)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args()

    transcriber = Transcriber.create(TranscriberOptions(bundle=args.bundle, variant=args.variant, window_margin_s=args.window_margin_s))
    stream = transcriber.create_stream(min_silence_ms=args.min_silence_ms)

    cpu0, wall0 = time.process_time(), time.monotonic()
    after_endpoint_ms, finals = [], []
    # Closing the stream and the transcriber releases their onnxruntime sessions; stats and provenance stay readable.
    with transcriber, stream, FileSource(args.path, realtime=True, speed=args.speed) as source:
        for event in transcribe_live(stream, source):
            if event.kind == "final":
                after_endpoint_ms.append(event.endpoint_latency_ms)
                finals.append(event.text)
            if args.quiet:
                continue
            if event.kind == "final":
                print(f"FINAL   [{event.start_s:7.2f} -> {event.end_s:7.2f}] {event.text}  "
                      f"(latency {event.latency_ms:.0f} ms, after endpoint {event.endpoint_latency_ms:.0f} ms)")
            elif event.kind == "partial":
                print(f"partial [{event.start_s:7.2f} -> {event.end_s:7.2f}] {event.text}")
            else:
                print(f"{event.kind.upper():7s} {event.text}")
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0

    s = stream.stats
    audio_s = s.samples_received / 16000
    lat = np.array(s.final_latencies_ms) if s.final_latencies_ms else np.zeros(1)
    gaps = np.array(s.partial_gaps_s) if s.partial_gaps_s else np.zeros(1)
    print(f"\naudio {audio_s:.1f} s in {wall:.1f} s wall (speed {args.speed}); {transcriber.variant} on {', '.join(transcriber.providers)}")
    print(f"end-of-speech -> final latency: p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms "
          f"(includes the {args.min_silence_ms} ms endpoint silence)")
    if after_endpoint_ms:
        print(f"endpoint decision -> final: p50 {np.percentile(after_endpoint_ms, 50):.0f} ms, p95 {np.percentile(after_endpoint_ms, 95):.0f} ms; "
              f"speculative decodes reused {s.speculative_reused} of {s.finals} finals")
    print(f"partial interval (stream time): mean {gaps.mean():.2f} s, max {gaps.max():.2f} s; partials {s.partials}, skipped {s.partials_skipped}")
    print(f"CPU {cpu:.1f} s = {cpu / audio_s:.3f} CPU s per audio s; max lag {s.max_lag_s:.2f} s; samples lost {s.samples_lost}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.reference:
        import jiwer
        from whisper_normalizer.english import EnglishTextNormalizer

        norm = EnglishTextNormalizer()
        with open(args.reference) as f:
            reference = f.read()
        print(f"WER of the concatenated finals: {100 * jiwer.wer(norm(reference), norm(' '.join(finals))):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
