"""``edge-sdk soak speech|camera``: run a live loop from a file-as-live source for a duration and
report RSS, latency p95 and lag over time with their slopes."""

from __future__ import annotations

import json
from pathlib import Path

from edge_sdk.cli_common import add_variant_arguments, check_variant, number_in


def cmd_soak(args) -> int:
    from edge_sdk.datasets import data_dir

    data = data_dir(args.data)
    if args.loop == "speech":
        from edge_sdk.speech.soak import soak_speech
        from edge_sdk.speech.transcriber import DEFAULT_BUNDLE, Transcriber, TranscriberOptions

        check_variant(DEFAULT_BUNDLE, args.variant, args.allow_refused)
        model = Transcriber.create(TranscriberOptions(variant=args.variant))
        source = args.source or str(next((data / "speech" / "long").glob("*.flac")))
        report = soak_speech(model, source, args.minutes * 60, interval_s=args.interval_s)
        summary = (f"speech soak {report.duration_s / 60:.1f} min: RSS {report.rss_start_mb:.0f} -> {report.rss_end_mb:.0f} MB "
                   f"(slope {report.rss_slope_mb_per_h:+.1f} MB/h), latency p95 slope {report.latency_p95_slope_ms_per_h:+.0f} ms/h, "
                   f"max lag {report.max_lag_s:.2f} s, finals {report.finals}, partials skipped {report.partials_skipped}, samples lost {report.samples_lost}")
    else:
        from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
        from edge_sdk.vision.soak import soak_camera

        check_variant(FrameClassifierOptions.bundle, args.variant, args.allow_refused)
        source = args.source or str(data / "video" / "car-detection_24s-29s.mp4")
        with FrameClassifier.create(FrameClassifierOptions(variant=args.variant, running_mode="video", top_k=1)) as clf:
            report = soak_camera(clf, source, args.minutes * 60, interval_s=args.interval_s)
        summary = (f"camera soak {report.duration_s / 60:.1f} min: {report.frames} frames, {report.dropped} dropped; RSS "
                   f"{report.rss_start_mb:.0f} -> {report.rss_end_mb:.0f} MB (slope {report.rss_slope_mb_per_h:+.1f} MB/h), "
                   f"latency p95 slope {report.latency_p95_slope_ms_per_h:+.1f} ms/h, frame age p95 slope {report.frame_age_p95_slope_ms_per_h:+.1f} ms/h")
    if args.json:
        Path(args.json).write_text(json.dumps({"loop": args.loop, "summary": summary, **report.to_dict()}, indent=1, default=float))
    print(summary)
    return 0


def register(sub, eval_sub) -> None:
    p = sub.add_parser("soak", help="run a live loop for a long time and report RSS/latency/lag slopes")
    p.add_argument("loop", choices=["speech", "camera"])
    p.add_argument("--minutes", type=number_in(0, low_open=True), default=30.0, help="how long to run (default 30)")
    add_variant_arguments(p)
    p.add_argument("--source", default=None, help="file played as live (default: shared speech/long or a shared video)")
    p.add_argument("--data", default=None)
    p.add_argument("--interval-s", type=number_in(0, low_open=True), default=30.0, help="seconds between samples (default 30)")
    p.add_argument("--json", default=None, help="write the full report here")
    p.set_defaults(func=cmd_soak)
