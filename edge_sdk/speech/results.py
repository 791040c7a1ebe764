"""Result types of speech transcription."""

from __future__ import annotations

from dataclasses import dataclass

from edge_sdk.speech.alignment import Word
from edge_sdk.task import CarriesProvenance


@dataclass(frozen=True)
class Segment:
    """A stretch of transcribed speech.

    Attributes:
        text: The words, with Whisper's leading space removed.
        start_s: Start in seconds from the start of the input audio.
        end_s: End in seconds from the start of the input audio.
        tokens: Token ids (text and timestamp tokens) the model produced for it.
        avg_logprob: Mean log-probability of the window's tokens.
        no_speech_prob: The model's probability that the window holds no speech.
        words: Its words with their times, when word timestamps were asked for (the segment then starts
            with its first word and ends with its last, as in Whisper).
    """

    text: str
    start_s: float
    end_s: float
    tokens: tuple[int, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class TranscriptionInfo(CarriesProvenance):
    """What was transcribed and by what.

    Attributes:
        duration_s: Length of the input audio after conversion.
        conversion: What was done to the input to make it 16 kHz mono float32.
        bundle: Bundle name.
        variant: Variant that ran (``fp32``, ``int8``, ...).
        providers: onnxruntime providers really used.
        fallback: Provider fallback allowed by the profile and taken, or None.
    """

    duration_s: float
    conversion: str
    bundle: str
    variant: str
    providers: tuple[str, ...]
    fallback: str | None = None
