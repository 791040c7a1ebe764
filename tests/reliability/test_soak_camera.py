"""A short soak of the real camera loop: a 30 fps file replayed as a live camera through the
real classifier for 40 s. Fails on a clear memory leak; records drops and frame age."""

from __future__ import annotations

import pytest

from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
from edge_sdk.vision.soak import soak_camera


@pytest.mark.slow
def test_short_camera_soak_holds_memory(vision_bundle, data_dir):
    with FrameClassifier.create(FrameClassifierOptions(bundle=str(vision_bundle), variant="fp32", running_mode="video", top_k=1)) as clf:
        report = soak_camera(clf, str(data_dir / "video" / "bottle-detection_0s-5s.mp4"), duration_s=40, interval_s=4)
    assert report.passes >= 5 and report.frames > 100
    # A leaked frame per result would be 0.9 MB each (640x480 BGR): hundreds of MB here.
    assert report.rss_end_mb - report.rss_start_mb < 30, report
    assert all(s.frame_age_p95_ms < 2000 for s in report.samples), report
