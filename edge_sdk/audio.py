"""Audio decoding and conversion to the 16 kHz mono float32 the speech models take.

Every conversion is reported in :class:`AudioConversion` so callers can see what happened
to their input (sample rate, channels, sample format). :class:`AudioFileReader` decodes a file
block by block (each block downmixed and resampled as it comes), so memory does not grow with
the length of the file.

Float samples belong in [-1, 1]. Samples that reach past :data:`MAX_FLOAT_PEAK` are refused with
:class:`InvalidInputError`, never rescaled: they are almost always integers stored as float (int16
values reach 32767), and Whisper's features are not scale-free (measured on the JFK clip: the
transcript is exact up to a peak of 12.5, loses words at 50 and is empty at 200).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import EmptyInputError, InputTooLargeError, InvalidInputError, require
from edge_sdk.inputfile import check_input_file

TARGET_RATE = 16000
MAX_FLOAT_PEAK = 8.0  # 18 dB above full scale: over-driven float audio passes, integers stored as float do not
BLOCK_S = 30.0  # seconds of source audio an AudioFileReader decodes at a time


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
    check_samples(audio, np.issubdtype(arr.dtype, np.floating))
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float32)
    out = resample(audio, int(sample_rate))
    info = AudioConversion(int(sample_rate), channels, dtype, int(sample_rate) != TARGET_RATE, channels > 1, out.shape[0] / TARGET_RATE)
    return np.ascontiguousarray(out, dtype=np.float32), info


def check_samples(audio: np.ndarray, was_float: bool) -> None:
    """Refuse NaN/inf samples, and float samples far outside [-1, 1] (see :data:`MAX_FLOAT_PEAK`).

    Raises:
        InvalidInputError: Non-finite samples, or a float peak over ``MAX_FLOAT_PEAK``.
    """
    if not audio.size:
        return
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise InvalidInputError(f"audio holds {bad} NaN or infinite samples; clean the input before transcribing")
    peak = max(float(audio.max()), -float(audio.min()))
    if was_float and peak > MAX_FLOAT_PEAK:
        raise InvalidInputError(
            f"float samples reach {peak:.1f}, far outside [-1, 1] (more than {MAX_FLOAT_PEAK:g} is refused): they look like "
            "integers stored as float; scale them to [-1, 1] (int16 values: divide by 32768) or pass the integer array"
        )


def check_audio_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path after checking it names a non-empty regular file this process can read.

    Raises:
        InputNotFoundError: No such file (also a ``BundleNotFoundError``).
        InvalidInputError: The file is empty, a directory or FIFO, or unreadable.
    """
    p = check_input_file(path, "audio file")
    if p.stat().st_size == 0:
        raise InvalidInputError(f"audio file {str(path)!r} is empty (0 bytes)")
    return p


def read_file(path: str | os.PathLike) -> tuple[np.ndarray, int, str]:
    """Read an audio file with soundfile: ``(samples (frames, channels) float32, rate, subtype)``.

    Raises:
        InputNotFoundError: No such file.
        InvalidInputError: The file is not audio soundfile can decode, or is empty.
    """
    sf = require("soundfile", "mic")
    p = check_audio_path(path)
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
        subtype = sf.info(str(p)).subtype
    except TypeError as exc:  # headerless formats (.raw) need the rate and format up front
        raise _headerless(path, exc) from exc
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise InvalidInputError(f"cannot decode audio file {str(path)!r}: {exc}") from exc
    return data, int(rate), subtype


def _headerless(path, exc: Exception) -> InvalidInputError:
    return InvalidInputError(f"cannot decode audio file {str(path)!r}: it has no header ({exc}); "
                             "read raw PCM yourself and pass the array with its sample_rate")


class AudioFileReader:
    """An audio file decoded block by block into 16 kHz mono float32 (memory bounded by the block, not the file).

    The header is read and checked when the reader is made; float files (``FLOAT``/``DOUBLE``) are also
    scanned once, block by block, so that out-of-range or NaN samples are refused before any result.
    Each block is downmixed and resampled as it comes (soxr's stream gives the same samples as a one-shot
    resample of the whole file).

    Args:
        path: Any file soundfile reads (WAV, FLAC, OGG, ...), any rate and channel count.
        max_duration_s: Refuse files longer than this (from the header); None: no limit.
        block_s: Seconds of source audio decoded at a time.

    Raises:
        InputNotFoundError: No such file.
        EmptyInputError: The file holds no samples.
        InputTooLargeError: Longer than ``max_duration_s``.
        InvalidInputError: Not a regular readable file, not decodable, or bad float samples.
    """

    def __init__(self, path: str | os.PathLike, max_duration_s: float | None = None, block_s: float = BLOCK_S) -> None:
        sf = require("soundfile", "mic")
        self.path = check_audio_path(path)
        try:
            info = sf.info(str(self.path))
        except TypeError as exc:
            raise _headerless(path, exc) from exc
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise InvalidInputError(f"cannot decode audio file {str(path)!r}: {exc}") from exc
        self.rate, self.channels, self.subtype, self.frames = int(info.samplerate), int(info.channels), info.subtype, int(info.frames)
        if self.frames <= 0:
            raise EmptyInputError(f"audio file {str(path)!r} is empty (0 samples); pass at least one sample")
        duration_s = self.frames / self.rate
        if max_duration_s is not None and duration_s > max_duration_s:
            raise InputTooLargeError(
                f"audio file {str(path)!r} is {duration_s:.1f} s long, over the limit of {max_duration_s:g} s; cut it, or raise "
                "TranscriberOptions.max_duration_s (--max-duration-s)")
        self._block = max(1, int(round(block_s * self.rate)))
        self.conversion = AudioConversion(self.rate, self.channels, self.subtype, self.rate != TARGET_RATE, self.channels > 1,
                                          duration_s)
        if self.subtype in ("FLOAT", "DOUBLE"):
            for block in self._raw_blocks():
                check_samples(block, True)

    def _raw_blocks(self) -> Iterator[np.ndarray]:
        """The file's samples as float32 ``(frames, channels)`` blocks, from the start; the last one may be short or empty."""
        sf = require("soundfile", "mic")
        try:
            with sf.SoundFile(str(self.path)) as f:
                while True:
                    data = f.read(self._block, dtype="float32", always_2d=True)
                    yield data
                    if data.shape[0] < self._block:
                        return
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InvalidInputError(f"cannot decode audio file {str(self.path)!r}: {exc}") from exc

    def blocks(self) -> Iterator[np.ndarray]:
        """16 kHz mono float32 blocks in order (lazily: a generator that decodes as it is consumed)."""
        stream = None
        if self.rate != TARGET_RATE:
            stream = require("soxr", "mic").ResampleStream(self.rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
        for data in self._raw_blocks():
            last = data.shape[0] < self._block
            mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
            out = stream.resample_chunk(mono, last=last) if stream is not None else mono
            if out.size:
                yield np.ascontiguousarray(out, dtype=np.float32)


def load_audio(source, sample_rate: int | None = None) -> tuple[np.ndarray, AudioConversion]:
    """Load a file path or an array as 16 kHz mono float32, whole (use :class:`AudioFileReader` for long files).

    Args:
        source: Path to any file soundfile reads, or a sample array.
        sample_rate: Rate of an array input; required for arrays, ignored for files.

    Raises:
        InvalidInputError: An array without ``sample_rate``, or undecodable/invalid audio.
        InputNotFoundError: The file does not exist (also a ``BundleNotFoundError``).
    """
    if isinstance(source, (str, os.PathLike)):
        data, rate, subtype = read_file(source)
        audio, info = convert(data, rate)
        # soundfile already scaled the file's integer samples; state the file's own format.
        return audio, AudioConversion(info.source_rate_hz, info.source_channels, subtype, info.resampled, info.downmixed, info.duration_s)
    if sample_rate is None:
        raise InvalidInputError("an array input needs sample_rate=...; pass the rate the samples were captured at")
    return convert(source, sample_rate)
