"""systemd integration of ``edge-sdk serve``: the example unit passes ``systemd-analyze verify``, and the server speaks
the notify protocol (``READY=1`` once listening, ``WATCHDOG=1`` while alive, ``STOPPING=1`` on SIGTERM) to a socket
the test binds where systemd's would be."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from serve_helpers import REPO, ServerProcess, free_port

from edge_sdk.serve import systemd

UNIT = REPO / "examples" / "systemd" / "edge-sdk-serve.service"


def test_the_example_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    text = UNIT.read_text()
    assert "\nType=notify\n" in text and "\nWatchdogSec=" in text
    # verify checks that ExecStart's program exists: point it at this interpreter, keep every other line
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/opt/edge-sdk/bin/edge-sdk", f"{sys.executable} -m edge_sdk"))
    assert unit.read_text() != text
    check = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # unknown keys and bad values are only warnings (exit 0): any output is a finding
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check.stdout + check.stderr


def test_notify_reaches_an_abstract_socket(monkeypatch):
    name = f"edge-sdk-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("READY=1")
        assert sock.recv(4096) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert systemd.notify("READY=1") is False


def test_the_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert systemd.watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert systemd.watchdog_interval_s() is None


@pytest.mark.slow
def test_ready_watchdog_and_stopping_reach_notify_socket(speech_bundle, tmp_path):
    pytest.importorskip("wyoming", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")
    pytest.importorskip("prometheus_client", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")
    path = tmp_path / "notify.sock"
    port = free_port()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(120)
        proc = ServerProcess(
            "--uri", f"tcp://127.0.0.1:{port}", "--no-wake", env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
        )  # WATCHDOG=1 every 0.2 s
        try:
            ready = sock.recv(4096).decode()
            assert ready.splitlines()[0] == "READY=1" and f"tcp://127.0.0.1:{port}" in ready
            with socket.create_connection(("127.0.0.1", port), timeout=5):  # READY=1 means the socket accepts
                pass
            t0 = time.monotonic()
            pings = [sock.recv(4096).decode() for _ in range(3)]
            assert pings == ["WATCHDOG=1"] * 3
            assert time.monotonic() - t0 < 5
            proc.terminate()
            rest = []
            while not any(m.startswith("STOPPING=1") for m in rest):
                rest.append(sock.recv(4096).decode())
            assert set(rest[:-1]) <= {"WATCHDOG=1"}, rest
        finally:
            code = proc.stop()
    assert code == 0, "".join(proc.stderr)[-2000:]
