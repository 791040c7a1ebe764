"""Runs that end early say so: Ctrl-C (SIGINT) during a transcription leaves what was printed, adds one line (a JSON
error object with ``--json``) saying the output is incomplete, and exits 130; the live footer counts only the audio
the stream received."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

sf = pytest.importorskip("soundfile", reason="soundfile (edge-sdk[mic]) decodes audio")

LONG = "speech/long/237-134500_chapter_concat.flac"  # 216 s: far from done when the first segment is out
INTERRUPTED = "interrupted (Ctrl-C) before the end; the output above is incomplete"


def _interrupt_after_first_line(cmd: list[str], stdin_bytes: bytes | None = None) -> tuple[int, bytes, str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin_bytes is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        # as from a terminal: a test run started in the background of a non-interactive shell inherits SIGINT
        # ignored, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    if stdin_bytes is not None:

        def feed() -> None:
            try:
                proc.stdin.write(stdin_bytes)
                proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass

        threading.Thread(target=feed, daemon=True).start()
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, first, out.decode(), err.decode()


def _transcribe_long(speech_bundle, data_dir, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge_sdk", "transcribe", str(data_dir / LONG), "--bundle", str(speech_bundle), "--variant", "fp32", *extra]


def test_an_interrupted_file_transcription_says_so_and_exits_130(speech_bundle, data_dir):
    code, first, out, err = _interrupt_after_first_line(_transcribe_long(speech_bundle, data_dir))
    assert first.startswith(b"[   0.00 ->") and code == 130, err
    assert err.splitlines()[-1] == f"edge-sdk: {INTERRUPTED}" and "Traceback" not in err
    assert "216.30 s" in err.splitlines()[0]  # the header states the file's length; the last line says the rest is missing


def test_an_interrupted_json_transcription_ends_with_a_json_error(speech_bundle, data_dir):
    code, first, out, err = _interrupt_after_first_line(_transcribe_long(speech_bundle, data_dir, "--json"))
    last = json.loads(out.splitlines()[-1])
    assert code == 130 and "text" in json.loads(first) and "Traceback" not in err
    assert last == {"error": {"type": "KeyboardInterrupt", "category": "interrupted", "exit_code": 130, "message": INTERRUPTED}}


def test_interrupted_live_stdin_says_so_and_its_footer_counts_what_was_received(speech_bundle, data_dir):
    audio, rate = sf.read(str(data_dir / LONG), dtype="int16")
    code, first, out, err = _interrupt_after_first_line(
        [
            sys.executable,
            "-m",
            "edge_sdk",
            "transcribe",
            "--stdin",
            "--rate",
            str(rate),
            "--bundle",
            str(speech_bundle),
            "--variant",
            "fp32",
            "--json",
        ],
        audio.tobytes(),
    )
    assert json.loads(first)["kind"] in ("partial", "final") and code == 130, err
    assert json.loads(out.splitlines()[-1])["error"]["category"] == "interrupted"
    footer = err.splitlines()[-1]
    received_s = float(footer.split()[1])
    assert footer.startswith("audio ") and 0 < received_s < 200, footer  # not the 216 s that stdin would have given
