"""Live labels from a camera, a video file played as live, or an RTSP/HTTP stream.

    python examples/classify_camera.py 0                                   # first camera
    python examples/classify_camera.py data/video/bottle-detection_0s-5s.mp4
    python examples/classify_camera.py rtsp://192.168.1.20:8554/cam --out annotated.avi

The grabber keeps only the newest frame, so labels stay fresh when inference is slower than the
camera; each line shows how old the frame was when its label was ready and how many were dropped.
"""

from __future__ import annotations

import sys

from edge_sdk import CameraSource, FrameClassifier, FrameClassifierOptions, run_camera
from edge_sdk.vision.loop import AnnotatedWriter, draw_overlay


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    source = args[0] if args else "data/video/bottle-detection_0s-5s.mp4"
    out = args[args.index("--out") + 1] if "--out" in args else None
    options = FrameClassifierOptions(bundle="efficientnet-lite0", running_mode="video", top_k=1, smoothing_factor=0.3)
    writer = None
    with FrameClassifier.create(options) as classifier, CameraSource(source, latest_only=True, realtime=True) as camera:
        for item in run_camera(classifier, camera):
            top = item.result.categories[0]
            change = "  <- label changed" if item.result.label_change else ""
            print(f"{item.frame.timestamp_ms:7d} ms  {top.label:24s} {top.score:.2f}  age {item.frame_age_ms:5.1f} ms  "
                  f"dropped {item.dropped_frames}  {item.fps:4.1f} fps{change}")
            if out:
                annotated = draw_overlay(item.frame.image, item.result, item.fps)
                if writer is None:
                    writer = AnnotatedWriter(out, camera.fps or 30.0, (annotated.shape[1], annotated.shape[0]))
                writer.write(annotated)
        for event in camera.events:
            print(f"camera: {event.kind} {event.detail}")
    if writer is not None:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
