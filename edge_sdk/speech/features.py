"""Whisper log-mel features in numpy: 400-point STFT, hop 160, 80 Slaney mel bands, 16 kHz.

Matches ``whisper.audio.log_mel_spectrogram`` and ``transformers.WhisperFeatureExtractor``:
periodic Hann window, centred frames with reflect padding, power spectrum, log10 clipped at
1e-10, floored 8 below the maximum, then ``(x + 4) / 4``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_FRAMES = 3000  # 30 s
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    mel = 3.0 * f / 200.0
    log_region = f >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = 200.0 * m / 3.0
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), f)


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised mel filterbank, shape ``(n_mels, n_fft // 2 + 1)`` (librosa's default)."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel(audio: np.ndarray, n_frames: int, n_mels: int = 80) -> np.ndarray:
    """Log-mel features of ``audio`` zero-padded (or cut) to ``n_frames`` frames of 10 ms.

    Args:
        audio: 1-D float32 samples at 16 kHz.
        n_frames: Output frames; the audio is padded with zeros to ``n_frames * 160`` samples
            first, as Whisper pads to 30 s, so the values do not depend on the window length.
        n_mels: Mel bands (80 for all Whisper models up to large-v2).

    Returns:
        ``(n_mels, n_frames)`` float32.
    """
    n_samples = n_frames * HOP_LENGTH
    x = np.zeros(n_samples, dtype=np.float32)
    x[: min(len(audio), n_samples)] = audio[:n_samples]
    x = np.pad(x, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP_LENGTH][:n_frames]
    spec = np.fft.rfft(frames * _window(), axis=-1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = mel_filters(n_mels) @ power.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
