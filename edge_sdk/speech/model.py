"""What the speech tasks share: the decode options both paths read, and the :class:`SpeechModel` protocol.

:class:`DecodeOptions` declares the options that offline transcription (:class:`~edge_sdk.speech.transcriber.
TranscriberOptions`) and live streams (:class:`~edge_sdk.speech.stream.StreamOptions`) both have; each of those
option classes extends it, so a field is declared, documented and validated once.

:class:`SpeechModel` is what a :class:`~edge_sdk.speech.stream.SpeechStream` needs of the shared model it
decodes with. Whisper (:class:`~edge_sdk.speech.transcriber.Transcriber`) and CTC
(:class:`~edge_sdk.speech.ctc.CTCModel`) implement it; so can a model of your own, or a test double.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from edge_sdk.errors import InvalidInputError
from edge_sdk.speech.results import Segment

if TYPE_CHECKING:
    from edge_sdk.devices.resolve import ResolvedDevice


@dataclass(frozen=True, kw_only=True)
class DecodeOptions:
    """Decoding options of both speech paths (keyword-only in the option classes that extend this one).

    Attributes:
        condition_on_previous_text: Give the model the tokens of the text before as a prompt. Offline
            (``TranscriberOptions``, default True): each 30 s window is prompted with the previous windows' text,
            as Whisper does. Live (``StreamOptions``, default False): each utterance is prompted with the
            tokens of the stream's previous finals; off because on speech/long it made whisper-tiny.en worse
            (WER 4.8% -> 6.9% on the first minute, and one run fell into a repetition loop). CTC models have
            no text context and ignore it.
        no_speech_threshold: Decoded text whose no-speech probability is above this and whose average
            log-probability is below ``logprob_threshold`` is dropped (Whisper's hallucination rule): a whole
            window offline, a segment of an utterance live.
        logprob_threshold: Average token log-probability under which decoded text is unreliable. Besides the
            rule above, offline decoding retries such a window with beam search (and drops it when
            ``TranscriberOptions.drop_unreliable`` is set and the retry does not help).

    Raises:
        InvalidInputError: ``no_speech_threshold`` outside [0, 1], or ``logprob_threshold`` above 0.
    """

    condition_on_previous_text: bool = True
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0

    def __post_init__(self) -> None:
        where = type(self).__name__
        if (
            isinstance(self.no_speech_threshold, bool)
            or not isinstance(self.no_speech_threshold, (int, float))
            or not 0.0 <= self.no_speech_threshold <= 1.0
        ):
            raise InvalidInputError(
                f"{where}.no_speech_threshold={self.no_speech_threshold!r} must be a probability from 0 to 1; 0.6 is Whisper's"
            )
        if (
            isinstance(self.logprob_threshold, bool)
            or not isinstance(self.logprob_threshold, (int, float))
            or self.logprob_threshold > 0
        ):
            raise InvalidInputError(
                f"{where}.logprob_threshold={self.logprob_threshold!r} must be <= 0 (a log-probability); -1.0 is Whisper's"
            )


class Utterance(Protocol):
    """Native streaming decode of one utterance (:meth:`SpeechModel.start_utterance`)."""

    def accept(self, samples: np.ndarray) -> None:
        """Advance the model over the next 16 kHz mono float32 samples of the utterance."""

    def segments(self) -> list[Segment]:
        """The current hypothesis."""

    def finish(self) -> list[Segment]:
        """The final result of the utterance."""


@runtime_checkable
class SpeechModel(Protocol):
    """The shared, stateless model a :class:`~edge_sdk.speech.stream.SpeechStream` decodes with.

    A stream decodes an open utterance one of two ways, chosen by :attr:`incremental`: it calls
    :meth:`decode` on the utterance's audio so far each time it needs a result (Whisper), or it feeds the
    audio chunk by chunk into one :meth:`start_utterance` object per utterance (CTC, whose state carries
    over).

    Attributes:
        device: The resolved device the model runs on (the stream's VAD runs on its CPU side), or a profile
            name such as ``"auto"``.
        incremental: True when :meth:`start_utterance` streams natively; False when it is not supported and
            streams call :meth:`decode` instead.
    """

    @property
    def device(self) -> ResolvedDevice | str: ...

    @property
    def incremental(self) -> bool: ...

    def vad_model_bytes(self) -> bytes:
        """Bytes of the Silero VAD ONNX model the stream's endpointing runs."""

    def decode(self, audio: np.ndarray, prompt: Sequence[int] = ()) -> list[Segment]:
        """Transcribe at most 30 s of 16 kHz mono float32 audio; times relative to its start.

        ``prompt``: tokens of the text before it (the stream's previous finals), for models that condition on
        previous text; others ignore it.
        """

    def start_utterance(self) -> Utterance:
        """A native streaming decoder for one utterance (only when :attr:`incremental` is True)."""


def require_speech_model(model: object, role: str = "model") -> SpeechModel:
    """``model``, checked to implement :class:`SpeechModel` (members present; their types are not checked).

    Raises:
        InvalidInputError: A member is missing.
    """
    if not isinstance(model, SpeechModel):
        raise InvalidInputError(
            f"{role} {type(model).__name__} is not a SpeechModel: a stream needs device, incremental, vad_model_bytes(), "
            "decode(audio, prompt=()) and start_utterance(); see edge_sdk.speech.model"
        )
    return model
