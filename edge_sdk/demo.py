"""``edge-sdk demo``: the three capabilities on the shared data, then a short benchmark table.

1. Speech: ``speech/long`` (3.6 min) played through the live transcriber (partials and finals).
2. Vision: a video made of the real photos in ``images/``, played through the camera loop.
3. Text: a summary of the first document of ``text/summaries.jsonl``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_sdk.datasets import data_dir
from edge_sdk.memory import peak_rss_mb


def _line(text: str) -> None:
    sys.stdout.write("\r\x1b[K" + text[:150])
    sys.stdout.flush()


def demo_speech(data: Path, speed: float) -> dict:
    from edge_sdk.speech.sources import FileSource
    from edge_sdk.speech.stream import transcribe_live
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    asr = Transcriber.create(TranscriberOptions())
    stream = asr.create_stream()
    path = next((data / "speech" / "long").glob("*.flac"))
    print(f"== speech: {path.name} played live at {speed}x on {asr.bundle.name}/{asr.variant} ({', '.join(asr.providers)})")
    t0 = time.monotonic()
    with FileSource(path, realtime=speed > 0, speed=speed or 1.0) as src:
        for ev in transcribe_live(stream, src):
            if ev.kind == "partial":
                _line(f"  ... {ev.text}")
            elif ev.kind == "final":
                _line(f"  [{ev.start_s:6.1f}-{ev.end_s:6.1f}s] {ev.text}\n")
            else:
                _line(f"  {ev.kind}: {ev.text}\n")
    st = stream.stats
    lat = np.asarray(st.final_latencies_ms) if st.final_latencies_ms else np.zeros(1)
    return {"task": "speech (live)", "variant": asr.variant, "items": f"{st.finals} finals",
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "note": f"end of speech -> final; {st.samples_received / 16000:.0f} s audio in {time.monotonic() - t0:.0f} s"}


def photo_video(data: Path, out: Path, fps: int = 30, seconds_each: float = 1.0) -> Path:
    """An MJPEG .avi showing each labelled photo for ``seconds_each`` (a camera stand-in made of real photos)."""
    import cv2

    from edge_sdk.vision.image_io import load_image

    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for path in sorted((data / "images").glob("*.*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        img = load_image(path)
        img = cv2.resize(img[..., :3] if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), (640, 480))
        for _ in range(int(fps * seconds_each)):
            writer.write(img.astype(np.uint8))
    writer.release()
    return out


def demo_vision(data: Path) -> dict:
    from edge_sdk.vision.camera import CameraSource
    from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
    from edge_sdk.vision.loop import run_camera

    with tempfile.TemporaryDirectory() as tmp:
        video = photo_video(data, Path(tmp) / "photos.avi")
        opts = FrameClassifierOptions(running_mode="video", top_k=1)
        with FrameClassifier.create(opts) as clf, CameraSource(str(video), latest_only=True, realtime=True) as cam:
            print(f"\n== vision: 6 photos as a 30 fps video through the camera loop on {clf.variant} ({', '.join(clf.providers)})")
            last, latencies, ages = None, [], []
            for item in run_camera(clf, cam):
                top = item.result.categories[0]
                latencies.append(item.result.preprocess_ms + item.result.inference_ms + item.result.postprocess_ms)
                ages.append(item.frame_age_ms)
                if top.label != last:
                    print(f"  t={item.frame.timestamp_ms / 1000:5.2f}s  {top.label} ({top.score:.2f})  frame age {item.frame_age_ms:.0f} ms, dropped so far {item.dropped_frames}")
                    last = top.label
            return {"task": "vision (camera)", "variant": clf.variant, "items": f"{len(latencies)} frames, {cam.stats.dropped} dropped",
                    "p50_ms": float(np.percentile(latencies, 50)), "p95_ms": float(np.percentile(latencies, 95)),
                    "note": f"frame age p50 {np.percentile(ages, 50):.0f} ms"}


def demo_text(data: Path) -> dict:
    from edge_sdk.text.summarizer import Summarizer

    record = json.loads((data / "text" / "summaries.jsonl").open(encoding="utf-8").readline())
    with Summarizer.create() as summarizer:
        summary = summarizer.summarize(record["article"], sentences=3)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            summarizer.summarize(record["article"], sentences=3)
            times.append((time.perf_counter() - t0) * 1000)
    print(f"\n== text: {summary.input_words} words of {record['id']} -> 3 sentences on {summary.variant}")
    for s in summary.sentences:
        print(f"  [{s.start_char}:{s.end_char}] {s.text}")
    return {"task": "text (summary)", "variant": summary.variant, "items": f"{summary.input_words} words",
            "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "note": "per document"}


def run_demo(args) -> int:
    data = data_dir(args.data)
    rows = [demo_speech(data, args.speed), demo_vision(data), demo_text(data)]
    print("\n== benchmark (this run)")
    print(f"  {'task':18s} {'variant':8s} {'p50 ms':>8s} {'p95 ms':>8s}  {'items':24s} note")
    for r in rows:
        print(f"  {r['task']:18s} {r['variant']:8s} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}  {r['items']:24s} {r['note']}")
    print(f"  peak RSS {peak_rss_mb():.0f} MB")
    return 0
