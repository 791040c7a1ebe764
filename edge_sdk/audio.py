"""Audio decoding and conversion to the 16 kHz mono float32 the speech models take.

Every conversion is reported in :class:`AudioConversion` so callers can see what happened
to their input (sample rate, channels, sample format).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import BundleNotFoundError, InvalidInputError, require

TARGET_RATE = 16000


@dataclass(frozen=True)
class AudioConversion:
    """What was done to the input to make it 16 kHz mono float32."""

    source_rate_hz: int
    source_channels: int
    source_dtype: str
    resampled: bool
    downmixed: bool
    duration_s: float

    def describe(self) -> str:
        steps = []
        if self.downmixed:
            steps.append(f"{self.source_channels} channels averaged to mono")
        if self.resampled:
            steps.append(f"resampled {self.source_rate_hz} Hz -> {TARGET_RATE} Hz")
        if self.source_dtype != "float32":
            steps.append(f"{self.source_dtype} scaled to float32")
        return "; ".join(steps) or "none"


def _to_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.dtype == np.int32:
        return samples.astype(np.float32) / 2147483648.0
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.floating):
        return samples.astype(np.float32, copy=False)
    raise InvalidInputError(f"audio sample type {samples.dtype} is not supported; pass int16, int32, uint8 or float samples")


def resample(samples: np.ndarray, from_hz: int, to_hz: int = TARGET_RATE) -> np.ndarray:
    """Resample float32 mono or (frames, channels) audio with soxr (high quality)."""
    if from_hz == to_hz or samples.shape[0] == 0:
        return samples
    soxr = require("soxr", "mic")
    return soxr.resample(samples, from_hz, to_hz, quality="HQ").astype(np.float32, copy=False)


def convert(samples, sample_rate: int, channels_last: bool = True) -> tuple[np.ndarray, AudioConversion]:
    """Convert any sample array to 16 kHz mono float32.

    Args:
        samples: 1-D mono, or 2-D ``(frames, channels)`` (``channels_last``) audio;
            int16/int32/uint8 or float.
        sample_rate: Rate of ``samples`` in Hz.

    Returns:
        ``(audio, conversion)``: float32 mono at 16 kHz, and what was done.

    Raises:
        InvalidInputError: Non-finite samples, a bad rate, or an unusable shape.
    """
    arr = np.asarray(samples)
    if not isinstance(sample_rate, (int, np.integer)) or not 1000 <= int(sample_rate) <= 384000:
        raise InvalidInputError(f"sample_rate {sample_rate!r} is not a rate in Hz between 1000 and 384000")
    if arr.ndim == 2 and not channels_last:
        arr = arr.T
    if arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] > 64):
        raise InvalidInputError(
            f"audio of shape {arr.shape} is not mono (frames,) or (frames, channels); "
            "pass channels last or set channels_last=False"
        )
    dtype = str(arr.dtype)
    audio = _to_float(arr)
    if audio.size and not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise InvalidInputError(f"audio holds {bad} NaN or infinite samples; clean the input before transcribing")
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float32)
    out = resample(audio, int(sample_rate))
    info = AudioConversion(int(sample_rate), channels, dtype, int(sample_rate) != TARGET_RATE, channels > 1, out.shape[0] / TARGET_RATE)
    return np.ascontiguousarray(out, dtype=np.float32), info


def check_audio_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path after checking it names a non-empty file.

    Raises:
        BundleNotFoundError: No such file.
        InvalidInputError: The file is empty.
    """
    p = Path(path)
    if not p.is_file():
        raise BundleNotFoundError(f"audio file {str(path)!r} does not exist")
    if p.stat().st_size == 0:
        raise InvalidInputError(f"audio file {str(path)!r} is empty (0 bytes)")
    return p


def read_file(path: str | os.PathLike) -> tuple[np.ndarray, int, str]:
    """Read an audio file with soundfile: ``(samples (frames, channels) float32, rate, subtype)``.

    Raises:
        BundleNotFoundError: No such file.
        InvalidInputError: The file is not audio soundfile can decode, or is empty.
    """
    sf = require("soundfile", "mic")
    p = check_audio_path(path)
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
        subtype = sf.info(str(p)).subtype
    except TypeError as exc:  # headerless formats (.raw) need the rate and format up front
        raise InvalidInputError(
            f"cannot decode audio file {str(path)!r}: it has no header ({exc}); "
            "read raw PCM yourself and pass the array with its sample_rate"
        ) from exc
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise InvalidInputError(f"cannot decode audio file {str(path)!r}: {exc}") from exc
    return data, int(rate), subtype


def load_audio(source, sample_rate: int | None = None) -> tuple[np.ndarray, AudioConversion]:
    """Load a file path or an array as 16 kHz mono float32.

    Args:
        source: Path to any file soundfile reads, or a sample array.
        sample_rate: Rate of an array input; required for arrays, ignored for files.

    Raises:
        InvalidInputError: An array without ``sample_rate``, or undecodable/invalid audio.
        BundleNotFoundError: The file does not exist.
    """
    if isinstance(source, (str, os.PathLike)):
        data, rate, subtype = read_file(source)
        audio, info = convert(data, rate)
        # soundfile already scaled the file's integer samples; state the file's own format.
        return audio, AudioConversion(info.source_rate_hz, info.source_channels, subtype, info.resampled, info.downmixed, info.duration_s)
    if sample_rate is None:
        raise InvalidInputError("an array input needs sample_rate=...; pass the rate the samples were captured at")
    return convert(source, sample_rate)
