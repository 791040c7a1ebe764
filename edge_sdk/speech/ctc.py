"""CTC acoustic models (DeepSpeech-style CNN + RNN + CTC) on onnxruntime, offline and natively streaming.

A bundle of family ``"ctc"`` holds one ONNX acoustic model per variant (role ``"model"``), its vocabulary
(asset ``"vocab"``: a JSON list, index 0 the CTC blank) and the Silero VAD (asset ``"vad"``).
``preprocessing`` in ``bundle.json`` gives the features (``n_mels``, ``n_fft``, ``hop_length``), the number
of left-context feature frames the convolutions need (``context_frames``) and the recurrent state
(``rnn_type``, ``rnn_layers``, ``rnn_hidden``).

The ONNX model takes ``features`` ``(1, context_frames + T, n_mels)`` and the RNN state (``h0``, plus ``c0``
for an LSTM) and returns ``log_probs`` ``(1, T, vocab)`` and the next state (``hn``, ``cn``). Its
convolutions are causal in time and its RNN is unidirectional, so running it chunk by chunk with the
carried context and state gives exactly the log-probabilities of one pass over the whole utterance:
that is how :meth:`CTCModel.start_utterance` streams.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.bundle import Bundle, load_bundle
from edge_sdk.errors import BundleError, InvalidInputError
from edge_sdk.speech.results import Segment
from edge_sdk.speech.stream import StreamingModel
from edge_sdk.task import Provenance

if TYPE_CHECKING:
    from edge_sdk.devices.resolve import ResolvedDevice

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """HTK-scale triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)``."""

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fb = np.zeros((n_mels, bins.shape[0]), np.float32)
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        fb[i] = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    return fb


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel features of the CTC model: ``n_fft``-sample Hann frames every ``hop_length`` samples,
    not centred (frame ``i`` covers samples ``[i * hop, i * hop + n_fft)``), so they stream exactly."""

    n_mels: int = 80
    n_fft: int = 400
    hop_length: int = 160

    def __post_init__(self) -> None:
        if not (8 <= self.n_mels <= 256 and self.n_fft >= 64 and 0 < self.hop_length <= self.n_fft):
            raise BundleError(f"CTC feature settings {self} are out of range (n_mels 8-256, n_fft >= 64, 0 < hop <= n_fft)")


class FeatureStream:
    """Incremental log-mel frames: samples in, complete frames out, leftover kept."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self._fb = mel_filterbank(config.n_mels, config.n_fft)
        self._window = np.hanning(config.n_fft + 1)[:-1].astype(np.float32)
        self._rest = np.zeros(0, np.float32)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Frames ``(n, n_mels)`` completed by ``samples``."""
        c = self.config
        audio = np.concatenate([self._rest, samples.astype(np.float32, copy=False)])
        n = 0 if audio.shape[0] < c.n_fft else 1 + (audio.shape[0] - c.n_fft) // c.hop_length
        if n == 0:
            self._rest = audio
            return np.zeros((0, c.n_mels), np.float32)
        idx = np.arange(c.n_fft)[None, :] + c.hop_length * np.arange(n)[:, None]
        spec = np.abs(np.fft.rfft(audio[idx] * self._window, axis=1)) ** 2
        self._rest = audio[n * c.hop_length :]
        return np.log(spec.astype(np.float32) @ self._fb.T + 1e-6).astype(np.float32)


def greedy_decode(log_probs: np.ndarray, blank: int = 0) -> list[int]:
    """Best path: argmax per frame, merge repeats, drop blanks. ``log_probs`` is ``(T, V)``."""
    best = np.argmax(log_probs, axis=-1)
    out, prev = [], -1
    for t in best.tolist():
        if t != prev and t != blank:
            out.append(t)
        prev = t
    return out


def prefix_beam_search(log_probs: np.ndarray, beam_size: int = 8, blank: int = 0) -> list[int]:
    """CTC prefix beam search over ``(T, V)`` log-probabilities; returns the most probable label sequence.

    Each prefix keeps the probability of ending in blank and in its last label, so paths that
    collapse to the same labels are summed (greedy decoding keeps only the single best path).
    """

    def add(a: float, b: float) -> float:
        return max(a, b) + math.log1p(math.exp(-abs(a - b))) if a > -math.inf or b > -math.inf else -math.inf

    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    for frame in log_probs:
        nxt: dict[tuple[int, ...], list[float]] = {}
        top = np.argsort(frame)[::-1][: max(beam_size, 2)]
        for prefix, (p_b, p_nb) in beams.items():
            total = add(p_b, p_nb)
            for k in top.tolist():
                lp = float(frame[k])
                if k == blank:
                    e = nxt.setdefault(prefix, [-math.inf, -math.inf])
                    e[0] = add(e[0], total + lp)
                    continue
                ext = prefix + (k,)
                e = nxt.setdefault(ext, [-math.inf, -math.inf])
                if prefix and prefix[-1] == k:
                    e[1] = add(e[1], p_b + lp)  # a repeat needs a blank in between
                    same = nxt.setdefault(prefix, [-math.inf, -math.inf])
                    same[1] = add(same[1], p_nb + lp)
                else:
                    e[1] = add(e[1], total + lp)
        ranked = sorted(nxt.items(), key=lambda kv: add(*kv[1]), reverse=True)[:beam_size]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    return list(max(beams.items(), key=lambda kv: add(*kv[1]))[0])


class CTCUtterance:
    """Native streaming decode of one utterance: audio in chunks, log-probs carried with the RNN state."""

    def __init__(self, model: CTCModel) -> None:
        self._m = model
        self._features = FeatureStream(model.features)
        self._context = np.zeros((model.context_frames, model.features.n_mels), np.float32)
        self._state = model.initial_state()
        self._log_probs: list[np.ndarray] = []
        self.samples = 0

    def accept(self, samples: np.ndarray) -> None:
        """Advance the acoustic model over ``samples`` (16 kHz mono float32)."""
        self.samples += samples.shape[0]
        frames = self._features.accept(samples)
        if frames.shape[0] == 0:
            return
        x = np.concatenate([self._context, frames])
        if self._m.context_frames:
            self._context = x[-self._m.context_frames :]
        lp, self._state = self._m.run(x, self._state)
        self._log_probs.append(lp)

    @property
    def log_probs(self) -> np.ndarray:
        if not self._log_probs:
            return np.zeros((0, len(self._m.vocab)), np.float32)
        return np.concatenate(self._log_probs)

    def segments(self) -> list[Segment]:
        """The current hypothesis (cheap: decoding only, no model run)."""
        return self._m.segments_of(self.log_probs)

    def finish(self) -> list[Segment]:
        """The final result of the utterance."""
        return self.segments()


@dataclass(frozen=True)
class CTCOptions:
    """Options of a :class:`CTCModel`.

    Attributes:
        bundle: Store name, folder, or a loaded :class:`~edge_sdk.bundle.Bundle` of family ``"ctc"``.
        variant: Variant name; None lets the device profile choose.
        device: Device profile name, ``"auto"`` or a ``ResolvedDevice``.
        beam_size: 1 for greedy decoding; more (up to 64) for prefix beam search.
        allow_refused: Load ``variant`` even when its own quality gate refused it (for inspection).

    Raises:
        InvalidInputError: No bundle, or ``beam_size`` outside 1..64.
    """

    bundle: str | os.PathLike | Bundle
    variant: str | None = None
    device: str | ResolvedDevice = "auto"
    beam_size: int = 1
    allow_refused: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.bundle, (str, os.PathLike, Bundle)) or not str(getattr(self.bundle, "name", self.bundle)):
            raise InvalidInputError(f"CTCOptions.bundle={self.bundle!r}: give a CTC bundle's name, folder or Bundle")
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, int) or not 1 <= self.beam_size <= 64:
            raise InvalidInputError(f"CTCOptions.beam_size={self.beam_size!r} must be from 1 (greedy) to 64")


class CTCModel(StreamingModel):
    """A CTC speech model from a bundle of family ``"ctc"``. Create with :meth:`create`; close with :meth:`close`
    or ``with``; live streams from :meth:`create_stream`.

    Stateless and shareable: offline :meth:`decode`, and :meth:`start_utterance` for native streaming
    (what :class:`~edge_sdk.speech.stream.SpeechStream` uses for this family). A
    :class:`~edge_sdk.speech.model.SpeechModel`.
    """

    incremental = True  # SpeechModel: streams decode through start_utterance()
    _reopen = "create a new one with CTCModel.create()"

    def __init__(self, bundle: Bundle, loaded, vocab: list[str], beam_size: int = 1) -> None:
        pre = bundle.preprocessing
        self.bundle, self.loaded, self.vocab, self.beam_size = bundle, loaded, vocab, beam_size
        # Provenance is read once: it stays readable after close() drops the session.
        self._provenance, self._device = Provenance.of(loaded), loaded.device
        self.features = FeatureConfig(int(pre.get("n_mels", 80)), int(pre.get("n_fft", 400)), int(pre.get("hop_length", 160)))
        self.context_frames = int(pre.get("context_frames", 0))
        self.rnn_type = str(pre.get("rnn_type", "gru"))
        self.rnn_shape = (int(pre.get("rnn_layers", 1)), 1, int(pre.get("rnn_hidden", 0)))
        self.blank = int(pre.get("blank", 0))
        self.frame_s = self.features.hop_length / SAMPLE_RATE
        self._session = loaded.sessions["model"]
        names = {i.name for i in self._session.get_inputs()}
        want = {"features", "h0"} | ({"c0"} if self.rnn_type == "lstm" else set())
        if names != want:
            raise BundleError(f"CTC model of bundle {bundle.name!r} has inputs {sorted(names)}; expected {sorted(want)}")

    @classmethod
    def create(cls, options: CTCOptions | str | os.PathLike | Bundle, **fields) -> CTCModel:
        """Load a CTC bundle (verifying every file) on the resolved device.

        Args:
            options: The model's :class:`CTCOptions`. Sugar: a bundle (name, folder or :class:`Bundle`) with
                the other fields as keywords, ``create("ctc-en", device="auto")``.
            **fields: With a bundle only: the other :class:`CTCOptions` fields.

        Raises:
            BundleError: Not a CTC speech bundle, a bad vocabulary, or a file failing verification.
            InvalidInputError: A bad option, or fields given beside a ``CTCOptions``.
        """
        from edge_sdk.runtime import load_model

        if isinstance(options, CTCOptions):
            if fields:
                raise InvalidInputError(f"CTCModel.create(options) takes no other fields ({sorted(fields)}); set them in the CTCOptions")
        else:
            options = CTCOptions(options, **fields)
        b = options.bundle if isinstance(options.bundle, Bundle) else load_bundle(options.bundle)
        if b.task != "speech" or b.family != "ctc":
            raise BundleError(f"bundle {b.name!r} is {b.task}/{b.family}; CTCModel needs a speech bundle of family 'ctc'")
        try:
            vocab = json.loads(b.read_asset("vocab"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"bundle {b.name!r}: vocab is not a JSON list of strings ({exc})") from exc
        if not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab) or len(vocab) < 2:
            raise BundleError(f"bundle {b.name!r}: vocab must be a JSON list of at least 2 strings (index 0: blank)")
        loaded = load_model(b, options.variant, options.device, task="speech", roles=("model",), allow_refused=options.allow_refused)
        return cls(b, loaded, vocab, options.beam_size)

    def close(self) -> None:
        """Drop the references to the onnxruntime session and the loaded model; later calls raise
        ``InvalidInputError``. Idempotent. Streams over this model fail at their next decode."""
        super().close()
        self._session = self.loaded = None

    def vad_model_bytes(self) -> bytes:
        """Verified bytes of the bundle's Silero VAD (asset ``vad``)."""
        self._require_open()
        return self.bundle.read_asset("vad")

    def initial_state(self) -> tuple[np.ndarray, ...]:
        h = np.zeros(self.rnn_shape, np.float32)
        return (h, h.copy()) if self.rnn_type == "lstm" else (h,)

    def run(self, features: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """One model call: features with their left context, state in; log-probs ``(T, V)`` and state out."""
        self._require_open()
        feeds = {"features": features[None].astype(np.float32), "h0": state[0]}
        if self.rnn_type == "lstm":
            feeds["c0"] = state[1]
        out = self._session.run(None, feeds)
        return out[0][0], tuple(out[1:])

    def log_probs(self, audio: np.ndarray) -> np.ndarray:
        """Log-probabilities ``(T, V)`` of a whole utterance in one pass."""
        utt = CTCUtterance(self)
        utt.accept(np.asarray(audio, np.float32))
        return utt.log_probs

    def text_of(self, ids: list[int]) -> str:
        return "".join(self.vocab[i] for i in ids).strip()

    def segments_of(self, log_probs: np.ndarray) -> list[Segment]:
        """Decode log-probs into one segment (times from the first and last non-blank frames)."""
        if log_probs.shape[0] == 0:
            return []
        ids = greedy_decode(log_probs, self.blank) if self.beam_size == 1 else prefix_beam_search(log_probs, self.beam_size, self.blank)
        best = np.argmax(log_probs, axis=-1)
        voiced = np.nonzero(best != self.blank)[0]
        if not ids or voiced.size == 0:
            return []
        # CTC has no no-speech head: the VAD decides what is speech, so no_speech_prob stays 0.
        return [
            Segment(
                self.text_of(ids), float(voiced[0] * self.frame_s), float((voiced[-1] + 1) * self.frame_s), tuple(ids),
                float(np.mean(np.max(log_probs, axis=-1))), 0.0,
            )
        ]

    def decode(self, audio: np.ndarray, prompt: Sequence[int] = ()) -> list[Segment]:
        """Transcribe 16 kHz mono float32 audio; times relative to its start.

        Args:
            audio: The samples.
            prompt: Ignored: a CTC model has no text context (accepted as the ``SpeechModel`` protocol has it).

        Raises:
            InvalidInputError: Not a 1-D float array, non-finite samples, or a closed model.
        """
        self._require_open()
        audio = np.asarray(audio)
        if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
            raise InvalidInputError(f"decode() takes 1-D float32 16 kHz audio, got {audio.dtype} of shape {audio.shape}; see edge_sdk.audio.convert")
        if audio.size and not np.isfinite(audio).all():
            raise InvalidInputError("audio holds NaN or infinite samples; clean the input before transcribing")
        return self.segments_of(self.log_probs(audio))

    def start_utterance(self) -> CTCUtterance:
        """A native streaming decoder for one utterance (feed it chunks with ``accept``).

        Raises:
            InvalidInputError: The model is closed.
        """
        self._require_open()
        return CTCUtterance(self)
