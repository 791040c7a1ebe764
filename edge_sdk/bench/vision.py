"""Vision benchmark: per-frame latency (preprocess included, decode excluded) on video frames,
top-1 on the labelled photos, and the camera loop (FPS, frame age, drops) on a 30 fps file in real time.

References: ``ref:onnxruntime-fp32`` (the bundle's fp32 ONNX in a default onnxruntime session) and
``ref:onnxruntime-int8-default`` (``quantize_static`` with every default, calibrated on the same
photos), both fed by the same preprocessing; both come from :mod:`edge_sdk.bench.references`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edge_sdk.devices.kernels import kernel_int8_format
from edge_sdk.devices.resolve import ResolvedDevice
from edge_sdk.errors import require
from edge_sdk.vision.evaluate import read_label_tsv

BUNDLE = "efficientnet-lite0"
VIDEO = "video/bottle-detection_0s-5s.mp4"  # 29.83 fps


def read_frames(path: Path, n: int) -> list[np.ndarray]:
    cv2 = require("cv2", "camera")
    cap, frames = cv2.VideoCapture(str(path)), []
    while len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def labelled(data: Path, quick: bool) -> list[tuple[Path, int]]:
    rows = read_label_tsv(data / "images" / "labels.tsv")
    return rows if quick else rows + read_label_tsv(data / "images" / "calibration" / "labels.tsv")


def load_bundle_size(variant: str) -> float:
    from edge_sdk.bundle import load_bundle

    return load_bundle(BUNDLE).variants[variant].size_bytes / 1e6


class Runner:
    def __init__(self, variant: str, device: ResolvedDevice, data: Path, quick: bool):
        from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
        from edge_sdk.vision.image_io import load_image
        from edge_sdk.vision.preprocess import PreprocessConfig, preprocess

        self.variant, self.device, self.data, self.quick = variant, device, data, quick
        self.frames = read_frames(data / VIDEO, 10 if quick else 60)
        self.photos = [(load_image(p), idx) for p, idx in labelled(data, quick)]
        self.bundle_name = BUNDLE
        if variant.startswith("ref:"):
            from edge_sdk.bench.references import onnxruntime_default_session, onnxruntime_int8_default
            from edge_sdk.bundle import load_bundle

            bundle = load_bundle(BUNDLE)
            pre = PreprocessConfig.from_dict(bundle.preprocessing)
            fp32 = bundle.read(bundle.variants["fp32"].files["model"])
            if variant == "ref:onnxruntime-int8-default":
                calib = sorted((data / "images" / "calibration").glob("*.jpg"))[::7][:32]
                fp32 = onnxruntime_int8_default(fp32, [preprocess(load_image(p), pre) for p in calib])
            sess = onnxruntime_default_session(fp32)
            name = sess.get_inputs()[0].name
            self.model_size_mb = round(len(fp32) / 1e6, 2)
            self.providers = tuple(sess.get_providers())
            self.predict = lambda img: sess.run(None, {name: preprocess(img, pre)})[0][0]
        else:
            self.clf = FrameClassifier.create(FrameClassifierOptions(bundle=BUNDLE, variant=variant, top_k=5, device=device.profile))
            self.model_size_mb = round(load_bundle_size(variant), 2)
            self.providers = self.clf.providers
            self.predict = lambda img: np.array([c.index for c in self.clf.classify(img).categories])

    def _top(self, img: np.ndarray) -> list[int]:
        out = self.predict(img)
        return list(out[:5]) if not self.variant.startswith("ref:") else list(np.argsort(-out)[:5])

    def warmup(self) -> None:
        for f in self.frames[:3]:
            self.predict(f)

    def timed(self) -> list[float]:
        samples = []
        for f in self.frames:
            t0 = time.perf_counter()
            self.predict(f)
            samples.append((time.perf_counter() - t0) * 1000)
        return samples

    def throughput(self, samples_ms: list[float]) -> dict:
        return {"value": round(1000 / float(np.median(samples_ms)), 1), "unit": "FPS"}

    def accuracy(self) -> dict:
        tops = [(self._top(img), idx) for img, idx in self.photos]
        top1 = float(np.mean([t[0] == i for t, i in tops]))
        top5 = float(np.mean([i in t for t, i in tops]))
        return {"metric": "top1", "value": round(100 * top1, 2), "top5": round(100 * top5, 2), "n": len(tops), "data": "shared/data/images labels.tsv + calibration/labels.tsv"}

    def live(self) -> dict | None:
        """Camera loop on a 30 fps file played in real time, latest-frame policy."""
        from edge_sdk.bundle import load_bundle

        if self.quick or self.variant.startswith("ref:") or self.variant != load_bundle(BUNDLE).choose_variant(None, self.device.variants, kernel_int8_format()).name:
            return None
        from edge_sdk.vision.camera import CameraSource
        from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
        from edge_sdk.vision.loop import run_camera

        opts = FrameClassifierOptions(bundle=BUNDLE, variant=self.variant, running_mode="video", device=self.device.profile)
        with FrameClassifier.create(opts) as clf, CameraSource(str(self.data / VIDEO), latest_only=True, realtime=True) as cam:
            t0 = time.monotonic()
            items = list(run_camera(clf, cam))
            wall = time.monotonic() - t0
        ages = np.array([i.frame_age_ms for i in items])
        return {
            "source_fps": round(cam.fps, 2), "results": len(items), "fps": round(len(items) / wall, 2),
            "frame_age_ms_p50": round(float(np.percentile(ages, 50)), 2), "frame_age_ms_p95": round(float(np.percentile(ages, 95)), 2),
            "dropped_frames": cam.stats.dropped, "captured_frames": cam.stats.captured,
        }
