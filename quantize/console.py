"""The terminal of a model build: one line per step and gate verdict; everything else in a log file.

Exporting and quantizing prints hundreds of third-party lines (onnxruntime graph warnings written by its C++ code,
quantizer histograms, tracer warnings). :func:`quiet_build` sends file descriptors 1 and 2 (so C and C++ output
too) and the log records to a log file, and keeps a console that shows the ``edge_sdk`` log records at INFO and
above: the builders' ``[k/n]`` steps, gate verdicts and warnings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from edge_sdk.bundle import home


def build_log_path() -> Path:
    """A new log file under ``$EDGE_SDK_HOME/logs`` named by the time of the build."""
    return home() / "logs" / time.strftime("prepare-%Y%m%d-%H%M%S.log")


@contextlib.contextmanager
def quiet_build(log_path: Path) -> Iterator[None]:
    """Within the block, fds 1 and 2 and the log records the root handlers take go to ``log_path`` (appended);
    ``edge_sdk`` records at INFO and above also reach the terminal's standard error, one line each. Both are
    restored on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = logging.StreamHandler(os.fdopen(os.dup(saved[1]), "w", buffering=1))
    console.setFormatter(logging.Formatter("%(message)s"))
    sdk = logging.getLogger("edge_sdk")
    level = sdk.level
    try:
        with open(log_path, "ab") as log_file, open(log_path, "a", buffering=1) as log_text:
            os.dup2(log_file.fileno(), 1)
            os.dup2(log_file.fileno(), 2)
            sdk.setLevel(logging.INFO)
            sdk.addHandler(console)
            with contextlib.redirect_stdout(log_text), contextlib.redirect_stderr(log_text):  # sys.std* replaced
                yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sdk.removeHandler(console)
        sdk.setLevel(level)
        console.stream.close()
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
