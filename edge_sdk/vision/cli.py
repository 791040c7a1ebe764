"""``edge-sdk classify`` and ``edge-sdk eval vision``. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
import sys

from edge_sdk.cli_common import UsageError, add_variant_arguments, check_variant, emit_line, int_at_least, number_in


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_classify(args) -> int:
    """Classify image files (one row each; a file that fails gets an error row) or a camera.

    Returns 0, or the exit status of the first file's error class (2 for input problems) when any file failed.
    """
    from edge_sdk.errors import EXIT_CODES, InvalidInputError, error_category
    from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions

    if bool(args.images) == bool(args.camera):
        raise UsageError("edge-sdk classify: give image files, or --camera SRC (not both)")
    check_variant(args.bundle, args.variant, args.allow_refused)
    if args.camera:
        return _classify_camera(args)
    opts = FrameClassifierOptions(bundle=args.bundle, variant=args.variant, top_k=args.top_k, max_image_pixels=args.max_pixels)
    rows, status = [], 0
    with FrameClassifier.create(opts) as clf:
        for path in args.images:
            try:
                r = clf.classify_file(path)
            except (InvalidInputError, FileNotFoundError) as exc:
                status = status or EXIT_CODES[error_category(exc)]
                rows.append({"file": path, "error": str(exc), "error_type": type(exc).__name__})
                continue
            rows.append({"file": path, **r.to_dict()})
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            if "error" in row:
                print(f"edge-sdk: error: {row['error']}", file=sys.stderr)  # the message names the file
                continue
            cats = ", ".join(f"{c['label']} ({c['index']}) {c['score']:.3f}" for c in row["categories"])
            print(f"{row['file']}: {cats}  [{row['variant']}, {row['latency_ms']:.1f} ms]")
    return status


def _classify_camera(args) -> int:
    """The camera loop; a source that gives up (no frame within its reconnect timeout) ends it with DeviceError."""
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.errors import DeviceError, InvalidInputError
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
    frames = 0
    with FrameClassifier.create(opts) as clf, CameraSource(source, realtime=args.realtime, backend=dev.capture.camera_backend) as cam:
        try:
            for item in run_camera(clf, cam, max_frames=args.max_frames):
                frames += 1
                top = item.result.categories[0]
                line = {"frame": item.frame.index, "timestamp_ms": item.frame.timestamp_ms, "label": top.label, "score": round(top.score, 4),
                        "latency_ms": round(item.result.latency_ms, 2), "frame_age_ms": round(item.frame_age_ms, 1),
                        "dropped": item.dropped_frames, "fps": round(item.fps, 1)}
                emit_line(json.dumps(line) if args.json else
                          f"#{line['frame']:5d} {line['timestamp_ms']:8d} ms  {top.label:30s} {top.score:.3f}  age {line['frame_age_ms']:6.1f} ms  "
                          f"dropped {line['dropped']}  {line['fps']:.1f} fps")
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
    gave_up = [ev for ev in cam.events if ev.kind == "gave_up"]
    if gave_up:
        raise DeviceError(f"camera source {args.camera!r} gave up after {frames} frames: {gave_up[-1].detail}; check the camera or "
                          "stream, or its reconnect settings")
    if frames == 0 and cam.kind == "file":
        raise InvalidInputError(f"video file {args.camera!r} gave no frame OpenCV could decode; check the file")
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

    check_variant(args.bundle, args.variant, args.allow_refused)
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
    add_variant_arguments(p)
    p.add_argument("--top-k", type=int_at_least(1), default=5)
    p.add_argument("--max-pixels", type=int_at_least(1), default=None,
                   help="refuse images whose header declares more pixels (default: $EDGE_SDK_MAX_IMAGE_PIXELS, else 50000000)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show", action="store_true", help="show annotated frames in a window (needs OpenCV GUI)")
    p.add_argument("--out", metavar="FILE", help="write an annotated video (.avi or .mp4)")
    p.add_argument("--smoothing", type=number_in(0, 1, low_open=True), default=None, help="EMA weight of the newest frame, e.g. 0.3")
    p.add_argument("--realtime", action="store_true", help="play a video file at its frame rate, as a live camera")
    p.add_argument("--max-frames", type=int_at_least(1), default=None, help="stop after this many frames (default: until the source ends)")
    p.set_defaults(func=cmd_classify)

    e = eval_sub.add_parser("vision", help="top-1/top-5 of a vision bundle on a labelled TSV (filename, class_index)")
    e.add_argument("--labels", required=True, help="TSV with a header; first columns filename, class_index; paths relative to it")
    e.add_argument("--bundle", default="efficientnet-lite0")
    add_variant_arguments(e)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_vision)
