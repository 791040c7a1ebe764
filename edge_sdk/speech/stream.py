"""Live transcription of one audio source: VAD endpointing, partial and final results, lag.

A :class:`SpeechStream` holds the live state of one source; the model (a Whisper ``Transcriber`` or a
``CTCModel``) is shared and stateless. Audio goes in with :meth:`SpeechStream.accept_waveform` (any rate,
channel count, int16 or float; converted by :func:`edge_sdk.audio.convert`) and events come out:

- ``partial``: the current hypothesis of the open utterance, at least every ``partial_interval_s`` of speech;
- ``final``: an utterance closed by silence (``sentence_end_silence_ms`` when the speculative hypothesis already
  ends a sentence, else ``min_silence_ms``), cut at ``max_utterance_s``, or flushed by
  :meth:`SpeechStream.input_finished`;
- ``lag``: processing fell behind the source by more than ``lag_report_s`` (or caught up again);
- ``error``: the source failed (:meth:`SpeechStream.input_failed`); the transcript so far is kept;
- ``switch``: decoding moved to the stream's ``light_model`` because the lag lasted, or back to the main
  model once it recovered (the text says which and why);
- ``outage``: the source lost its device and reconnected (:meth:`SpeechStream.report_outage`); the
  stream goes on, and the open utterance is finalised first, since the audio of the outage is missing.

Processing is synchronous: ``accept_waveform`` runs the VAD on every sample and decodes when a partial or
final is due. Capture must therefore run elsewhere (the sources in :mod:`edge_sdk.speech.sources` capture
on their own thread into a bounded buffer). When the stream falls behind, it keeps every sample, skips
partial updates first (counted in ``partials_skipped``) and never skips a final.

Overload policy, in order: (1) partials are skipped while the lag exceeds ``max_partial_lag_s``;
(2) the speculative final decode at silence onset is skipped too; (3) finals are always decoded, so they
are delayed only by the lag itself; (4) audio beyond the capture buffer is the source's policy
(``MicrophoneSource(max_buffer_s=..., overflow=...)``) and is reported there.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.audio import TARGET_RATE, convert
from edge_sdk.errors import InvalidInputError
from edge_sdk.speech.model import DecodeOptions, SpeechModel, require_speech_model
from edge_sdk.speech.vad import WINDOW, Endpointer, SileroVAD, VadOptions
from edge_sdk.task import CarriesProvenance, Closeable, Task

if TYPE_CHECKING:
    from edge_sdk.devices.resolve import ResolvedDevice

log = logging.getLogger(__name__)

_NO_TEXT = re.compile(r"^[\s\W_]*$")
_SENTENCE_END = re.compile(r"[.?!\u2026][\"'\u201d\u2019)\]]*$")


def _samples(ms: int) -> int:
    return int(ms * TARGET_RATE / 1000)


@dataclass(frozen=True)
class StreamOptions(DecodeOptions):
    """Endpointing, result cadence, overload behaviour and decoding of a :class:`SpeechStream`.

    The decode options (``condition_on_previous_text``, ``no_speech_threshold``, ``logprob_threshold``) are
    those of :class:`~edge_sdk.speech.model.DecodeOptions`, keyword-only; a stream does not condition on its
    previous text by default.

    Attributes:
        partial_interval_s: Seconds of speech between partial results; the clock stops during pauses
            (a partial made in a pause would repeat the last one).
        min_silence_ms: Silence that closes an utterance (the endpoint delay).
        sentence_end_silence_ms: Shorter silence that closes an utterance when the speculative decode already
            ends with sentence punctuation (``. ? !``): a finished sentence is final sooner, while a pause
            inside a sentence still waits ``min_silence_ms``. 0 turns it off. Silences are counted in whole
            32 ms VAD windows, rounded up: 280 ms closes after 9 windows (288 ms).
        min_speech_ms: Speech shorter than this never opens an utterance.
        speech_pad_ms: Audio kept before speech start when decoding.
        trailing_pad_ms: Audio kept after speech end when decoding; the speculative decode waits for it.
        vad_threshold: Silero speech probability that starts speech (ends below ``vad_threshold - 0.15``).
        max_utterance_s: An utterance longer than this is cut (at its quietest recent window) and finalised.
        max_partial_lag_s: While processing lags the source by more than this, partial updates are skipped.
        lag_report_s: A ``lag`` event is emitted when the lag crosses this, and when it drops back under half of it.
        speculative_final: Decode the utterance once silence has lasted ``speculate_after_ms``, so the final
            is ready when the endpoint confirms it (the decode is discarded if speech resumes).
        speculate_after_ms: Silence before the speculative decode; shorter pauses inside a sentence are
            common, and each speculative decode they trigger is wasted CPU. With the defaults the decode
            starts after 160 ms and is done (about 110 ms for a 3 s utterance, int8, 2 cores) before the
            288 ms sentence endpoint, so that endpoint costs no decode time.
        degrade_lag_s: With a ``light_model`` given to the stream, a lag above this for ``degrade_after_s``
            switches decoding to the light model (a ``switch`` event says why) ...
        degrade_after_s: ... and a lag under ``degrade_lag_s / 4`` for ``recover_after_s`` switches back.
        recover_after_s: See ``degrade_after_s``.
    """

    partial_interval_s: float = 1.0
    min_silence_ms: int = 500
    sentence_end_silence_ms: int = 280
    min_speech_ms: int = 250
    speech_pad_ms: int = 300
    trailing_pad_ms: int = 160
    vad_threshold: float = 0.5
    max_utterance_s: float = 20.0
    max_partial_lag_s: float = 0.5
    lag_report_s: float = 2.0
    speculative_final: bool = True
    speculate_after_ms: int = 160
    degrade_lag_s: float = 3.0
    degrade_after_s: float = 5.0
    recover_after_s: float = 20.0
    # The one decode option whose live default differs from the offline one (see DecodeOptions).
    condition_on_previous_text: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        def positive(name: str, hint: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"StreamOptions.{name}={value!r} must be a positive number; {hint}")

        positive("partial_interval_s", "1.0 gives a partial every second of speech")
        positive("max_utterance_s", "Whisper takes at most 30 s; 20 is a good cut")
        positive("max_partial_lag_s", "0.5 skips partials when half a second behind")
        positive("lag_report_s", "2.0 reports a lag of two seconds")
        positive("degrade_lag_s", "3.0 switches to the light model after a lasting 3 s lag")
        positive("degrade_after_s", "5.0 waits five seconds of lag before switching")
        positive("recover_after_s", "20.0 switches back after twenty calm seconds")
        if self.max_utterance_s > 30:
            raise InvalidInputError(f"StreamOptions.max_utterance_s={self.max_utterance_s} exceeds Whisper's 30 s window; use 30 or less")
        for name in ("min_silence_ms", "sentence_end_silence_ms", "min_speech_ms", "speech_pad_ms", "trailing_pad_ms", "speculate_after_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"StreamOptions.{name}={value!r} must be a non-negative whole number of milliseconds")
        if self.min_silence_ms < 64:
            raise InvalidInputError(f"StreamOptions.min_silence_ms={self.min_silence_ms} is shorter than two VAD windows (64 ms); use 300-800")
        if self.sentence_end_silence_ms and not (self.speculative_final and self.speculate_after_ms <= self.sentence_end_silence_ms <= self.min_silence_ms):
            raise InvalidInputError(
                f"StreamOptions.sentence_end_silence_ms={self.sentence_end_silence_ms} needs speculative_final and must lie between "
                f"speculate_after_ms={self.speculate_after_ms} and min_silence_ms={self.min_silence_ms} (or set it to 0)"
            )
        if self.speculative_final and self.speculate_after_ms >= self.min_silence_ms:
            raise InvalidInputError(
                f"StreamOptions.speculate_after_ms={self.speculate_after_ms} must be below min_silence_ms={self.min_silence_ms} "
                "(or set speculative_final=False)"
            )
        if not 0 < self.vad_threshold < 1:
            raise InvalidInputError(f"StreamOptions.vad_threshold={self.vad_threshold!r} must be between 0 and 1; 0.5 is typical")
        if self.max_utterance_s <= (self.speech_pad_ms + self.trailing_pad_ms) / 1000 + 0.5:
            raise InvalidInputError(f"StreamOptions.max_utterance_s={self.max_utterance_s} leaves no room for speech after padding")

    def vad_options(self) -> VadOptions:
        return VadOptions(threshold=self.vad_threshold, min_speech_ms=self.min_speech_ms, min_silence_ms=self.min_silence_ms)


@dataclass(frozen=True)
class StreamEvent(CarriesProvenance):
    """One result of a :class:`SpeechStream`. Times ``start_s``/``end_s`` are stream time (seconds of audio).

    Attributes:
        kind: ``"partial"``, ``"final"``, ``"lag"``, ``"switch"``, ``"outage"`` or ``"error"``.
        text: Hypothesis (partial), result (final), or the message (lag, error).
        utterance: Index of the utterance (0, 1, ...), -1 for lag and error events.
        latency_ms: Wall time from the capture of the last speech sample (final: the end of speech;
            partial: the newest sample decoded) to this event.
        endpoint_latency_ms: Final only: wall time from the capture of the sample that confirmed the endpoint.
        decode_ms: Model time spent producing this event (0 when a speculative decode was reused).
        lag_s: How far processing was behind the source when this event was made.
        partials_skipped: Partial updates skipped so far because of lag (cumulative).
        reason: Why a final was made (``"endpoint"``, ``"max_utterance"``, ``"flush"``, ``"outage"``), or a
            switch (``"degrade"``, ``"recover"``).
        bundle, variant, providers, fallback: The provenance of the model the stream decodes with when the
            event is made (the light model while degraded; after a ``switch``, the model switched to), as offline
            results carry it; empty for a model without a ``provenance`` (a test double).
    """

    kind: str
    text: str
    start_s: float
    end_s: float
    utterance: int = -1
    latency_ms: float = 0.0
    endpoint_latency_ms: float = 0.0
    decode_ms: float = 0.0
    lag_s: float = 0.0
    partials_skipped: int = 0
    reason: str = ""
    bundle: str = ""
    variant: str = ""
    providers: tuple[str, ...] = ()
    fallback: str | None = None


@dataclass
class StreamStats:
    """Counters of a stream; read them from :attr:`SpeechStream.stats` at any time.

    ``final_latencies_ms`` and ``partial_gaps_s`` (seconds of speech, pauses excluded) keep the most recent
    10,000 values (bounded for long runs).
    """

    samples_received: int = 0
    samples_processed: int = 0
    utterances: int = 0
    partials: int = 0
    partials_skipped: int = 0
    finals: int = 0
    finals_dropped_as_noise: int = 0
    speculative_reused: int = 0
    switches: int = 0
    decode_s: float = 0.0
    lag_s: float = 0.0
    max_lag_s: float = 0.0
    final_latencies_ms: deque = field(default_factory=lambda: deque(maxlen=10_000))
    partial_gaps_s: deque = field(default_factory=lambda: deque(maxlen=10_000))

    @property
    def samples_lost(self) -> int:
        """Samples received but never processed (0 after ``input_finished``)."""
        return self.samples_received - self.samples_processed


PROMPT_TOKENS = 223  # Whisper's limit on previous-text tokens (half its 448-token context, minus one)


class _UtteranceDecoder:
    """Decodes the open utterance: by re-decoding its audio (Whisper) or incrementally (an ``incremental``
    model, e.g. CTC, whose :meth:`~SpeechModel.start_utterance` advances its own state chunk by chunk)."""

    def __init__(self, model: SpeechModel) -> None:
        self.model = model
        self.incremental = bool(model.incremental)
        # StreamEvent's provenance fields (bundle, variant, providers, fallback) for the events made while this
        # decoder runs; a SpeechModel need not have a provenance (a test double).
        provenance = getattr(model, "provenance", None)
        self.made_by = dataclasses.asdict(provenance) if provenance is not None else {}
        self._state = None
        self._fed = 0

    def reset(self) -> None:
        self._state, self._fed = None, 0

    def decode(self, audio: np.ndarray, final: bool, prompt: tuple[int, ...] = ()) -> list:
        if not self.incremental:
            return list(self.model.decode(audio, prompt=prompt))
        if self._state is None:
            self._state = self.model.start_utterance()
        if audio.shape[0] > self._fed:
            self._state.accept(audio[self._fed :])
            self._fed = audio.shape[0]
        return list(self._state.finish() if final else self._state.segments())


class SpeechStream(Closeable):
    """Live state of one audio source. Create with ``model.create_stream(options, **fields)``; close with
    :meth:`close` or ``with``.

    Args:
        model: The shared :class:`~edge_sdk.speech.model.SpeechModel` (a ``Transcriber`` or ``CTCModel``).
        options: Endpointing, overload and decode settings.
        vad: A :class:`SileroVAD` to use instead of the one from the model's bundle.
        light_model: Optional lighter :class:`~edge_sdk.speech.model.SpeechModel` (e.g. an int8 or distilled
            variant) to decode with while the stream lags (see ``StreamOptions.degrade_lag_s``).
        clock: Seconds on the clock that ``captured_at`` uses (default ``time.monotonic``); a replay
            harness passes its own to run real-time timing faster than real time.

    Raises:
        InvalidInputError: ``model`` or ``light_model`` does not implement ``SpeechModel``.
    """

    _reopen = "create a new one with create_stream()"

    def __init__(
        self,
        model: SpeechModel,
        options: StreamOptions | None = None,
        vad: SileroVAD | None = None,
        light_model: SpeechModel | None = None,
        clock=time.monotonic,
    ) -> None:
        self.options = options or StreamOptions()
        self._now = clock
        self._model = require_speech_model(model)
        if light_model is not None:
            require_speech_model(light_model, "light_model")
        self._vad = vad or SileroVAD.from_bytes(model.vad_model_bytes(), model.device)
        self._vad.reset()
        self._ep = Endpointer(self.options.vad_options())
        self._decoder = _UtteranceDecoder(model)
        self._pad = _samples(self.options.speech_pad_ms)
        self._tail = _samples(self.options.trailing_pad_ms)
        # Outside speech, keep enough audio for a start found min_speech_ms late, plus padding.
        self._keep = self._pad + _samples(self.options.min_speech_ms) + 2 * WINDOW
        self.stats = StreamStats()
        self._audio = np.zeros(0, np.float32)  # samples [self._audio_start, received)
        self._audio_start = 0
        self._clock: tuple[int, float] = (0, clock())  # (sample index, wall time it was captured)
        self._finished = False
        self._utt_index = 0
        self._lagging = False
        self._models = (model, light_model)
        self._prompt: tuple[int, ...] = ()  # tokens of the previous finals
        self._last_end = 0  # end sample of the last final
        self._degraded = False
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._reset_utterance()

    # -- public API -------------------------------------------------------------------------------

    def accept_waveform(self, samples, sample_rate: int, captured_at: float | None = None) -> list[StreamEvent]:
        """Feed audio; return the events it produced (possibly none).

        Args:
            samples: 1-D mono or ``(frames, channels)`` audio, int16/int32/uint8 or float.
            sample_rate: Rate of ``samples`` in Hz (resampled to 16 kHz).
            captured_at: Time on the stream's clock (``time.monotonic()`` by default) when the last sample
                was captured; defaults to now.
                Sources pass it so latency and lag are measured from capture, not from this call.

        Raises:
            InvalidInputError: NaN/inf samples, a bad rate or shape, audio after ``input_finished``, or a closed stream.
        """
        self._require_open()
        if self._finished:
            raise InvalidInputError("accept_waveform() after input_finished(); create a new stream for new audio")
        audio, _ = convert(samples, sample_rate)
        if audio.shape[0] == 0:
            return []
        received = self.stats.samples_received + audio.shape[0]
        self._clock = (received, self._now() if captured_at is None else float(captured_at))
        self.stats.samples_received = received
        self._audio = np.concatenate([self._audio, audio])
        return self._process(self._vad.accept(audio))

    def input_finished(self) -> list[StreamEvent]:
        """No more audio: process what is left and finalise the open utterance.

        Raises:
            InvalidInputError: The stream is closed.
        """
        self._require_open()
        if self._finished:
            return []
        self._finished = True
        pending = self._vad.pending_samples
        events = self._process(self._vad.accept(np.zeros(WINDOW - pending, np.float32))) if pending else []
        self.stats.samples_processed = self.stats.samples_received
        if self._utt_start is not None:
            events += self._final(self.stats.samples_received, self.stats.samples_received, "flush")
        return events

    def input_failed(self, message: str) -> list[StreamEvent]:
        """The source failed: finalise what was captured, then report the error as an event."""
        events = self.input_finished()
        now_s = self.stats.samples_received / TARGET_RATE
        log.warning("speech stream input failed at %.2f s: %s", now_s, message)
        return events + [StreamEvent("error", message, now_s, now_s, lag_s=self.stats.lag_s, partials_skipped=self.stats.partials_skipped,
                            **self._decoder.made_by)]

    def report_outage(self, gap_s: float) -> list[StreamEvent]:
        """The source reconnected after ``gap_s`` seconds without audio: close the open utterance, report it.

        Raises:
            InvalidInputError: The stream is closed.
        """
        self._require_open()
        events = []
        if self._utt_start is not None:
            received = self.stats.samples_received
            events = self._final(received, received, "outage")
            self._ep.reset_speech()
        t = self.stats.samples_received / TARGET_RATE
        msg = f"audio input was lost for {gap_s:.2f} s and reconnected; that audio was not captured"
        log.warning(msg)
        return events + [StreamEvent("outage", msg, t, t, lag_s=self.stats.lag_s, partials_skipped=self.stats.partials_skipped,
                            **self._decoder.made_by)]

    @property
    def lag_s(self) -> float:
        """Current lag of processing behind the source, in seconds."""
        return self.stats.lag_s

    def close(self) -> None:
        """Release the stream's VAD session and its references to the models. Idempotent.

        It does not finalise an open utterance: call :meth:`input_finished` first for its final
        (:func:`transcribe_live` does). The shared model stays open for other streams; :attr:`stats` stay
        readable; any other call raises ``InvalidInputError``.
        """
        super().close()
        self._vad = self._decoder = self._model = None
        self._models = (None, None)

    # -- internals ---------------------------------------------------------------------------------

    def _reset_utterance(self) -> None:
        self._utt_start: int | None = None
        self._next_partial = 0
        self._last_partial_at: int | None = None
        self._paused = 0  # samples of pause since the last partial
        self._spec: tuple[int, list, bool] | None = None  # (end sample, segments, whether they end a sentence)
        self._probs: list[float] = []
        self._decoder.reset()

    def _capture_time(self, sample: int) -> float:
        end, at = self._clock
        return at - (end - sample) / TARGET_RATE

    def _lag(self, sample: int) -> float:
        lag = max(0.0, self._now() - self._capture_time(sample))
        self.stats.lag_s = lag
        self.stats.max_lag_s = max(self.stats.max_lag_s, lag)
        return lag

    def _slice(self, start: int, end: int) -> np.ndarray:
        return self._audio[max(0, start - self._audio_start) : max(0, end - self._audio_start)]

    def _trim(self, keep_from: int) -> None:
        if keep_from > self._audio_start:
            self._audio = self._audio[keep_from - self._audio_start :]
            self._audio_start = keep_from

    def _process(self, probs: np.ndarray) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for p in probs:
            window_end = (self._ep.window + 1) * WINDOW
            ev = self._ep.update(float(p))
            self.stats.samples_processed = min(window_end, self.stats.samples_received)
            events += self._lag_event(window_end)
            events += self._degrade_event(window_end)
            if ev is not None and ev.kind == "start":
                self._reset_utterance()
                # Padding never reaches back into the previous final: stream times stay in order.
                self._utt_start = max(self._audio_start, ev.sample - self._pad, self._last_end)
                self._next_partial = self._utt_start + int(self.options.partial_interval_s * TARGET_RATE)
                self.stats.utterances += 1
            if self._utt_start is None:
                self._trim(window_end - self._keep)
                continue
            self._probs.append(float(p))
            if ev is not None and ev.kind == "end":
                events += self._final(min(ev.sample + self._tail, window_end), window_end, "endpoint", speech_end=ev.sample)
                continue
            if window_end + WINDOW - self._utt_start > int(self.options.max_utterance_s * TARGET_RATE):  # next window would pass it
                events += self._cut(window_end)
                continue
            self._maybe_speculate(window_end)
            if self._sentence_ended(window_end):
                silence = self._ep.silence_run_start
                events += self._final(self._spec[0], window_end, "endpoint", speech_end=silence)
                self._ep.reset_speech()
                continue
            if self._ep.silence_run_start is not None:  # a pause: the partial clock stops
                self._next_partial += WINDOW
                self._paused += WINDOW
            elif window_end + WINDOW > self._next_partial:  # the last window before the interval runs out
                events += self._partial(window_end)
        return events

    def _lag_event(self, sample: int) -> list[StreamEvent]:
        lag = self._lag(sample)
        limit = self.options.lag_report_s
        if not self._lagging and lag > limit:
            self._lagging = True
            msg = f"processing is {lag:.1f} s behind the source; skipping partial updates"
        elif self._lagging and lag < limit / 2:
            self._lagging = False
            msg = f"caught up ({lag:.2f} s behind)"
        else:
            return []
        t = sample / TARGET_RATE
        log.info(msg)
        return [StreamEvent("lag", msg, t, t, lag_s=lag, partials_skipped=self.stats.partials_skipped,
                            **self._decoder.made_by)]

    def _degrade_event(self, sample: int) -> list[StreamEvent]:
        """Switch to the light model when the lag lasts, and back when it has been low for a while."""
        if self._models[1] is None:
            return []
        opts, lag, now = self.options, self.stats.lag_s, self._now()
        self._over_since = (self._over_since or now) if lag > opts.degrade_lag_s else None
        self._under_since = (self._under_since or now) if lag < opts.degrade_lag_s / 4 else None
        if not self._degraded and self._over_since is not None and now - self._over_since >= opts.degrade_after_s:
            msg = f"lag above {opts.degrade_lag_s:.1f} s for {now - self._over_since:.1f} s: decoding with the light model"
        elif self._degraded and self._under_since is not None and now - self._under_since >= opts.recover_after_s:
            msg = f"lag under {opts.degrade_lag_s / 4:.2f} s for {now - self._under_since:.1f} s: back to the main model"
        else:
            return []
        if self._decoder.incremental and self._utt_start is not None:
            return []  # an incremental decoder holds utterance state: switch between utterances
        self._degraded = not self._degraded
        self._decoder = _UtteranceDecoder(self._models[int(self._degraded)])
        self._over_since = self._under_since = None
        self.stats.switches += 1
        log.warning(msg)
        t = sample / TARGET_RATE
        return [StreamEvent("switch", msg, t, t, lag_s=lag, partials_skipped=self.stats.partials_skipped,
                            reason="degrade" if self._degraded else "recover", **self._decoder.made_by)]

    def _decode(self, start: int, end: int, final: bool) -> tuple[list, float]:
        t0 = time.perf_counter()
        prompt = self._prompt if self.options.condition_on_previous_text else ()
        segments = self._decoder.decode(self._slice(start, end), final, prompt)
        dt = time.perf_counter() - t0
        self.stats.decode_s += dt
        return segments, dt

    def _text(self, segments: list) -> tuple[str, bool]:
        """Joined text of the segments that pass the no-speech rule; and whether any was dropped."""
        opts, kept, dropped = self.options, [], False
        for s in segments:
            no_speech = getattr(s, "no_speech_prob", 0.0) > opts.no_speech_threshold
            if no_speech and getattr(s, "avg_logprob", 0.0) < opts.logprob_threshold:
                dropped = True
                continue
            kept.append(s.text.strip())
        text = " ".join(t for t in kept if t)
        return ("" if _NO_TEXT.match(text) else text), dropped

    def _maybe_speculate(self, window_end: int) -> None:
        """At silence onset (plus padding), decode the utterance once so an endpoint can reuse it."""
        silence = self._ep.silence_run_start
        if silence is None:
            self._spec = None  # speech resumed: any speculative decode is stale
            return
        end = silence + self._tail
        wait = silence + max(self._tail, _samples(self.options.speculate_after_ms))
        if not self.options.speculative_final or self._decoder.incremental or window_end < wait:
            return
        if (self._spec is None or self._spec[0] != end) and self.stats.lag_s <= self.options.max_partial_lag_s:
            segments, _ = self._decode(self._utt_start, end, final=False)
            self._spec = (end, segments, bool(_SENTENCE_END.search(self._text(segments)[0])))

    def _sentence_ended(self, window_end: int) -> bool:
        """Silence has lasted ``sentence_end_silence_ms`` and the speculative decode ends a sentence."""
        silence, wait = self._ep.silence_run_start, self.options.sentence_end_silence_ms
        if not wait or self._spec is None or silence is None:
            return False
        return self._spec[2] and window_end - silence >= _samples(wait)

    def _partial(self, window_end: int) -> list[StreamEvent]:
        self._next_partial = window_end + int(self.options.partial_interval_s * TARGET_RATE)
        if self.stats.lag_s > self.options.max_partial_lag_s:
            self.stats.partials_skipped += 1
            return []
        segments, dt = self._decode(self._utt_start, window_end, final=False)
        text, _ = self._text(segments)
        if self._last_partial_at is not None:
            self.stats.partial_gaps_s.append((window_end - self._last_partial_at - self._paused) / TARGET_RATE)
        self._last_partial_at, self._paused = window_end, 0
        if not text:
            return []
        self.stats.partials += 1
        now = self._now()
        return [
            StreamEvent(
                "partial", text, self._utt_start / TARGET_RATE, window_end / TARGET_RATE, self._utt_index,
                latency_ms=(now - self._capture_time(window_end)) * 1000, decode_ms=dt * 1000,
                lag_s=self.stats.lag_s, partials_skipped=self.stats.partials_skipped, **self._decoder.made_by,
            )
        ]

    def _final(self, end: int, decided_at: int, reason: str, speech_end: int | None = None) -> list[StreamEvent]:
        start = self._utt_start
        spec = self._spec
        if spec is not None and spec[0] == end and reason == "endpoint":
            segments, dt = spec[1], 0.0
            self.stats.speculative_reused += 1
        else:
            segments, dt = self._decode(start, end, final=True)
        text, dropped = self._text(segments)
        self._reset_utterance()
        self._last_end = end
        self._trim(end - self._pad)
        if text:
            tokens = tuple(t for seg in segments for t in getattr(seg, "tokens", ()))
            self._prompt = (self._prompt + tokens)[-PROMPT_TOKENS:]
        if not text:
            self.stats.finals_dropped_as_noise += int(dropped)
            return []
        now = self._now()
        last_speech = speech_end if speech_end is not None else end
        latency = (now - self._capture_time(last_speech)) * 1000
        self.stats.finals += 1
        self.stats.final_latencies_ms.append(latency)
        event = StreamEvent(
            "final", text, start / TARGET_RATE, end / TARGET_RATE, self._utt_index,
            latency_ms=latency, endpoint_latency_ms=(now - self._capture_time(decided_at)) * 1000,
            decode_ms=dt * 1000, lag_s=self.stats.lag_s, partials_skipped=self.stats.partials_skipped, reason=reason,
            **self._decoder.made_by,
        )
        self._utt_index += 1
        return [event]

    def _cut(self, window_end: int) -> list[StreamEvent]:
        """Cut an over-long utterance at its quietest window in the last quarter, then keep going."""
        tail = max(1, len(self._probs) // 4)
        quiet = int(np.argmin(self._probs[-tail:]))
        cut = window_end - (tail - quiet - 1) * WINDOW - WINDOW // 2
        events = self._final(cut, window_end, "max_utterance")
        self._utt_start = cut
        self._next_partial = cut + int(self.options.partial_interval_s * TARGET_RATE)
        self.stats.utterances += 1
        return events


def transcribe_live(stream: SpeechStream, source):
    """Run a live loop: yield the stream's events for every chunk of ``source``, then flush.

    The model side comes first, as in :func:`~edge_sdk.vision.loop.run_camera` (``classifier, camera``).
    A source that fails (e.g. :class:`~edge_sdk.errors.DeviceError` from a microphone that disappears)
    ends the loop cleanly: the open utterance is finalised and an ``error`` event is yielded last.

    Args:
        stream: The stream to feed.
        source: An iterator of chunks with ``samples``, ``sample_rate`` and ``timestamp_s``.

    Yields:
        :class:`StreamEvent` in order.

    Raises:
        InvalidInputError: The arguments are in the order of edge-sdk 0.1, ``(source, stream)``.
    """
    from edge_sdk.errors import DeviceError

    if isinstance(source, SpeechStream) and not isinstance(stream, SpeechStream):
        raise InvalidInputError("transcribe_live takes the stream first, then the source: transcribe_live(stream, source)")

    try:
        for chunk in source:
            if getattr(chunk, "gap_s", 0.0):
                yield from stream.report_outage(chunk.gap_s)
            yield from stream.accept_waveform(chunk.samples, chunk.sample_rate, captured_at=chunk.timestamp_s)
    except DeviceError as exc:
        yield from stream.input_failed(str(exc))
        return
    yield from stream.input_finished()


class StreamingModel(Task):
    """What the SDK's speech models (``Transcriber``, ``CTCModel``) share besides the protocol: their lifecycle
    and provenance (:class:`~edge_sdk.task.Task`), and :meth:`create_stream`.

    A subclass sets ``_provenance`` and ``_device`` when it loads its model; both stay readable after ``close()``.
    """

    _device: ResolvedDevice

    @property
    def device(self) -> ResolvedDevice:
        """The resolved device the model runs on."""
        return self._device

    def create_stream(
        self,
        options: StreamOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        light_model: SpeechModel | None = None,
        vad: SileroVAD | None = None,
        **fields,
    ) -> SpeechStream:
        """A live :class:`~edge_sdk.speech.stream.SpeechStream` over this model: one per audio source.

        Args:
            options: The stream's options; None: the defaults.
            clock: The stream's clock (see :class:`~edge_sdk.speech.stream.SpeechStream`).
            light_model: A lighter model to decode with while the stream lags (see ``StreamOptions.degrade_lag_s``).
            vad: A :class:`~edge_sdk.speech.vad.SileroVAD` to use instead of the one from the model's bundle.
            **fields: Fields of :class:`~edge_sdk.speech.stream.StreamOptions`, set over ``options``
                (``create_stream(min_silence_ms=300)``).

        Raises:
            InvalidInputError: A bad option, or a closed model.
        """
        self._require_open()
        if options is not None and not isinstance(options, StreamOptions):
            raise InvalidInputError(f"options must be a StreamOptions, not {type(options).__name__}; pass fields as keywords")
        options = dataclasses.replace(options, **fields) if options is not None else StreamOptions(**fields)
        return SpeechStream(self, options, vad=vad, light_model=light_model, clock=clock)
