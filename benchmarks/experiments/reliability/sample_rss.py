"""Sample the RSS of one ``edge-sdk summarize --progress`` run every few seconds, with its last progress line.

``python -m edge_sdk.bench.memory`` gives a run's peak RSS when it ends (or is cut at its timeout); this shows the
RSS over time for a run too long to finish here (50 MB of text at some 10,000 characters/s), which is what says
whether memory grows with the text read.

    EDGE_SDK_HOME=.cache/test-home nice .venv/bin/python benchmarks/experiments/reliability/sample_rss.py \
        /tmp/edge-sdk-memory/text-50mb.txt --limit-s 3000 --out /tmp/summarize-50mb.log
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def _status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", help="text file to summarize")
    parser.add_argument("--limit-s", type=float, default=3000, help="stop the run after this many seconds")
    parser.add_argument("--every-s", type=float, default=15, help="seconds between samples")
    parser.add_argument("--out", required=True, help="log of samples; the run's stdout and stderr go next to it")
    args = parser.parse_args()
    cmd = [sys.executable, "-m", "edge_sdk", "summarize", args.text, "--progress", "--variant", "int8", "--json"]
    with open(args.out + ".stdout", "w") as out, open(args.out + ".stderr", "w") as err, open(args.out, "w") as log:
        log.write(f"# {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < args.limit_s:
            try:
                rss, hwm = _status_mb(proc.pid, "VmRSS"), _status_mb(proc.pid, "VmHWM")
            except (OSError, StopIteration):
                break
            with open(args.out + ".stderr") as f:
                lines = f.read().strip().splitlines()
            log.write(f"{time.monotonic() - started:7.1f} s rss {rss:6.1f} MB hwm {hwm:6.1f} MB | {lines[-1] if lines else ''}\n")
            log.flush()
            time.sleep(args.every_s)
        if proc.poll() is None:
            proc.kill()
        log.write(f"end: exit {proc.wait()} after {time.monotonic() - started:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
