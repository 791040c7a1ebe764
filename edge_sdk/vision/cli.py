"""``edge-sdk classify`` and ``edge-sdk eval vision``. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
import sys


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_classify(args) -> int:
    from edge_sdk.errors import InvalidInputError
    from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions

    if bool(args.images) == bool(args.camera):
        raise InvalidInputError("give image files, or --camera SRC (not both)")
    if args.camera:
        return _classify_camera(args)
    opts = FrameClassifierOptions(bundle=args.bundle, variant=args.variant, top_k=args.top_k)
    rows, failed = [], 0
    with FrameClassifier.create(opts) as clf:
        for path in args.images:
            try:
                r = clf.classify_file(path)
            except (InvalidInputError, FileNotFoundError) as exc:
                failed += 1
                rows.append({"file": path, "error": str(exc)})
                continue
            rows.append({"file": path, **r.to_dict()})
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            if "error" in row:
                print(f"{row['file']}: error: {row['error']}", file=sys.stderr)
                continue
            cats = ", ".join(f"{c['label']} ({c['index']}) {c['score']:.3f}" for c in row["categories"])
            print(f"{row['file']}: {cats}  [{row['variant']}, {row['latency_ms']:.1f} ms]")
    return 1 if failed else 0


def _classify_camera(args) -> int:
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.vision.camera import CameraSource
    from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
    from edge_sdk.vision.loop import AnnotatedWriter, draw_overlay, run_camera

    dev = resolve_device("auto")
    source = args.camera
    if source == "profile" and dev.capture.camera_pipeline:
        source = dev.capture.camera_pipeline  # e.g. the Jetson CSI pipeline
    opts = FrameClassifierOptions(bundle=args.bundle, variant=args.variant, top_k=args.top_k, running_mode="video",
                                  smoothing_factor=args.smoothing)
    writer = None
    with FrameClassifier.create(opts) as clf, CameraSource(source, realtime=args.realtime, backend=dev.capture.camera_backend) as cam:
        try:
            for item in run_camera(clf, cam, max_frames=args.max_frames):
                top = item.result.categories[0]
                line = {"frame": item.frame.index, "timestamp_ms": item.frame.timestamp_ms, "label": top.label, "score": round(top.score, 4),
                        "latency_ms": round(item.result.latency_ms, 2), "frame_age_ms": round(item.frame_age_ms, 1),
                        "dropped": item.dropped_frames, "fps": round(item.fps, 1)}
                print(json.dumps(line) if args.json else
                      f"#{line['frame']:5d} {line['timestamp_ms']:8d} ms  {top.label:30s} {top.score:.3f}  age {line['frame_age_ms']:6.1f} ms  "
                      f"dropped {line['dropped']}  {line['fps']:.1f} fps", flush=True)
                if args.out or args.show:
                    annotated = draw_overlay(item.frame.image, item.result, item.fps)
                    if args.out:
                        if writer is None:
                            h, w = annotated.shape[:2]
                            writer = AnnotatedWriter(args.out, cam.fps or 30.0, (w, h))
                        writer.write(annotated)
                    if args.show:
                        _show(annotated)
        finally:
            if writer is not None:
                writer.close()
        for ev in cam.events:
            print(f"camera event: {ev.kind} {ev.detail}", file=sys.stderr)
    return 0


def _show(image) -> None:
    import cv2

    try:
        cv2.imshow("edge-sdk", image)
        cv2.waitKey(1)
    except cv2.error as exc:  # headless OpenCV has no GUI
        from edge_sdk.errors import MissingDependencyError

        raise MissingDependencyError(f"--show needs OpenCV with GUI support ({exc}); pip install opencv-python, or use --out FILE") from exc


def cmd_eval_vision(args) -> int:
    from edge_sdk.vision.evaluate import evaluate_tsv

    report = evaluate_tsv(args.labels, bundle=args.bundle, variant=args.variant)
    if args.json:
        _print_json(report)
    else:
        print(f"{report['bundle']}/{report['variant']} on {report['providers']}: top1 {report['top1']:.4f}  top5 {report['top5']:.4f}  "
              f"(n={report['n']}, {report['skipped']} skipped)")
    return 0


def register(sub, eval_sub) -> None:
    """Add ``classify`` to the top-level commands and ``vision`` to ``eval``."""
    p = sub.add_parser("classify", help="classify image files, or frames from a camera/file/stream")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--camera", metavar="SRC", help="device index, video file, rtsp/http URL, GStreamer pipeline, or 'profile'")
    p.add_argument("--bundle", default="efficientnet-lite0")
    p.add_argument("--variant", default=None, help="fp32, int8 or fp16 (default: the device profile's choice)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--show", action="store_true", help="show annotated frames in a window (needs OpenCV GUI)")
    p.add_argument("--out", metavar="FILE", help="write an annotated video (.avi or .mp4)")
    p.add_argument("--smoothing", type=float, default=None, help="EMA weight of the newest frame, e.g. 0.3")
    p.add_argument("--realtime", action="store_true", help="play a video file at its frame rate, as a live camera")
    p.add_argument("--max-frames", type=int, default=None)
    p.set_defaults(func=cmd_classify)

    e = eval_sub.add_parser("vision", help="top-1/top-5 of a vision bundle on a labelled TSV (filename, class_index)")
    e.add_argument("--labels", required=True, help="TSV with a header; first columns filename, class_index; paths relative to it")
    e.add_argument("--bundle", default="efficientnet-lite0")
    e.add_argument("--variant", default=None)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_vision)
