"""Real OpenCV capture: shared videos, a localhost MJPEG stream served by ffmpeg, slow consumers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="OpenCV (edge-sdk-ondevice[camera]) is needed for capture")

from edge_sdk.errors import BundleNotFoundError, DeviceError  # noqa: E402
from edge_sdk.vision.camera import CameraSource, classify_source  # noqa: E402

BOTTLE = "video/bottle-detection_0s-5s.mp4"  # 640x360, 29.8 fps, 5 s
CAR = "video/car-detection_24s-29s.mp4"  # 768x432, 12.5 fps, 5 s


def test_source_kinds():
    assert classify_source(0) == "index" and classify_source("2") == "index"
    assert classify_source("rtsp://cam/stream") == "stream" and classify_source("http://h/x.mjpg") == "stream"
    assert classify_source("nvarguscamerasrc ! appsink") == "gstreamer"
    assert classify_source("clip.mp4") == "file"


def test_file_keep_all_delivers_every_frame_and_ends_cleanly(data_dir):
    with CameraSource(str(data_dir / CAR)) as cam:
        frames = list(cam)
    assert len(frames) == 63  # ffprobe nb_frames
    assert cam.stats.dropped == 0 and cam.stats.captured == 63
    ts = [f.timestamp_ms for f in frames]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    assert frames[0].image.shape == (432, 768, 3)
    assert cam.events[-1].kind == "end"


def test_realtime_latest_only_slow_consumer_drops_and_age_is_bounded(data_dir):
    """A consumer at ~8 fps behind a 30 fps source: drops are counted, frames stay fresh."""
    ages = []
    with CameraSource(str(data_dir / BOTTLE), latest_only=True, realtime=True) as cam:
        for frame in cam:
            time.sleep(0.12)  # the "slow model"
            ages.append(frame.age_ms())
    assert cam.stats.dropped > 60  # ~150 frames, ~40 consumed
    assert cam.stats.delivered + cam.stats.dropped == cam.stats.captured
    assert np.percentile(ages, 95) < 120 + 2 * 1000 / 30 + 60  # processing + at most ~2 frame intervals + slack


def test_missing_file_and_camera_index():
    with pytest.raises(BundleNotFoundError):
        CameraSource("/nonexistent/clip.mp4")
    with pytest.raises(DeviceError, match="cannot open camera source 57"):
        CameraSource(57)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary (apt-get install ffmpeg) to serve a stream")
def test_http_mjpeg_stream_reconnects_after_server_restart(data_dir):
    port = _free_port()
    server = _serve_once_ready(data_dir / BOTTLE, port)
    url = f"http://127.0.0.1:{port}/cam.mjpg"
    try:
        cam = CameraSource(url, reconnect_initial_s=0.1, reconnect_max_s=0.5, reconnect_timeout_s=20)
        got_before = _read_n(cam, 15)
        server.kill()
        server.wait()
        time.sleep(1.0)  # a real outage
        server = _serve_once_ready(data_dir / BOTTLE, port)
        got_after = _read_n(cam, 15, timeout_s=20)
        cam.close()
    finally:
        server.kill()
        server.wait()
    assert got_before == 15 and got_after == 15
    kinds = [e.kind for e in cam.events]
    assert "disconnected" in kinds and "reconnected" in kinds
    assert cam.stats.reconnects >= 1
    assert cam.stats.outages and cam.stats.outages[0].duration_s >= 0.9


def _serve_once_ready(video, port: int) -> subprocess.Popen:
    """ffmpeg as an MJPEG-over-HTTP server; not probed, since ``-listen 1`` accepts a single client."""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(video), "-an", "-c:v", "mjpeg",
           "-q:v", "6", "-f", "mpjpeg", "-listen", "1", f"http://127.0.0.1:{port}/cam.mjpg"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    time.sleep(0.7)
    return proc


def _read_n(cam: CameraSource, n: int, timeout_s: float = 10) -> int:
    got = 0
    deadline = time.monotonic() + timeout_s
    while got < n and time.monotonic() < deadline:
        frame = cam.read(timeout_s=1.0)
        if frame is not None:
            assert frame.image.shape == (360, 640, 3)
            got += 1
    return got
