"""Wake word quality of ``edge-sdk serve``: detections on synthesized wake utterances, false accepts on real speech.

Both halves go through the spotter the server uses (:class:`~edge_sdk.serve.wake.WakeWordSpotter`, one fresh
:class:`~edge_sdk.serve.wake.WakeStream` per file, as one Wyoming ``detect`` session gets), with the server's
trigger level and refractory time; only the threshold varies.

- **Detections**: each wake phrase is spoken by espeak-ng in 20 voice / speed / pitch combinations, resampled to
  16 kHz and put between 1 s of lead-in and 1 s of tail; even-numbered utterances sit in digital silence, odd ones in
  white noise at 20 dB SNR. An utterance counts as detected when its own model fires; any other model that fires on
  it is a cross-fire.
- **False accepts**: every shared speech file (``speech/long``, the LibriSpeech clips, ``public_domain``) is fed to
  a stream listening for every built-in wake word; each detection is a false accept (none of them says a wake
  phrase). Per hour of audio, with the 95 % upper bound when there are none (rule of three: 3 / hours).

    python -m edge_sdk.bench.wake --out benchmarks/experiments/wake [--thresholds 0.3,0.5,0.7]

Needs ``pyopen-wakeword`` (``pip install 'edge-sdk-ondevice[serve]'``) and ``espeak-ng`` (``apt-get install
espeak-ng``). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.audio import load_audio
from edge_sdk.datasets import data_dir as default_data_dir
from edge_sdk.errors import MissingDependencyError
from edge_sdk.serve.wake import BUILTIN_PHRASES, SAMPLE_RATE, WakeWordOptions, WakeWordSpotter

DEFAULT_WORDS = ("hey_jarvis", "okay_nabu")
DEFAULT_THRESHOLDS = (0.3, 0.5, 0.7)
PAD_S = 1.0
NOISE_SNR_DB = 20.0
FEED_SAMPLES = 1024  # what Home Assistant sends per audio-chunk
# 20 speakers: espeak-ng voices with their variants (+f3: a female variant), words per minute, pitch (0-99, 50 = default)
VOICES: tuple[tuple[str, int, int], ...] = (
    ("en-us", 140, 50), ("en-us", 175, 40), ("en-gb", 140, 50), ("en-gb", 120, 60),
    ("en+f3", 150, 60), ("en+f3", 130, 75), ("en+m3", 160, 40), ("en+m3", 140, 30),
    ("en-gb-scotland", 140, 50), ("en-029", 145, 55), ("en-us+f2", 150, 65), ("en-gb-x-rp", 135, 45),
    ("en+f4", 160, 70), ("en+m7", 140, 35), ("en-us+f4", 120, 80), ("en-gb+m2", 170, 50),
    ("en-us", 110, 55), ("en-gb-x-rp+f3", 155, 60), ("en-029+m3", 130, 45), ("en-gb-scotland+f2", 150, 70),
)


@dataclass(frozen=True)
class Utterance:
    """One synthesized wake utterance, 16 kHz mono int16 with its padding."""

    word: str
    voice: str
    words_per_minute: int
    pitch: int
    noise: bool
    samples: np.ndarray


def synthesize(phrase: str, voice: str, words_per_minute: int, pitch: int, work: Path) -> np.ndarray:
    """``phrase`` spoken by espeak-ng, as 16 kHz mono float32 in [-1, 1] (espeak-ng writes 22.05 kHz; soxr resamples).

    Raises:
        MissingDependencyError: espeak-ng is not on PATH.
        subprocess.CalledProcessError: espeak-ng failed (an unknown voice, say).
    """
    if shutil.which("espeak-ng") is None:
        raise MissingDependencyError("espeak-ng is not installed: apt-get install espeak-ng")
    path = work / f"{phrase.replace(' ', '_')}-{voice}-{words_per_minute}-{pitch}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "-w", str(path), phrase],
                   check=True, capture_output=True)
    return load_audio(path)[0]


def embed(speech: np.ndarray, noise: bool, rng: np.random.Generator) -> np.ndarray:
    """``speech`` (float32) between ``PAD_S`` of lead-in and tail, in silence or in white noise at ``NOISE_SNR_DB``; int16."""
    pad = np.zeros(int(PAD_S * SAMPLE_RATE), np.float32)
    audio = np.concatenate([pad, speech.astype(np.float32), pad])
    if noise:
        voiced = speech[np.abs(speech) > 1e-3]
        power = float(np.mean(voiced**2)) if voiced.size else 1e-4
        audio = audio + rng.normal(0.0, np.sqrt(power / 10 ** (NOISE_SNR_DB / 10)), audio.shape).astype(np.float32)
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def wake_utterances(words: tuple[str, ...], work: Path, seed: int = 0) -> list[Utterance]:
    """The 20 :data:`VOICES` utterances of each built-in wake word in ``words``."""
    rng = np.random.default_rng(seed)
    out = []
    for word in words:
        for i, (voice, wpm, pitch) in enumerate(VOICES):
            speech = synthesize(BUILTIN_PHRASES[word], voice, wpm, pitch, work)
            out.append(Utterance(word, voice, wpm, pitch, i % 2 == 1, embed(speech, i % 2 == 1, rng)))
    return out


def detect(spotter: WakeWordSpotter, samples: np.ndarray) -> list:
    """Feed ``samples`` (16 kHz mono int16) to a fresh stream in Home Assistant's chunk size; its detections."""
    stream = spotter.create_stream()
    try:
        found = []
        for i in range(0, samples.shape[0], FEED_SAMPLES):
            found += stream.accept(samples[i : i + FEED_SAMPLES])
        return found
    finally:
        stream.close()


def speech_files(data: Path) -> list[Path]:
    """Every shared speech recording: ``speech/long``, the LibriSpeech clips, ``public_domain``."""
    root = data / "speech"
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".flac", ".wav"))


def _int16(path: Path) -> np.ndarray:
    return (np.clip(load_audio(path)[0], -1, 1) * 32767).astype(np.int16)


def run_detections(utterances: list[Utterance], thresholds: tuple[float, ...]) -> dict:
    """Detected / missed / cross-fired counts per wake word and threshold, and each utterance's outcome."""
    result: dict = {}
    for threshold in thresholds:
        spotter = WakeWordSpotter.create(WakeWordOptions(threshold=threshold))  # every built-in: cross-fires show
        per_word: dict = {}
        for u in utterances:
            names = [d.name for d in detect(spotter, u.samples)]
            row = per_word.setdefault(u.word, {"utterances": 0, "detected": 0, "cross_fires": 0, "missed": []})
            row["utterances"] += 1
            row["detected"] += u.word in names
            row["cross_fires"] += sum(n != u.word for n in names)
            if u.word not in names:
                row["missed"].append(f"{u.voice} {u.words_per_minute} wpm pitch {u.pitch}" + (" noise" if u.noise else ""))
        result[str(threshold)] = per_word
    return result


def run_false_accepts(files: list[Path], data: Path, thresholds: tuple[float, ...]) -> dict:
    """False accepts of every built-in wake word over ``files``, per source folder and in total, per threshold."""
    audio = {f: _int16(f) for f in files}
    source = {f: f.relative_to(data / "speech").parts[0] for f in files}
    hours: dict[str, float] = {}
    for f, a in audio.items():
        hours[source[f]] = hours.get(source[f], 0.0) + a.shape[0] / SAMPLE_RATE / 3600
    hours["all"] = sum(hours.values())
    result: dict = {"hours": {k: round(v, 4) for k, v in hours.items()}, "thresholds": {}}
    for threshold in thresholds:
        spotter = WakeWordSpotter.create(WakeWordOptions(threshold=threshold))
        counts = {name: dict.fromkeys(hours, 0) for name in spotter.names}
        events = []
        for f, a in audio.items():
            for d in detect(spotter, a):
                counts[d.name][source[f]] += 1
                counts[d.name]["all"] += 1
                events.append({"file": str(f.relative_to(data)), "wake_word": d.name, "timestamp_ms": d.timestamp_ms,
                               "probability": round(d.probability, 3)})
        per_hour = {name: {k: round(n / hours[k], 1) for k, n in c.items()} for name, c in counts.items()}
        result["thresholds"][str(threshold)] = {"false_accepts": counts, "per_hour": per_hour, "events": events}
    result["upper_95_per_hour_when_none"] = {k: round(3 / v, 1) for k, v in hours.items()}
    return result


def markdown(result: dict) -> str:
    """The two tables of a run, for the experiment's page."""
    words, fa = result["wake_words"], result["false_accepts"]
    lines = [f"# Wake word quality ({result['date_utc']})", "", f"`{result['command']}`", "",
             f"{result['machine']['cpu']}, {result['machine']['cores']} cores, load average {result['load_average']}", "",
             "## Detections of synthesized wake utterances (espeak-ng, 20 voices each, 1 s padding, odd ones in 20 dB noise)", "",
             "| threshold | " + " | ".join(f"{w} detected" for w in words) + " | cross-fires (other models) |",
             "|---|" + "---|" * (len(words) + 1)]
    for t, per_word in result["detections"].items():
        cells = [f"{per_word[w]['detected']}/{per_word[w]['utterances']}" for w in words]
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {sum(per_word[w]['cross_fires'] for w in words)} |")
    sources = list(fa["hours"])
    lines += ["", "## False accepts on the shared speech (none says a wake phrase)", "",
              "Audio: " + ", ".join(f"{k} {fa['hours'][k] * 60:.1f} min" for k in sources)
              + " (speech/long is the LibriSpeech chapter whose clips are in librispeech/: the same voice twice)", "",
              "| threshold | wake word | " + " | ".join(f"{k} (count, per hour)" for k in sources) + " |",
              "|---|---|" + "---|" * len(sources)]
    for t, r in fa["thresholds"].items():
        for name, c in r["false_accepts"].items():
            lines.append(f"| {t} | {name} | " + " | ".join(f"{c[k]} ({r['per_hour'][name][k]}/h)" for k in sources) + " |")
    lines += ["", "With no false accept, the 95 % upper bound is 3 / hours: "
              + ", ".join(f"{k} {v}/h" for k, v in fa["upper_95_per_hour_when_none"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_sdk.bench.wake", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/experiments/wake", help="folder for wake.json and wake.md")
    p.add_argument("--data", default=None, help="data folder (default: $EDGE_SDK_DATA, else the repository's data/)")
    p.add_argument("--words", default=",".join(DEFAULT_WORDS), help=f"built-in wake words to synthesize ({', '.join(BUILTIN_PHRASES)})")
    p.add_argument("--thresholds", default=",".join(map(str, DEFAULT_THRESHOLDS)), help="thresholds to run (the server's default: 0.5)")
    args = p.parse_args(argv)
    words = tuple(w for w in args.words.split(",") if w)
    unknown = [w for w in words if w not in BUILTIN_PHRASES]
    if unknown:
        p.error(f"--words {unknown} are not built in; choose from {', '.join(BUILTIN_PHRASES)}")
    thresholds = tuple(float(t) for t in args.thresholds.split(","))
    data = default_data_dir(args.data)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="edge-sdk-wake-") as work:
        utterances = wake_utterances(words, Path(work))
    t0 = time.perf_counter()
    detections = run_detections(utterances, thresholds)
    files = speech_files(data)
    false_accepts = run_false_accepts(files, data, thresholds)
    from edge_sdk.devices.detect import read_machine

    result = {
        "command": "python -m edge_sdk.bench.wake " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {"cpu": read_machine().cpu_model, "cores": os.cpu_count(), "python": platform.python_version()},
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "spotter": {"trigger_level": WakeWordOptions().trigger_level, "refractory_s": WakeWordOptions().refractory_s,
                    "server_default_threshold": WakeWordOptions().threshold, "feed_samples": FEED_SAMPLES},
        "wake_words": list(words), "voices": [list(v) for v in VOICES], "pad_s": PAD_S, "noise_snr_db": NOISE_SNR_DB,
        "detections": detections,
        "speech_files": [str(f.relative_to(data)) for f in files],
        "false_accepts": false_accepts,
        "spotting_wall_s": round(time.perf_counter() - t0, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "wake.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "wake.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'wake.json'}, {out / 'wake.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
