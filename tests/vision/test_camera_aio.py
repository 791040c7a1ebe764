"""edge_sdk.aio over the camera loop: the labels of the sync loop, through async for and through callbacks."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("cv2", reason="OpenCV (edge-sdk-ondevice[camera]) is needed for capture")

from edge_sdk.aio import camera_results, on_camera_results  # noqa: E402
from edge_sdk.vision.camera import CameraSource  # noqa: E402
from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions  # noqa: E402
from edge_sdk.vision.loop import run_camera  # noqa: E402

VIDEO = "video/bottle-detection_0s-5s.mp4"
FRAMES = 24


def _labels(results) -> list[tuple[int, str]]:
    return [(r.frame.index, r.result.categories[0].label) for r in results]


def _classifier(bundle) -> FrameClassifier:
    return FrameClassifier.create(FrameClassifierOptions(bundle=str(bundle), running_mode="video"))


def test_async_for_gives_the_labels_of_the_sync_loop(vision_bundle, data_dir):
    with _classifier(vision_bundle) as clf, CameraSource(str(data_dir / VIDEO)) as cam:
        want = _labels(run_camera(clf, cam, max_frames=FRAMES))

    async def collect():
        events = camera_results(classifier=clf2, camera=CameraSource(str(data_dir / VIDEO)), max_frames=FRAMES, max_queue=64)
        return [r async for r in events], events

    with _classifier(vision_bundle) as clf2:
        got, events = asyncio.run(collect())
    assert len(want) == FRAMES and _labels(got) == want and events.dropped == 0
    assert not events.thread.is_alive()


def test_callbacks_give_the_labels_of_the_sync_loop(vision_bundle, data_dir):
    with _classifier(vision_bundle) as clf, CameraSource(str(data_dir / VIDEO)) as cam:
        want = _labels(run_camera(clf, cam, max_frames=FRAMES))
    got = []
    with _classifier(vision_bundle) as clf2:
        run = on_camera_results(classifier=clf2, camera=CameraSource(str(data_dir / VIDEO)), on_event=got.append,
                                max_frames=FRAMES)
        assert run.join(60)
    assert _labels(got) == want
    assert not [t for t in threading.enumerate() if t.name == "edge-sdk-camera"]
