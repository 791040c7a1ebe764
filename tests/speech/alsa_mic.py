"""A microphone made of an ALSA ``file`` PCM, and a live-transcription run through it (a script).

ALSA's ``file`` plugin with an ``infile`` returns the bytes of that file as captured audio. The infile here
is a FIFO that a feeder thread writes in 100 ms blocks at a chosen speed, so PortAudio sees a paced
capture device; the plugin's output ``file`` is a second FIFO that the feeder drains. To unplug the
"microphone" the feeder closes both: ALSA's write fails, PortAudio stops the stream with an error.

Run in a fresh process (``ALSA_CONFIG_PATH`` must be set before PortAudio initialises)::

    python tests/speech/alsa_mic.py --audio FILE --out result.json [--bundle DIR] [--speed 4] [--unplug-after-s 8] [--cli | --example]

It writes JSON: events, stream stats, capture stats, the samples fed and captured.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BLOCK = 1600  # 100 ms at 16 kHz: the feeder's write size equals PortAudio's read size

ASOUND_CONF = """
</usr/share/alsa/alsa.conf>
pcm.edgefile {{
  type file
  slave.pcm "null"
  file "{out}"
  infile "{inp}"
  format "raw"
}}
pcm.edgemic {{
  type plug
  slave {{ pcm "edgefile" format S16_LE rate 16000 channels 1 }}
  hint {{ show on description "edge-sdk test microphone" }}
}}
"""


class FileMicrophone:
    """The FIFOs, the ALSA config and the feeder thread of a file-backed capture device."""

    def __init__(self, pcm: np.ndarray, speed: float, unplug_after_s: float | None, replug_after_s: float | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="edge-alsa-"))
        self.inp, self.out = self.dir / "in.fifo", self.dir / "out.fifo"
        os.mkfifo(self.inp)
        os.mkfifo(self.out)
        self.conf = self.dir / "asound.conf"
        self.conf.write_text(ASOUND_CONF.format(inp=self.inp, out=self.out))
        # O_RDWR never blocks on a FIFO, so PortAudio's device scan can open the PCM before feeding starts.
        self._in_fd = os.open(self.inp, os.O_RDWR)
        self._out_fd = os.open(self.out, os.O_RDWR | os.O_NONBLOCK)
        self.pcm = pcm
        self.speed = speed
        self.unplug_after = None if unplug_after_s is None else int(unplug_after_s * 16000)
        self.replug_after_s = replug_after_s
        self.fed = 0
        self._go = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._feed, daemon=True), threading.Thread(target=self._drain, daemon=True)]
        for t in self._threads:
            t.start()

    def start(self) -> None:
        self._go.set()

    def _feed(self) -> None:
        self._go.wait()
        t0, start = time.monotonic(), 0
        for i in range(0, self.pcm.shape[0], BLOCK):
            if self._stop.is_set():
                break
            if self.unplug_after is not None and i >= self.unplug_after:
                self.unplug()
                if self.replug_after_s is None:
                    break
                time.sleep(self.replug_after_s)
                self.replug()
                t0, start, self.unplug_after = time.monotonic(), i, None
            os.write(self._in_fd, self.pcm[i : i + BLOCK].tobytes())
            self.fed = i + BLOCK
            delay = t0 + (self.fed - start) / 16000 / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def replug(self) -> None:
        """Bring the device back: fresh FIFO ends, so ALSA can open it again."""
        self._in_fd = os.open(self.inp, os.O_RDWR)
        self._out_fd = os.open(self.out, os.O_RDWR | os.O_NONBLOCK)
        self._stop.clear()
        self._threads[1] = threading.Thread(target=self._drain, daemon=True)
        self._threads[1].start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._out_fd], [], [], 0.05)
            if ready:
                try:
                    os.read(self._out_fd, 1 << 16)
                except BlockingIOError:
                    pass

    def unplug(self) -> None:
        """Take the device away: no reader for ALSA's output (write fails), then end of input."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._threads[1].join()
        os.close(self._out_fd)
        time.sleep(0.05)
        os.close(self._in_fd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bundle", help="speech bundle folder; default: a fake model (tests of the capture path only)")
    ap.add_argument("--variant", default=None)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=None, help="feed only the first N seconds")
    ap.add_argument("--unplug-after-s", type=float, default=None)
    ap.add_argument("--replug-after-s", type=float, default=None, help="bring the device back after this outage (tests reconnect)")
    ap.add_argument("--min-silence-ms", type=int, default=560)
    ap.add_argument("--trailing-silence-s", type=float, default=1.5)
    ap.add_argument("--cli", action="store_true", help="run 'edge-sdk transcribe --mic --json' on the device instead")
    ap.add_argument("--example", action="store_true", help="run examples/transcribe_microphone.py on the device instead")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).parent))
    from edge_sdk.audio import load_audio

    audio, _ = load_audio(args.audio)
    if args.seconds:
        audio = audio[: int(args.seconds * 16000)]
    audio = np.concatenate([audio, np.zeros(int(args.trailing_silence_s * 16000), np.float32)])
    audio = np.concatenate([audio, np.zeros(-audio.shape[0] % BLOCK, np.float32)])
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2")
    mic_file = FileMicrophone(pcm, args.speed, args.unplug_after_s, args.replug_after_s)
    os.environ["ALSA_CONFIG_PATH"] = str(mic_file.conf)
    if args.cli or args.example:
        return run_program(args, mic_file)

    from edge_sdk.speech.sources import MicrophoneSource
    from edge_sdk.speech.stream import SpeechStream, StreamOptions, transcribe_live

    if args.bundle:
        from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

        model = Transcriber.create(TranscriberOptions(bundle=args.bundle, variant=args.variant))
    else:
        from live_helpers import FakeModel

        model = FakeModel()
    stream = SpeechStream(model, StreamOptions(min_silence_ms=args.min_silence_ms))
    events, captured, error, chunks = [], 0, None, []
    t0 = time.process_time()
    reconnect = args.replug_after_s is not None
    with MicrophoneSource(device="edgemic", block_ms=100, max_buffer_s=300.0, stall_timeout_s=5.0, reconnect=reconnect, backoff_s=0.2) as mic:
        mic_file.start()
        def counted(source):
            nonlocal captured
            for chunk in source:
                yield chunk
                chunks.append(np.asarray(chunk.samples).reshape(-1)[: pcm.shape[0] - captured].copy())
                captured += chunk.samples.shape[0]
                if captured >= pcm.shape[0]:
                    return

        for event in transcribe_live(stream, counted(mic)):
            events.append(event)
            if event.kind == "error":
                error = event.text
        capture = asdict(mic.stats)
        mic_file.unplug()  # a FIFO with no writer would leave PortAudio blocked in read()
    got = np.concatenate(chunks) if chunks else np.zeros(0, "<i2")
    n = min(got.shape[0], mic_file.fed)
    result = {
        "events": [asdict(e) for e in events],
        "stats": {**asdict(stream.stats), "samples_lost": stream.stats.samples_lost},
        "capture": capture,
        "samples_in_file": int(pcm.shape[0]),
        "samples_fed": int(mic_file.fed),
        "samples_captured": int(captured),
        "captured_equals_fed": bool(np.array_equal(got[:n], pcm[:n])),
        "device_error": error,
        "cpu_s": time.process_time() - t0,
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=list))
    return 0


def run_program(args, mic_file: FileMicrophone) -> int:
    """A program capturing from the file microphone in its own process: ``edge-sdk transcribe --mic --device
    edgemic --json`` (``--cli``) or ``examples/transcribe_microphone.py --device edgemic`` (``--example``).
    Writes its stdout (and the CLI's JSON lines as events), the end of its stderr and its exit code.

    Feeding starts once the program says that capture began ("capturing from"), as a microphone only hears
    what is said after it is opened.
    """
    import subprocess

    if args.cli:
        cmd = [sys.executable, "-m", "edge_sdk.cli", "-v", "transcribe", "--mic", "--json", "--min-silence-ms", str(args.min_silence_ms)]
    else:
        cmd = [sys.executable, str(REPO / "examples" / "transcribe_microphone.py")]
    cmd += ["--device", "edgemic", "--block-ms", str(BLOCK * 1000 // 16000)]  # the FIFO's write size
    cmd += ["--bundle", args.bundle] if args.bundle else []
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []
    capturing = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            err_lines.append(line)
            if "capturing from" in line:
                capturing.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    if capturing.wait(timeout=300):
        mic_file.start()
    out = proc.stdout.read()
    proc.wait(timeout=600)
    reader.join(timeout=5)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    Path(args.out).write_text(json.dumps({"events": events, "stdout": out, "returncode": proc.returncode,
                                          "stderr": "".join(err_lines)[-2000:]}, indent=1))
    mic_file.unplug()
    return 0


if __name__ == "__main__":
    sys.exit(main())
