"""Soak the camera loop: a video file played as a live camera, over and over, for a given duration.

    edge-sdk soak camera --minutes 30 [--video FILE] [--json out.json]

Every ``interval_s`` a sample records RSS, the p95 end-to-end latency and the p95 frame age of the
frames since the last sample, and the dropped-frame count. Slopes are fitted after a warm-up, as in
:mod:`edge_sdk.speech.soak`: a leak shows as a steady positive RSS slope.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from edge_sdk.memory import rss_mb, slope_per_hour

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSoakSample:
    wall_s: float
    frames: int
    rss_mb: float
    latency_p95_ms: float
    frame_age_p95_ms: float
    dropped: int


@dataclass(frozen=True)
class CameraSoakReport:
    duration_s: float
    passes: int
    frames: int
    dropped: int
    samples: tuple[CameraSoakSample, ...]
    rss_slope_mb_per_h: float
    latency_p95_slope_ms_per_h: float
    frame_age_p95_slope_ms_per_h: float
    rss_start_mb: float
    rss_end_mb: float

    def to_dict(self) -> dict:
        return asdict(self)


def soak_camera(classifier, video: str, duration_s: float, interval_s: float = 10.0, warmup: float = 0.2) -> CameraSoakReport:
    """Play ``video`` in real time with the latest-frame policy through ``classifier`` (video mode)."""
    from edge_sdk.vision.camera import CameraSource

    samples: list[CameraSoakSample] = []
    lat, ages = [], []
    frames = dropped = passes = 0
    offset_ms = 0
    t0 = time.monotonic()
    next_sample = t0 + interval_s
    while time.monotonic() - t0 < duration_s:
        passes += 1
        last_ts = 0
        with CameraSource(video, latest_only=True, realtime=True) as cam:
            for frame in cam:
                r = classifier.classify_for_video(frame.image, offset_ms + frame.timestamp_ms + 1)
                now = time.monotonic()
                last_ts = frame.timestamp_ms + 1
                lat.append(r.preprocess_ms + r.inference_ms + r.postprocess_ms)
                ages.append(frame.age_ms(now))
                frames += 1
                if now >= next_sample:
                    samples.append(CameraSoakSample(now - t0, frames, rss_mb(), float(np.percentile(lat, 95)), float(np.percentile(ages, 95)), dropped + cam.stats.dropped))
                    lat, ages = [], []
                    next_sample = now + interval_s
                if now - t0 >= duration_s:
                    break
            dropped += cam.stats.dropped
        offset_ms += last_ts + 1000
    fit = samples[int(len(samples) * warmup):]
    t = [s.wall_s for s in fit]
    return CameraSoakReport(
        duration_s=time.monotonic() - t0, passes=passes, frames=frames, dropped=dropped, samples=tuple(samples),
        rss_slope_mb_per_h=slope_per_hour(t, [s.rss_mb for s in fit]),
        latency_p95_slope_ms_per_h=slope_per_hour(t, [s.latency_p95_ms for s in fit]),
        frame_age_p95_slope_ms_per_h=slope_per_hour(t, [s.frame_age_p95_ms for s in fit]),
        rss_start_mb=fit[0].rss_mb if fit else rss_mb(), rss_end_mb=rss_mb(),
    )
