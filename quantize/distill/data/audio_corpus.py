"""Audio to distil Whisper on: real clips not held out, and synthetic speech with car/kitchen acoustics.

Real clips come from a ``transcripts.tsv`` manifest; a clip is held out for evaluation when the
CRC32 of its path falls in the held-out share, so the split never changes between runs.
Synthetic speech is spoken from English sentences by two engines (Debian packages): espeak-ng
(formant synthesis, many voices, rates and pitches) and flite (CMU's diphone and clustergen voices,
closer to natural speech, at several speaking rates), then passed through a synthetic room (exponentially decaying
noise impulse response) and mixed with car-like (low-passed brown) or kitchen-like (pink plus
clatter bursts) noise at a random SNR. Every random choice comes from one seeded generator.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import InvalidInputError, MissingDependencyError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# espeak-ng voice variants: the built-in English voices crossed with its male/female variants.
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5", "klatt")
FLITE_VOICES = ("kal16", "awb", "rms", "slt")  # flite 2.2's English voices (kal is kal16 at 8 kHz)
TTS_ENGINES = ("espeak-ng", "flite")


@dataclass(frozen=True)
class Clip:
    """One utterance: 16 kHz float32 samples, its reference text ("" when unknown) and its origin."""

    audio: np.ndarray
    reference: str
    origin: str


def split_manifest(manifest: Path, held_out_percent: int) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """``(train, held_out)`` rows of ``path<TAB>reference``, split by ``crc32(path) % 100``."""
    from edge_sdk.speech.evaluate import read_manifest

    train, held = [], []
    for path, ref in read_manifest(manifest):
        rel = str(path.relative_to(manifest.parent)) if path.is_relative_to(manifest.parent) else str(path)
        (held if zlib.crc32(rel.encode()) % 100 < held_out_percent else train).append((path, ref))
    return train, held


def write_manifest(rows: list[tuple[Path, str]], out: Path) -> Path:
    """A manifest with absolute paths (``evaluate`` resolves them against the manifest's folder)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{Path(p).resolve()}\t{ref}\n" for p, ref in rows), encoding="utf-8")
    return out


def load_clip(path: Path, reference: str) -> Clip:
    """A real clip, decoded, downmixed and resampled by the runtime's own audio loader."""
    from edge_sdk.audio import load_audio

    audio, _ = load_audio(path)
    return Clip(np.asarray(audio, dtype=np.float32), reference, str(path))


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise MissingDependencyError(f"synthetic speech needs {name}: apt-get install {name}")
    return exe


def _wav_to_16k(wav: bytes) -> np.ndarray:
    import soundfile as sf

    from edge_sdk.audio import resample

    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return resample(audio, rate, SAMPLE_RATE).astype(np.float32)


def espeak(text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
    """``text`` spoken by espeak-ng, as 16 kHz float32.

    Raises:
        MissingDependencyError: espeak-ng is not installed.
    """
    cmd = [_tool("espeak-ng"), "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "--stdout", text]
    return _wav_to_16k(subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout)


def flite(text: str, voice: str, stretch: float) -> np.ndarray:
    """``text`` spoken by flite's ``voice``, ``stretch`` times its normal duration, as 16 kHz float32.

    Raises:
        MissingDependencyError: flite is not installed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        subprocess.run([_tool("flite"), "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}", "-t", text, "-o", str(out)],
                       check=True, capture_output=True, timeout=60)
        return _wav_to_16k(out.read_bytes())


def is_synthetic(origin: str) -> bool:
    """Whether a clip's ``origin`` (as :func:`synthetic_clips` writes it) names a speech synthesizer."""
    return origin.split(":", 1)[0] in TTS_ENGINES


def validation_indices(origins: list[str], at_most: int) -> set[int]:
    """Every 20th synthetic clip (at most ``at_most``; the last clip when none is synthetic): every real clip is trained on."""
    synthetic = [i for i, origin in enumerate(origins) if is_synthetic(origin)]
    return set(synthetic[::20][:at_most]) or {len(origins) - 1}


def speak(text: str, engine: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``text`` spoken by ``engine`` in a voice, rate and pitch drawn from ``rng``; the audio and a description."""
    if engine == "flite":
        voice, stretch = str(rng.choice(FLITE_VOICES)), float(rng.uniform(0.85, 1.2))
        return flite(text, voice, stretch), f"flite:{voice}:x{stretch:.2f}"
    if engine != "espeak-ng":
        raise InvalidInputError(f"unknown speech engine {engine!r}; expected one of {TTS_ENGINES}")
    voice = f"{rng.choice(ESPEAK_VOICES)}+{rng.choice(ESPEAK_VARIANTS)}"
    rate, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 75))
    return espeak(text, voice, rate, pitch), f"espeak-ng:{voice}:s{rate}:p{pitch}"


def room_impulse(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A synthetic impulse response: a direct path and noise decaying 60 dB over ``rt60_s``."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s) * 0.3
    tail[0] = 1.0
    return (tail / np.sqrt(np.sum(tail**2))).astype(np.float32)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    return np.fft.irfft(spec, n)


def noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Car (low-passed brown noise, engine hum) or kitchen (pink noise with clatter bursts) noise."""
    if kind == "car":
        x = np.cumsum(rng.standard_normal(n))
        x -= np.convolve(x, np.ones(801) / 801, mode="same")  # remove the random walk's drift
        hum = np.sin(2 * np.pi * rng.uniform(30, 90) * np.arange(n) / SAMPLE_RATE)
        x = x / (np.std(x) + 1e-9) + 0.5 * hum
    else:
        x = _pink(rng, n)
        x /= np.std(x) + 1e-9
        for _ in range(int(rng.integers(1, 5))):
            start, length = int(rng.integers(0, max(1, n - 1600))), int(rng.integers(400, 1600))
            x[start : start + length] += rng.standard_normal(min(length, n - start)) * np.exp(-np.arange(min(length, n - start)) / 300) * 4
    return (x / (np.std(x) + 1e-9)).astype(np.float32)


def augment(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Reverberate and add noise; returns the audio and what was done (for the recipe)."""
    rt60 = float(rng.uniform(0.15, 0.6))
    out = np.convolve(audio, room_impulse(rng, rt60))[: len(audio)]
    kind = str(rng.choice(["car", "kitchen"]))
    snr_db = float(rng.uniform(5, 25))
    nz = noise(rng, len(out), kind)
    p_sig = np.mean(out**2) + 1e-12
    out = out + nz * np.sqrt(p_sig / 10 ** (snr_db / 10))
    peak = np.max(np.abs(out)) + 1e-9
    return (out / peak * 0.7 if peak > 0.99 else out).astype(np.float32), {"rt60_s": round(rt60, 2), "noise": kind, "snr_db": round(snr_db, 1)}


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``audio`` ``factor`` times faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    from edge_sdk.audio import resample

    return resample(audio, int(round(SAMPLE_RATE * factor)), SAMPLE_RATE)


def synthetic_clips(sentences: list[str], count: int, seed: int, augment_share: float = 0.8,
                    engines: tuple[str, ...] = ("espeak-ng",)) -> list[Clip]:
    """``count`` utterances of sentences drawn from ``sentences``, engines taking turns, most of them augmented."""
    rng = np.random.default_rng(seed)
    clips = []
    for k in range(count):
        text = sentences[int(rng.integers(0, len(sentences)))]
        audio, spoken_by = speak(text, engines[k % len(engines)], rng)
        what = {}
        if rng.uniform() < augment_share:
            audio, what = augment(audio, rng)
        clips.append(Clip(audio, text, f"{spoken_by}:{what or 'clean'}#{k}"))
    return clips


def long_form_clips(clips: list[Clip], passes: int, rng: np.random.Generator,
                    seconds: tuple[float, float] = (10.0, 28.0), gap_s: tuple[float, float] = (0.2, 0.8)) -> list[Clip]:
    """Consecutive ``clips`` joined into windows of ``seconds`` with short silences between them.

    A 2-layer decoder trained on short prompts loops or stops early on long speech; these windows
    teach it to carry a long transcript. Pass 0 joins the clips in their order (neighbouring lines of
    one recording follow each other); later passes join a shuffled order. A window holds at least
    two clips, lasts at least ``seconds[0]`` and never more than ``seconds[1]`` (the encoder's 30 s
    window less the runtime's margin).
    """
    if passes < 0 or not 0 < seconds[0] <= seconds[1]:
        raise InvalidInputError(f"long-form windows need passes >= 0 and 0 < min <= max seconds, got {passes}, {seconds}")
    out: list[Clip] = []
    for p in range(passes):
        order = np.arange(len(clips)) if p == 0 else rng.permutation(len(clips))
        members: list[int] = []
        target = float(rng.uniform(*seconds))
        for i in order:
            if len(clips[i].audio) > seconds[1] * SAMPLE_RATE:
                continue
            if members and _joined_seconds(clips, members + [int(i)], gap_s[1]) > seconds[1]:
                out += _join(clips, members, rng, gap_s, p)
                members, target = [], float(rng.uniform(*seconds))
            members.append(int(i))
            if _joined_seconds(clips, members, gap_s[1]) >= target:
                out += _join(clips, members, rng, gap_s, p)
                members, target = [], float(rng.uniform(*seconds))
        out += _join(clips, members, rng, gap_s, p)
    return [w for w in out if len(w.audio) >= seconds[0] * SAMPLE_RATE]  # a pass's short remainder is dropped


def _joined_seconds(clips: list[Clip], members: list[int], gap_s: float) -> float:
    return sum(len(clips[i].audio) for i in members) / SAMPLE_RATE + gap_s * (len(members) - 1)


def _join(clips: list[Clip], members: list[int], rng: np.random.Generator, gap_s: tuple[float, float], p: int) -> list[Clip]:
    """One window of ``members`` (none when fewer than two)."""
    if len(members) < 2:
        return []
    parts = []
    for k, i in enumerate(members):
        if k:
            parts.append(np.zeros(int(rng.uniform(*gap_s) * SAMPLE_RATE), np.float32))
        parts.append(clips[i].audio)
    text = " ".join(clips[i].reference.strip() for i in members)
    return [Clip(np.concatenate(parts), text, f"long-form:p{p}:{clips[members[0]].origin}+{len(members) - 1}")]
