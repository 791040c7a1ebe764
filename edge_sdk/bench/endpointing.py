"""Endpointing trade-off: replay a file through a live stream with real-time timing, faster than real time.

``python -m edge_sdk.bench.endpointing [FILE] [--options JSON ...] [--json OUT]``

Each block of audio "arrives" when a real-time source would deliver it; the stream's clock is a
:class:`ReplayClock` that jumps over the idle time between arrivals, so every decode costs what it
costs on this machine and every latency the stream reports is the one a live run would see, while
the replay takes only the compute time. For each set of ``StreamOptions`` the tool prints the
end-of-speech -> final latency (p50/p95), the WER of the joined finals against the file's reference
(``FILE`` with ``.txt``) and counts, so a latency setting is always chosen with its accuracy cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_sdk.audio import TARGET_RATE, load_audio


class ReplayClock:
    """``time.perf_counter`` plus the idle time skipped so far."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.perf_counter() + self.skipped

    def wait_until(self, t: float) -> None:
        """Skip ahead to ``t`` if it is still in the future (a live loop would sleep until then)."""
        self.skipped += max(0.0, t - self())


def replay(transcriber, audio: np.ndarray, block_ms: int, reference: str | None = None, **options) -> dict:
    """Feed 16 kHz ``audio`` through a stream in ``block_ms`` blocks at real-time pacing; return figures.

    Args:
        transcriber: The model the stream decodes with.
        audio: 16 kHz mono float32 samples.
        block_ms: Capture block (the device profile's ``audio_block_ms``).
        reference: Text the finals are scored against (no WER when None).
        **options: ``StreamOptions`` fields.
    """
    from edge_sdk.speech.evaluate import corpus_wer

    clock = ReplayClock()
    stream = transcriber.create_stream(clock=clock, **options)
    block = max(1, TARGET_RATE * block_ms // 1000)
    start, finals = clock(), []
    for i in range(0, audio.shape[0], block):
        arrival = start + min(i + block, audio.shape[0]) / TARGET_RATE
        clock.wait_until(arrival)
        finals += [e for e in stream.accept_waveform(audio[i : i + block], TARGET_RATE, captured_at=arrival) if e.kind == "final"]
    finals += [e for e in stream.input_finished() if e.kind == "final"]
    latencies = np.asarray([e.latency_ms for e in finals if e.reason == "endpoint"])
    st = stream.stats
    return {
        "options": options,
        "block_ms": block_ms,
        "eos_to_final_ms_p50": round(float(np.percentile(latencies, 50)), 1) if latencies.size else None,
        "eos_to_final_ms_p95": round(float(np.percentile(latencies, 95)), 1) if latencies.size else None,
        "wer": round(corpus_wer([reference], [" ".join(e.text for e in finals)]), 2) if reference else None,
        "finals": len(finals),
        "speculative_reused": st.speculative_reused,
        "partials_skipped": st.partials_skipped,
        "decode_s_per_audio_s": round(st.decode_s / (audio.shape[0] / TARGET_RATE), 3),
    }


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.datasets import data_dir
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    p = argparse.ArgumentParser(prog="python -m edge_sdk.bench.endpointing", description=__doc__.split("\n\n")[0])
    p.add_argument("file", nargs="?", type=Path, help="audio file (default: the shared speech/long recording)")
    p.add_argument("--reference", type=Path, help="reference text (default: FILE with .txt)")
    p.add_argument("--bundle", default="whisper-tiny.en")
    p.add_argument("--variant")
    p.add_argument("--block-ms", type=int, help="capture block (default: the device profile's)")
    p.add_argument("--options", nargs="+", default=["{}"], metavar="JSON", help="StreamOptions fields, one JSON object per run")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    path = args.file or next((data_dir() / "speech" / "long").glob("*.flac"))
    ref_path = args.reference or path.with_suffix(".txt")
    reference = ref_path.read_text() if ref_path.is_file() else None
    transcriber = Transcriber.create(TranscriberOptions(bundle=args.bundle, variant=args.variant))
    block_ms = args.block_ms or resolve_device().capture.audio_block_ms
    audio, _ = load_audio(str(path))
    results = []
    for text in args.options:
        results.append(replay(transcriber, audio, block_ms, reference, **json.loads(text)))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"file": str(path), "variant": transcriber.variant, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
