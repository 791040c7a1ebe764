"""Side-by-side measurements of teacher and student ONNX graphs, on the runtime's own sessions.

Speed is measured with the sessions ``edge_sdk.runtime`` would create for the resolved device
profile, alternating teacher and student over the same inputs so that load from other processes
hits both alike; the ratio of medians is reported with the timings it came from.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort

from edge_sdk.devices.resolve import resolve_device
from edge_sdk.runtime import create_session


def session(path: Path, device: str = "auto") -> ort.InferenceSession:
    """An onnxruntime session for ``path`` with the runtime's options for ``device``."""
    return create_session(Path(path).read_bytes(), resolve_device(device), name=str(path))


def side_by_side_ms(runs: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, dict]:
    """Median and p90 wall time (ms) of each callable, interleaved round by round.

    Args:
        runs: Name -> a callable doing one unit of work (e.g. encode one document's sentences).
        repeats: Timed rounds; each round runs every callable once, in turn.
        warmup: Untimed rounds first.
    """
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {
        name: {"median_ms": round(statistics.median(t), 3), "p90_ms": round(sorted(t)[int(0.9 * (len(t) - 1))], 3),
               "rounds": len(t)}
        for name, t in times.items()
    }


def speedup(timings: dict[str, dict], teacher: str, student: str) -> float:
    """Teacher median time divided by student median time."""
    return round(timings[teacher]["median_ms"] / timings[student]["median_ms"], 3)


def speedup_rounds(rounds: list[dict[str, float]], pairs: dict[str, tuple[str, str]]) -> dict:
    """Speed-ups over several rounds of :func:`side_by_side_ms`: ``slow / fast`` per round for each named pair, and
    the median of those ratios (the figure to quote where one round moves by tens of percent).

    Args:
        rounds: Each round's milliseconds by model name.
        pairs: Name -> (slow model, fast model).
    """
    ratios = {name: [round(r[slow] / r[fast], 3) for r in rounds] for name, (slow, fast) in pairs.items()}
    return {"rounds_ms": rounds, "speedup_per_round": ratios,
            "median_speedup": {name: statistics.median(v) for name, v in ratios.items()}}


def file_mb(path: Path) -> float:
    """Size of a file in MB (10^6 bytes)."""
    return round(Path(path).stat().st_size / 1e6, 3)
