"""Camera and stream capture over OpenCV, on a grabber thread, as a plain iterator of frames.

Sources: a device index (``0`` or ``"0"``), a video file, an RTSP/HTTP/UDP stream URL, or a
GStreamer pipeline string (contains ``!``; the Jetson profiles supply one for CSI cameras).

Policies:

- ``latest_only=True`` (default for cameras and streams): the grabber keeps only the newest
  frame; frames replaced before they were consumed are counted in ``stats.dropped``.
- ``latest_only=False`` (default for files): every frame is delivered; the grabber waits.
- ``realtime=True`` plays a file at its own frame rate, as a live camera would deliver it.
- Live sources (cameras, streams, pipelines) that fail are reopened with exponential backoff (``reconnect_initial_s`` doubling up
  to ``reconnect_max_s``) until ``reconnect_timeout_s``; each outage is recorded in
  ``stats.outages`` with its duration, and as ``disconnected`` / ``reconnected`` events.
- A file ends cleanly: iteration stops after the last frame.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge_sdk.errors import DeviceError, InvalidInputError, require
from edge_sdk.inputfile import check_input_file

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://", "rtmp://")
BACKENDS = ("any", "ffmpeg", "gstreamer", "v4l2")


@dataclass(frozen=True)
class Frame:
    """One captured frame (BGR uint8) with its position and capture time.

    ``timestamp_ms`` is the position in a file, or milliseconds since the source opened for live
    sources; it always increases. ``captured_s`` is ``time.monotonic()`` at capture.
    """

    image: np.ndarray
    index: int
    timestamp_ms: int
    captured_s: float

    def age_ms(self, now_s: float | None = None) -> float:
        """Milliseconds since the frame was captured."""
        return ((time.monotonic() if now_s is None else now_s) - self.captured_s) * 1e3


@dataclass(frozen=True)
class CameraEvent:
    """Something that happened to the source: ``opened``, ``disconnected``, ``reconnected``, ``gave_up``, ``end``."""

    kind: str
    time_s: float
    detail: str = ""


@dataclass(frozen=True)
class Outage:
    """A stream outage: when it started, how long it lasted, and why."""

    start_s: float
    duration_s: float
    reason: str


@dataclass
class CaptureStats:
    """Counters of the grabber thread (updated live)."""

    captured: int = 0
    delivered: int = 0
    dropped: int = 0
    empty: int = 0
    reconnects: int = 0
    outages: list[Outage] = field(default_factory=list)


def classify_source(source: str | int) -> str:
    """``"index"``, ``"gstreamer"``, ``"stream"`` or ``"file"`` for a source spec."""
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        return "index"
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputError(f"camera source {source!r}: give a device index, file path, stream URL or GStreamer pipeline")
    if "!" in source:
        return "gstreamer"
    if source.lower().startswith(STREAM_SCHEMES):
        return "stream"
    return "file"


class CameraSource:
    """Frames from a camera, file, stream or pipeline; iterate it, then :meth:`close` (or use ``with``).

    Args:
        source: Device index, file path, stream URL, or GStreamer pipeline string.
        latest_only: Keep only the newest frame (None: True for live sources, False for files).
        realtime: Pace a file at its frame rate (None: False). Ignored for live sources.
        backend: ``any``, ``ffmpeg``, ``gstreamer`` or ``v4l2`` (the device profile's ``camera_backend``).
        reconnect_initial_s: First reconnect delay for streams; doubles after each failure.
        reconnect_max_s: Longest delay between reconnect attempts.
        reconnect_timeout_s: Give up (``gave_up`` event, iteration ends) after this long without a frame.
        open_timeout_s: Open/read timeout handed to OpenCV's FFmpeg backend.
        queue_frames: Buffer length in keep-all mode.

    Raises:
        DeviceError: The source cannot be opened (no such camera index, unreachable stream).
        InputNotFoundError: A file source does not exist (also a ``BundleNotFoundError``).
        InvalidInputError: Bad option values.
    """

    def __init__(
        self,
        source: str | int,
        latest_only: bool | None = None,
        realtime: bool | None = None,
        backend: str = "any",
        reconnect_initial_s: float = 0.25,
        reconnect_max_s: float = 4.0,
        reconnect_timeout_s: float = 30.0,
        open_timeout_s: float = 5.0,
        queue_frames: int = 8,
    ) -> None:
        self._cv2 = require("cv2", "camera")
        self.kind = classify_source(source)
        if backend not in BACKENDS:
            raise InvalidInputError(f"backend={backend!r} is not one of {BACKENDS}")
        if not 0 < reconnect_initial_s <= reconnect_max_s:
            raise InvalidInputError(f"reconnect_initial_s={reconnect_initial_s} must be > 0 and <= reconnect_max_s={reconnect_max_s}")
        if queue_frames < 1:
            raise InvalidInputError(f"queue_frames={queue_frames}: use 1 or more")
        if self.kind == "file":
            check_input_file(source, "video file")
        self.source = source
        self.is_live = self.kind != "file"
        self.latest_only = self.is_live if latest_only is None else bool(latest_only)
        self.realtime = bool(realtime) and not self.is_live
        self.backend = backend
        self._backoff = (reconnect_initial_s, reconnect_max_s, reconnect_timeout_s)
        self._open_timeout_ms = int(open_timeout_s * 1000)
        self.stats = CaptureStats()
        self.events: deque[CameraEvent] = deque(maxlen=1000)
        self.fps = 0.0
        self._stop = threading.Event()
        self._done = threading.Event()
        self._slot: Frame | None = None
        self._slot_cv = threading.Condition()
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_frames)
        self._t_open = time.monotonic()
        self._cap = self._open()
        self._event("opened", f"{self.kind} {source!r} at {self.fps:.2f} fps")
        self._thread = threading.Thread(target=self._grab_loop, name="camera-grabber", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ opening

    def _api(self) -> int:
        cv2 = self._cv2
        if self.kind == "gstreamer":
            return cv2.CAP_GSTREAMER
        return {"any": cv2.CAP_ANY, "ffmpeg": cv2.CAP_FFMPEG, "gstreamer": cv2.CAP_GSTREAMER, "v4l2": cv2.CAP_V4L2}[self.backend]

    def _try_open(self):
        cv2 = self._cv2
        src = int(self.source) if self.kind == "index" else self.source
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self._open_timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self._open_timeout_ms]
        cap = cv2.VideoCapture(src, self._api(), params) if self.kind in ("stream", "file") else cv2.VideoCapture(src, self._api())
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _open(self):
        cap = self._try_open()
        if cap is None:
            hint = {
                "index": "check the device exists (ls /dev/video*) and is not in use",
                "stream": "check the URL and that the server is reachable",
                "gstreamer": "check the pipeline with gst-launch-1.0 and that OpenCV was built with GStreamer",
                "file": "check the file is a video OpenCV's FFmpeg backend can decode",
            }[self.kind]
            raise DeviceError(f"cannot open camera source {self.source!r} ({self.kind}); {hint}")
        fps = cap.get(self._cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else 0.0
        return cap

    # ------------------------------------------------------------------ grabber thread

    def _event(self, kind: str, detail: str = "") -> None:
        self.events.append(CameraEvent(kind, time.monotonic(), detail))
        log.info("camera %s: %s %s", self.source, kind, detail)

    def _deliver(self, frame: Frame) -> None:
        if self.latest_only:
            with self._slot_cv:
                if self._slot is not None:
                    self.stats.dropped += 1
                self._slot = frame
                self._slot_cv.notify()
            return
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _reconnect(self, reason: str) -> bool:
        start = time.monotonic()
        self._event("disconnected", reason)
        self._cap.release()
        delay, max_delay, timeout = self._backoff
        attempts = 0
        while not self._stop.is_set():
            if self._stop.wait(delay):
                return False
            attempts += 1
            cap = self._try_open()
            if cap is not None:
                self._cap = cap
                down = time.monotonic() - start
                self.stats.reconnects += 1
                self.stats.outages.append(Outage(start, down, reason))
                self._event("reconnected", f"after {down:.2f} s, {attempts} attempts")
                return True
            if time.monotonic() - start > timeout:
                self.stats.outages.append(Outage(start, time.monotonic() - start, reason))
                self._event("gave_up", f"no frame for {timeout:.0f} s after {attempts} attempts")
                return False
            delay = min(delay * 2, max_delay)
        return False

    def _grab_loop(self) -> None:
        cv2 = self._cv2
        index = 0
        t_play = time.monotonic()
        last_ts = -1
        try:
            while not self._stop.is_set():
                ok, img = self._cap.read()
                if not ok:
                    if self.is_live and self._reconnect("read failed (camera unplugged, stream ended or dropped)"):
                        continue
                    if not self.is_live:
                        self._event("end", f"end of file after {index} frames")
                    break
                now = time.monotonic()
                if img is None or img.size == 0:
                    self.stats.empty += 1
                    continue
                if self.is_live:
                    ts = int((now - self._t_open) * 1000)
                else:
                    pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                    ts = int(pos) if pos and pos > 0 else int(index * 1000 / (self.fps or 30.0))
                    if self.realtime:
                        due = t_play + index / (self.fps or 30.0)
                        if self._stop.wait(max(0.0, due - time.monotonic())):
                            break
                        now = time.monotonic()
                ts = max(ts, last_ts + 1)  # strictly increasing, as classify_for_video requires
                last_ts = ts
                self.stats.captured += 1
                self._deliver(Frame(img, index, ts, now))
                index += 1
        except Exception as exc:  # report, never die silently
            self._event("gave_up", f"grabber error: {exc!r}")
            log.exception("camera grabber failed")
        finally:
            self._done.set()
            with self._slot_cv:
                self._slot_cv.notify_all()
            if not self.latest_only:
                try:
                    self._queue.put_nowait(None)
                except queue.Full:
                    pass

    # ------------------------------------------------------------------ consumer side

    def read(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame (newest one in latest-only mode), or None when the source has ended."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self.latest_only:
            with self._slot_cv:
                while self._slot is None:
                    if self._done.is_set():
                        return None
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return None
                    self._slot_cv.wait(0.1 if remaining is None else min(0.1, remaining))
                frame, self._slot = self._slot, None
        else:
            while True:
                try:
                    frame = self._queue.get(timeout=0.1)
                    break
                except queue.Empty:
                    if self._done.is_set() and self._queue.empty():
                        return None
                    if deadline is not None and time.monotonic() > deadline:
                        return None
            if frame is None:
                return None
        self.stats.delivered += 1
        return frame

    def __iter__(self):
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        """Stop the grabber and release the device. Idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._cap.release()

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
