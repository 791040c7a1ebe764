"""Process memory and trend helpers shared by soak runs and benchmarks."""

from __future__ import annotations

import resource

import numpy as np


def rss_mb() -> float:
    """Current resident set size of this process in MB (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def slope_per_hour(t_s: list[float], y: list[float]) -> float:
    """Least-squares slope of ``y`` against time in seconds, per hour (0 with fewer than 3 points)."""
    if len(t_s) < 3:
        return 0.0
    return float(np.polyfit(np.asarray(t_s) / 3600.0, np.asarray(y), 1)[0])
