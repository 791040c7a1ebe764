"""Helpers of the Wyoming server tests: a server subprocess, a Wyoming client session, the shared clips, an MQTT
broker (Debian's mosquitto) and a subscriber that records what it sees."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "speech"))

from live_helpers import FakeModel, wer  # noqa: E402

__all__ = ["FakeModel", "wer", "free_port", "read_clip", "reference", "ServerProcess", "send_audio", "collect", "Mosquitto", "MqttWatcher"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    """The clip as it is stored: int16 (frames, channels) at its own rate (the server converts)."""
    import soundfile as sf

    samples, rate = sf.read(str(path), dtype="int16", always_2d=True)
    return samples, rate


def reference(data_dir: Path, rel: str) -> str:
    for line in (data_dir / "speech" / "transcripts.tsv").read_text().splitlines():
        name, _, text = line.partition("\t")
        if name == rel:
            return text
    raise KeyError(rel)


class ServerProcess:
    """``python -m edge_sdk serve ...`` in a subprocess; ready once it prints its ``listening on`` line."""

    def __init__(self, *args: str, timeout_s: float = 180.0, env: dict | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "edge_sdk", "-v", "serve", *args], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        line = ""
        while "listening on" not in line:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start: {''.join(self.stderr)[-2000:]}")
        self.banner = line

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.terminated = True

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM once (not again after :meth:`terminate`: systemd sends one), wait for the drain, else kill."""
        if self.proc.poll() is None:
            if not getattr(self, "terminated", False):
                self.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


async def send_audio(client, samples: np.ndarray, rate: int, chunk_frames: int = 1024, realtime: float = 0.0,
                     frames: int | None = None, start: bool = True, stop: bool = True) -> float:
    """Send ``audio-start``, chunks (paced at ``realtime`` x real time, 0 = as fast as possible), ``audio-stop``.

    Returns the ``time.perf_counter()`` at which ``audio-stop`` was written (or the last chunk, without ``stop``).
    """
    from wyoming.audio import AudioChunk, AudioStart, AudioStop

    width, channels = 2, samples.shape[1]
    if start:
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    t0 = time.perf_counter()
    end = samples.shape[0] if frames is None else frames
    for i in range(0, end, chunk_frames):
        block = samples[i : min(i + chunk_frames, end)]
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=block.tobytes()).event())
        if realtime:
            await asyncio.sleep(max(0.0, t0 + (i + block.shape[0]) / rate / realtime - time.perf_counter()))
    if stop:
        await client.write_event(AudioStop().event())
    return time.perf_counter()


async def collect(client, until: tuple[str, ...] = ("transcript-stop",), timeout_s: float = 120.0) -> list:
    """Read events until one of type ``until``; return them all, each with its arrival time as ``(event, t)``."""
    events = []
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout_s)
        if event is None:
            raise ConnectionError(f"server closed the connection after {[e.type for e, _ in events]}")
        events.append((event, time.perf_counter()))
        if event.type in until:
            return events


def transcribe_clip(port: int, samples: np.ndarray, rate: int) -> str:
    """The final transcript of one clip sent to ``edge-sdk serve`` on ``port`` by wyoming's own client."""
    from wyoming.asr import Transcribe, Transcript
    from wyoming.client import AsyncTcpClient

    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Transcribe(language="en").event())
            await send_audio(client, samples, rate)
            events = await collect(client)
        return next(Transcript.from_event(e).text for e, _ in events if Transcript.is_type(e.type))

    return asyncio.run(go())


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1:``port``, anonymous, no persistence (a restart forgets retained messages)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).is_file():
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
        self.port = port or free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class MqttWatcher:
    """A paho subscriber that records ``(topic, payload, retained)`` of everything under ``topics``."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("homeassistant/#", "edge-sdk/#")) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self._cv = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics]
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self._cv:
            self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))
            self._cv.notify_all()

    def wait_for(self, topic: str, match=lambda payload: True, timeout_s: float = 30.0, after: int = 0) -> str:
        """The first payload on ``topic`` (from message number ``after`` on) for which ``match`` holds."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while True:
                for t, payload, _ in self.messages[after:]:
                    if t == topic and match(payload):
                        return payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"nothing matching on {topic} within {timeout_s} s; saw {self.messages[after:]}")
                self._cv.wait(remaining)

    def states(self, topic: str) -> list[dict]:
        with self._cv:
            return [json.loads(p) for t, p, _ in self.messages if t == topic and p]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
