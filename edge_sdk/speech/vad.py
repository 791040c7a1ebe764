"""Silero VAD on onnxruntime + numpy: speech probability per 32 ms window, and endpointing.

The Silero ONNX model (``silero_vad.onnx`` from the ``silero-vad`` package, asset role ``"vad"`` of a
speech bundle) takes, per call, 64 samples of context from the previous window followed by 512 new
samples at 16 kHz, a recurrent ``state`` of shape ``(2, 1, 128)`` and the rate ``sr``; it returns the
speech probability of the window and the next state. :class:`SileroVAD` keeps that context and state
across calls so audio can arrive in chunks of any length.

:class:`Endpointer` turns probabilities into speech segments with hysteresis (start above
``threshold``, end only after ``min_silence_ms`` below ``neg_threshold``) and drops blips shorter than
``min_speech_ms``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from edge_sdk.devices.resolve import ResolvedDevice, resolve_device
from edge_sdk.errors import BundleError, InvalidInputError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WINDOW = 512  # samples per VAD window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees first
WINDOW_S = WINDOW / SAMPLE_RATE


@dataclass(frozen=True)
class VadOptions:
    """Thresholds and durations of voice activity detection.

    Attributes:
        threshold: A window with speech probability at or above this starts speech.
        neg_threshold: Speech ends only after windows below this; None means ``threshold - 0.15``.
        min_speech_ms: Speech shorter than this is ignored (clicks, coughs).
        min_silence_ms: Silence needed to close a speech segment (the endpoint delay).
    """

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_ms: int = 250
    min_silence_ms: int = 300

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise InvalidInputError(f"VadOptions.threshold={self.threshold!r} must be between 0 and 1 (exclusive); 0.5 is typical")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise InvalidInputError(
                f"VadOptions.neg_threshold={self.neg_threshold!r} must be between 0 and threshold={self.threshold}; "
                "leave it None for threshold - 0.15"
            )
        for name in ("min_speech_ms", "min_silence_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"VadOptions.{name}={value!r} must be a non-negative whole number of milliseconds")

    @property
    def off_threshold(self) -> float:
        """The probability below which a window counts as silence."""
        return self.neg_threshold if self.neg_threshold is not None else max(0.01, self.threshold - 0.15)


def _cpu_single_thread(device: ResolvedDevice) -> ResolvedDevice:
    # The VAD is ~1 ms per window; a GPU round trip or a thread pool costs more than it saves.
    return dataclasses.replace(device, providers=("CPUExecutionProvider",), provider_options=({},), intra_op_threads=1)


class SileroVAD:
    """Stateful Silero VAD: feed 16 kHz audio in any chunk size, get one probability per 512 samples.

    Create with :meth:`from_bytes` (verified bundle bytes) or :meth:`from_path`.
    """

    def __init__(self, session) -> None:
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise BundleError(f"the VAD model has inputs {sorted(names)}; expected Silero VAD v5+ inputs ['input', 'sr', 'state']")
        self._session = session
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    @classmethod
    def from_bytes(cls, model: bytes, device: str | ResolvedDevice | None = "auto") -> SileroVAD:
        """Load the VAD from ONNX bytes (e.g. ``transcriber.vad_model_bytes()``)."""
        from edge_sdk.runtime import create_session

        return cls(create_session(model, _cpu_single_thread(resolve_device(device)), "silero_vad.onnx"))

    @classmethod
    def from_path(cls, path: str, device: str | ResolvedDevice | None = "auto") -> SileroVAD:
        """Load the VAD from an ONNX file (tests, tools); bundles should use :meth:`from_bytes`."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read(), device)

    def reset(self) -> None:
        """Forget the recurrent state, the context and any partial window."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    @property
    def pending_samples(self) -> int:
        """Samples received but not yet part of a full window."""
        return int(self._pending.shape[0])

    def window_probability(self, window: np.ndarray) -> float:
        """Speech probability of exactly 512 new samples (advances the state)."""
        x = np.concatenate([self._context, window]).reshape(1, CONTEXT + WINDOW)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = window[-CONTEXT:]
        return float(out.reshape(-1)[0])

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Feed 16 kHz mono float32 samples; return the probability of each window completed.

        Samples that do not fill a window are kept for the next call.
        """
        audio = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        n = audio.shape[0] // WINDOW
        probs = np.empty(n, dtype=np.float32)
        for i in range(n):
            probs[i] = self.window_probability(audio[i * WINDOW : (i + 1) * WINDOW])
        self._pending = audio[n * WINDOW :].copy()
        return probs


@dataclass(frozen=True)
class VadEvent:
    """A change of the speech state, at a window boundary (sample index in the VAD's own count)."""

    kind: str  # "start" | "end"
    sample: int


class Endpointer:
    """Hysteresis over window probabilities: emits ``start`` and ``end`` events.

    ``start`` is reported once speech has lasted ``min_speech_ms`` (its sample is where it began);
    ``end`` once silence has lasted ``min_silence_ms`` (its sample is where the silence began).
    """

    def __init__(self, options: VadOptions = VadOptions()) -> None:
        self.options = options
        self._min_speech = max(1, round(options.min_speech_ms / 1000 / WINDOW_S))
        self._min_silence = max(1, round(options.min_silence_ms / 1000 / WINDOW_S))
        self.reset()

    def reset(self) -> None:
        self.window = 0  # windows seen
        self.in_speech = False
        self._candidate_start: int | None = None
        self._silence_start: int | None = None

    def reset_speech(self) -> None:
        """Leave the speech state (the window count goes on): speech must start again to open an utterance."""
        self.in_speech = False
        self._candidate_start = None
        self._silence_start = None

    @property
    def silence_run_start(self) -> int | None:
        """Sample where the current run of silence inside speech began (None if not in one)."""
        return None if self._silence_start is None else self._silence_start * WINDOW

    def update(self, prob: float) -> VadEvent | None:
        """Advance by one window; return an event when the state changes."""
        i = self.window
        self.window += 1
        opts = self.options
        if not self.in_speech:
            if prob >= opts.threshold:
                if self._candidate_start is None:
                    self._candidate_start = i
                if i + 1 - self._candidate_start >= self._min_speech:
                    self.in_speech, self._silence_start = True, None
                    return VadEvent("start", self._candidate_start * WINDOW)
            elif prob < opts.off_threshold:
                self._candidate_start = None
            return None
        if prob < opts.off_threshold:
            if self._silence_start is None:
                self._silence_start = i
            if i + 1 - self._silence_start >= self._min_silence:
                start, self._silence_start, self._candidate_start = self._silence_start, None, None
                self.in_speech = False
                return VadEvent("end", start * WINDOW)
        elif prob >= opts.threshold:
            self._silence_start = None
        return None


def speech_segments(vad: SileroVAD, audio: np.ndarray, options: VadOptions = VadOptions()) -> list[tuple[int, int]]:
    """Offline helper: ``(start_sample, end_sample)`` of each speech segment of 16 kHz ``audio``."""
    vad.reset()
    ep = Endpointer(options)
    probs = vad.accept(np.concatenate([audio, np.zeros(WINDOW, np.float32)]))
    out, start = [], None
    for p in probs:
        ev = ep.update(float(p))
        if ev and ev.kind == "start":
            start = ev.sample
        elif ev and ev.kind == "end":
            out.append((start, min(ev.sample, audio.shape[0])))
            start = None
    if start is not None:
        out.append((start, audio.shape[0]))
    return out
