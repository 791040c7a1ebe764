"""One benchmark measurement in its own process, so load time and peak RSS are its own.

``python -m edge_sdk.bench.worker TASK VARIANT --data DIR [--quick]`` prints one JSON object.
``VARIANT`` is a bundle variant, or a reference name such as ``ref:faster-whisper``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from edge_sdk.bench.energy import GPU_PROVIDERS, open_meter
from edge_sdk.bench.report import percentiles
from edge_sdk.bundle import allowing_refused_variants
from edge_sdk.devices.resolve import resolve_device
from edge_sdk.memory import peak_rss_mb

TASK_MODULES = {"speech": "edge_sdk.bench.speech", "vision": "edge_sdk.bench.vision", "text": "edge_sdk.bench.text"}


def measure(task: str, variant: str, data: Path, quick: bool, runner_factory=None) -> dict:
    """Load, warm up, time and evaluate one task/variant; returns a result row for report.json.

    ``runner_factory`` builds the runner instead of the task module (references that swap the model).
    """
    device = resolve_device("auto")
    t0 = time.perf_counter()
    if runner_factory is None:
        runner = importlib.import_module(TASK_MODULES[task]).Runner(variant, device, data, quick)
    else:
        runner = runner_factory()
    load_s = time.perf_counter() - t0
    runner.warmup()
    meter = open_meter(gpu=any(p in GPU_PROVIDERS for p in runner.providers))
    with meter:
        samples_ms = runner.timed()
    row = {
        "task": task,
        "variant": variant,
        "bundle": runner.bundle_name,
        "providers": list(runner.providers),
        "fallback": device.fallback,
        "load_s": round(load_s, 3),
        "latency_ms": percentiles(samples_ms),
        "samples_ms": [round(s, 3) for s in samples_ms],
        "throughput": runner.throughput(samples_ms),
        "accuracy": runner.accuracy(),
        "live": runner.live(),
        "model_size_mb": runner.model_size_mb,
        "energy": meter.report(len(samples_ms)),
    }
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=sorted(TASK_MODULES))
    p.add_argument("variant")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)

    def run() -> dict:
        with allowing_refused_variants():  # the bench measures every variant it names, refused ones included
            return measure(args.task, args.variant, args.data, args.quick)

    return print_row(args.task, args.variant, run)


def print_row(task: str, variant: str, run: Callable[[], dict], trace_chars: int = 2000) -> int:
    """Print the row that ``run`` measures as one JSON line, or an error row when it raises: one failed
    measurement is reported in the bench and never crashes it. Returns the process exit status (0)."""
    try:
        row = run()
    except Exception as exc:  # report, never crash the whole bench
        row = {"task": task, "variant": variant, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-trace_chars:]}
    print(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
