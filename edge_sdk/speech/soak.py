"""Soak the live speech loop: play a file as live, over and over, and record RSS, latency and lag over time.

    python -m edge_sdk.speech.soak --bundle whisper-tiny.en --minutes 30 [--speed 1] [--json out.json]

One stream runs for the whole duration (stream time keeps growing, as on a device that runs for weeks);
every ``interval_s`` a sample records RSS, the p95 end-of-speech-to-final latency of the finals since the
last sample, the current and maximum lag. The report fits a line through the samples after a warm-up and
gives the slopes (RSS MB per hour, latency p95 ms per hour): a leak shows as a steady positive RSS slope.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from edge_sdk.memory import rss_mb, slope_per_hour

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SoakSample:
    """One point of the soak: wall time, audio time, RSS, latency p95 of recent finals, lag."""

    wall_s: float
    audio_s: float
    rss_mb: float
    latency_p95_ms: float
    lag_s: float
    finals: int
    partials_skipped: int


@dataclass(frozen=True)
class SoakReport:
    """Result of :func:`soak_speech`; slopes are fitted after the first ``warmup`` fraction of samples."""

    duration_s: float
    audio_s: float
    passes: int
    samples: tuple[SoakSample, ...]
    rss_slope_mb_per_h: float
    latency_p95_slope_ms_per_h: float
    rss_start_mb: float
    rss_end_mb: float
    max_lag_s: float
    finals: int
    partials_skipped: int
    samples_lost: int

    def to_dict(self) -> dict:
        return asdict(self)


def soak_speech(model, path, duration_s: float, speed: float = 1.0, realtime: bool = True, interval_s: float = 10.0,
                warmup: float = 0.2, max_passes: int | None = None, **stream_options) -> SoakReport:
    """Run one live stream over ``path`` played in a loop for ``duration_s`` wall seconds.

    Args:
        model: A Transcriber or CTCModel (anything with ``create_stream``).
        path: Audio file played as live, again and again.
        duration_s: Wall time to run.
        speed: Playback speed when ``realtime``.
        realtime: Pace the file; False feeds it as fast as the loop consumes it.
        interval_s: Wall seconds between samples.
        warmup: Fraction of samples left out of the slope fits (allocator and cache warm-up).
        max_passes: Stop after this many plays of the file even if ``duration_s`` is not over.
        **stream_options: Fields of :class:`~edge_sdk.speech.stream.StreamOptions`.
    """
    from edge_sdk.speech.sources import FileSource

    stream = model.create_stream(**stream_options)
    samples: list[SoakSample] = []
    t0 = time.monotonic()
    next_sample, passes, seen_latencies = t0 + interval_s, 0, 0
    while time.monotonic() - t0 < duration_s and (max_passes is None or passes < max_passes):
        passes += 1
        with FileSource(path, realtime=realtime, speed=speed) as src:
            for chunk in src:
                stream.accept_waveform(chunk.samples, chunk.sample_rate, captured_at=chunk.timestamp_s)
                now = time.monotonic()
                if now >= next_sample:
                    s = stream.stats
                    recent = list(s.final_latencies_ms)[-max(0, s.finals - seen_latencies):] if s.finals > seen_latencies else []
                    seen_latencies = s.finals
                    samples.append(SoakSample(
                        now - t0, s.samples_received / 16000, rss_mb(),
                        float(np.percentile(recent, 95)) if recent else float("nan"), s.lag_s, s.finals, s.partials_skipped,
                    ))
                    log.info("soak %.0f s: rss %.1f MB, audio %.0f s", now - t0, samples[-1].rss_mb, samples[-1].audio_s)
                    next_sample = now + interval_s
                if now - t0 >= duration_s:
                    break
    stream.input_finished()
    fit = samples[int(len(samples) * warmup):]
    lat = [(x.wall_s, x.latency_p95_ms) for x in fit if not np.isnan(x.latency_p95_ms)]
    s = stream.stats
    return SoakReport(
        duration_s=time.monotonic() - t0, audio_s=s.samples_received / 16000, passes=passes, samples=tuple(samples),
        rss_slope_mb_per_h=slope_per_hour([x.wall_s for x in fit], [x.rss_mb for x in fit]),
        latency_p95_slope_ms_per_h=slope_per_hour([t for t, _ in lat], [v for _, v in lat]),
        rss_start_mb=fit[0].rss_mb if fit else rss_mb(), rss_end_mb=rss_mb(), max_lag_s=s.max_lag_s,
        finals=s.finals, partials_skipped=s.partials_skipped, samples_lost=s.samples_lost,
    )


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.speech.transcriber import DEFAULT_BUNDLE, Transcriber, TranscriberOptions

    ap = argparse.ArgumentParser(description="Soak the live speech loop with a file played as live.")
    ap.add_argument("--bundle", default=DEFAULT_BUNDLE)
    ap.add_argument("--variant", default=None)
    ap.add_argument("--audio", required=True, help="file played in a loop")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--interval-s", type=float, default=30.0)
    ap.add_argument("--json", default=None, help="write the full report here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model = Transcriber.create(TranscriberOptions(bundle=args.bundle, variant=args.variant))
    report = soak_speech(model, args.audio, args.minutes * 60, speed=args.speed, interval_s=args.interval_s)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=1, default=float)
    print(f"{report.duration_s / 60:.1f} min, {report.audio_s / 60:.1f} min of audio, {report.finals} finals; "
          f"RSS {report.rss_start_mb:.0f} -> {report.rss_end_mb:.0f} MB (slope {report.rss_slope_mb_per_h:+.1f} MB/h); "
          f"latency p95 slope {report.latency_p95_slope_ms_per_h:+.0f} ms/h; max lag {report.max_lag_s:.2f} s; "
          f"partials skipped {report.partials_skipped}; samples lost {report.samples_lost}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
