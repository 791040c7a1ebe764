"""The camera loop: frames from a :class:`CameraSource` through a video-mode classifier.

Each :class:`CameraResult` carries the frame's age when its result was ready, the drops so far
and the loop FPS. :func:`draw_overlay` and :class:`AnnotatedWriter` draw the top label and FPS
and write an annotated video.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import DeviceError, InvalidInputError, require
from edge_sdk.vision.camera import CameraSource, Frame
from edge_sdk.vision.classifier import FrameClassifier, RunningMode
from edge_sdk.vision.results import ClassificationResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraResult:
    """A classified frame: the result, how old the frame was when it was ready, and loop counters."""

    frame: Frame
    result: ClassificationResult
    frame_age_ms: float
    dropped_frames: int
    fps: float


def run_camera(classifier: FrameClassifier, camera: CameraSource, max_frames: int | None = None) -> Iterator[CameraResult]:
    """Classify frames from ``camera`` as they come (lazily: a generator).

    Args:
        classifier: A classifier in ``video`` running mode.
        camera: An open source; its drop policy decides what is skipped when inference is slow.
        max_frames: Stop after this many results (None: until the source ends).

    Raises:
        ValueError: The classifier is not in video mode.
    """
    if classifier.options.running_mode is not RunningMode.VIDEO:
        raise ValueError("run_camera() needs a classifier created with running_mode='video'")
    times: list[float] = []
    n = 0
    for frame in camera:
        try:
            result = classifier.classify_for_video(frame.image, frame.timestamp_ms)
        except InvalidInputError as exc:  # e.g. a zero-size frame: skip it, keep the loop alive
            log.warning("frame %d skipped: %s", frame.index, exc)
            continue
        now = time.monotonic()
        times = [t for t in times if now - t < 2.0] + [now]
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        yield CameraResult(frame, result, frame.age_ms(now), camera.stats.dropped, fps)
        n += 1
        if max_frames is not None and n >= max_frames:
            return


def draw_overlay(image: np.ndarray, result: ClassificationResult, fps: float | None = None) -> np.ndarray:
    """A copy of ``image`` (BGR) with the top label, score and FPS drawn in the top-left corner."""
    cv2 = require("cv2", "camera")
    out = np.ascontiguousarray(image.copy())
    top = result.categories[0] if result.categories else None
    text = f"{top.label} {top.score:.2f}" if top else "-"
    if fps:
        text += f"  {fps:.1f} fps"
    scale = max(0.4, out.shape[1] / 1280)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (w + 10, h + base + 10), (0, 0, 0), -1)
    cv2.putText(out, text, (5, h + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class AnnotatedWriter:
    """Writes annotated frames to a video file (MJPG in .avi, mp4v in .mp4). Close it (or use ``with``)."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        cv2 = require("cv2", "camera")
        self.path = Path(path)
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG"))
        self._writer = cv2.VideoWriter(str(self.path), fourcc, fps or 30.0, size)
        if not self._writer.isOpened():
            raise DeviceError(f"cannot write video {self.path}; use a .avi or .mp4 path in a writable folder")
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        self._writer.release()

    def __enter__(self) -> AnnotatedWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
