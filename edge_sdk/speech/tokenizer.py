"""Whisper token ids and text decoding over a ``tokenizers`` ``tokenizer.json``."""

from __future__ import annotations

from dataclasses import dataclass

from edge_sdk.errors import BundleError, require

TIME_PER_TIMESTAMP_S = 0.02


@dataclass(frozen=True)
class WhisperTokenizer:
    """Special token ids of a Whisper vocabulary and text decoding.

    Create with :meth:`from_bytes`. Timestamp tokens follow ``<|notimestamps|>``; each step is 20 ms.
    """

    tokenizer: object
    eot: int
    sot: int
    sot_prev: int
    no_speech: int
    no_timestamps: int
    translate: int
    transcribe: int
    sot_lm: int
    language: int | None
    multilingual: bool

    @property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1

    @classmethod
    def from_bytes(cls, data: bytes, language: str = "en") -> WhisperTokenizer:
        """Parse ``tokenizer.json`` bytes (already hash-verified by the bundle).

        Raises:
            BundleError: The file is not a Whisper tokenizer.
        """
        tokenizers = require("tokenizers", "speech")
        try:
            tok = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:  # tokenizers raises untyped errors
            raise BundleError(f"tokenizer asset is not a tokenizers JSON file: {exc}") from exc

        def tid(text: str) -> int | None:
            return tok.token_to_id(text)

        ids = {n: tid(f"<|{n}|>") for n in ("endoftext", "startoftranscript", "startofprev", "notimestamps", "translate", "transcribe", "startoflm")}
        missing = [n for n, i in ids.items() if i is None]
        if missing:
            raise BundleError(f"tokenizer asset lacks Whisper special tokens {missing}")
        no_speech = tid("<|nospeech|>") or tid("<|nocaptions|>")
        # English-only vocabularies end text at 50256; multilingual ones shift every special token by one.
        multilingual = ids["endoftext"] != 50256
        return cls(
            tokenizer=tok,
            eot=ids["endoftext"],
            sot=ids["startoftranscript"],
            sot_prev=ids["startofprev"],
            no_speech=no_speech if no_speech is not None else ids["notimestamps"] - 1,
            no_timestamps=ids["notimestamps"],
            translate=ids["translate"],
            transcribe=ids["transcribe"],
            sot_lm=ids["startoflm"],
            language=tid(f"<|{language}|>") if multilingual else None,
            multilingual=multilingual,
        )

    def sot_sequence(self) -> list[int]:
        """``<|startoftranscript|>`` (plus language and task for multilingual models)."""
        if self.multilingual:
            return [self.sot, self.language if self.language is not None else self.sot + 1, self.transcribe]
        return [self.sot]

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, tokens: list[int]) -> str:
        """Text of ``tokens``, with timestamp and special tokens left out."""
        return self.tokenizer.decode([t for t in tokens if t < self.eot])

    def timestamp_s(self, token: int) -> float:
        return (token - self.timestamp_begin) * TIME_PER_TIMESTAMP_S
