"""Abstractive summarization on an ONNX seq2seq bundle (BART, DistilBART, T5 exported by
``edge_sdk.quantize.text.seq2seq``): greedy or beam search with length limits and n-gram blocking.

Input longer than the model's source context is truncated to ``max_source_tokens`` (the
summary then covers the beginning); summarize very long text extractively first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tokenizers import Tokenizer

from edge_sdk.errors import BundleError, EmptyInputError, InvalidInputError
from edge_sdk.runtime import load_model
from edge_sdk.task import CarriesProvenance, Provenance, Task
from edge_sdk.text.generate import GenerationOptions, Seq2SeqDecoder
from edge_sdk.text.textinput import as_text


@dataclass(frozen=True)
class AbstractiveOptions:
    """Options of an :class:`AbstractiveSummarizer`.

    Attributes:
        bundle: Seq2seq bundle name or folder.
        variant: ``fp32`` or ``int8``; None lets the device profile choose.
        device: Device profile name or ``"auto"``.
        generation: Decoding settings (beams, length limits, n-gram blocking).
        max_source_tokens: Truncate input to this many tokens; None uses the bundle's limit.
        allow_refused: Load ``variant`` even when its own quality gate refused it (for inspection).
    """

    bundle: str
    variant: str | None = None
    device: str = "auto"
    generation: GenerationOptions = GenerationOptions(max_new_tokens=128, no_repeat_ngram_size=3)
    max_source_tokens: int | None = None
    allow_refused: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.bundle, str) or not self.bundle:
            raise InvalidInputError(f"AbstractiveOptions.bundle={self.bundle!r}: give a seq2seq bundle name or folder")
        if not isinstance(self.generation, GenerationOptions):
            raise InvalidInputError(f"AbstractiveOptions.generation must be GenerationOptions, got {type(self.generation).__name__}")
        if self.max_source_tokens is not None and (not isinstance(self.max_source_tokens, int) or self.max_source_tokens < 2):
            raise InvalidInputError(f"AbstractiveOptions.max_source_tokens={self.max_source_tokens!r}: use an integer >= 2 or None")


@dataclass(frozen=True)
class AbstractiveSummary(CarriesProvenance):
    """Generated summary text, its token ids, and what produced it (``fallback``: the provider fallback taken, or
    None)."""

    text: str
    token_ids: tuple[int, ...]
    source_tokens: int
    truncated: bool
    elapsed_ms: float
    bundle: str
    variant: str
    providers: tuple[str, ...]
    fallback: str | None = None


class AbstractiveSummarizer(Task):
    """Seq2seq summarizer on onnxruntime. Create with :meth:`create`; close with :meth:`close` or ``with``."""

    _reopen = "create a new one with AbstractiveSummarizer.create()"

    def __init__(self, options: AbstractiveOptions, model) -> None:
        self.options = options
        self.model = model
        facts = model.bundle.preprocessing
        if facts.get("kind") != "seq2seq":
            raise BundleError(f"bundle {model.bundle.name!r} is not a seq2seq bundle (preprocessing.kind={facts.get('kind')!r})")
        self.decoder = Seq2SeqDecoder(model.sessions, facts)
        self._provenance = Provenance.of(model)
        self.max_source_tokens = options.max_source_tokens or int(facts.get("max_source_tokens") or 512)
        self.tokenizer = Tokenizer.from_str(model.bundle.read_asset("tokenizer").decode()) if "tokenizer" in model.bundle.assets else None

    @classmethod
    def create(cls, options: AbstractiveOptions) -> AbstractiveSummarizer:
        """Load the seq2seq bundle named by ``options``.

        Raises:
            BundleNotFoundError: No such bundle.
            BundleError: Not a seq2seq bundle, or a file fails verification.
        """
        return cls(options, load_model(options.bundle, options.variant, options.device, task="text", allow_refused=options.allow_refused))

    def generate_ids(self, input_ids: list[int], generation: GenerationOptions | None = None) -> list[int]:
        """Decode from token ids (no tokenizer needed); returns generated ids.

        Raises:
            InvalidInputError: No ids, or the summarizer is closed.
        """
        self._require_open()
        if not input_ids:
            raise InvalidInputError("input_ids is empty; give at least one token id")
        return self.decoder.generate(list(input_ids)[: self.max_source_tokens], generation or self.options.generation)

    def summarize(self, text, generation: GenerationOptions | None = None) -> AbstractiveSummary:
        """Summarize ``text`` (only its first ``max_source_tokens`` tokens are read by the model).

        Raises:
            EmptyInputError: The text is empty or has no visible characters.
            InvalidInputError: Not text, or binary.
            BundleError: The bundle has no tokenizer asset.
            InvalidInputError: Also when the summarizer is closed.
        """
        self._require_open()
        if self.tokenizer is None:
            raise BundleError(f"bundle {self._provenance.bundle!r} has no tokenizer; rebuild it from a folder with tokenizer.json")
        started = time.perf_counter()
        text = as_text(text)
        if not text.strip():
            raise EmptyInputError(f"the text is empty or has no visible characters ({len(text)} characters); give the document's text")
        ids = self.tokenizer.encode(text).ids
        out: list[int] = []
        if ids:
            out = self.generate_ids(ids, generation)
        summary = self.tokenizer.decode(out, skip_special_tokens=True).strip() if out else ""
        return AbstractiveSummary(
            text=summary,
            token_ids=tuple(out),
            source_tokens=len(ids),
            truncated=len(ids) > self.max_source_tokens,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            bundle=self._provenance.bundle,
            variant=self._provenance.variant,
            providers=self._provenance.providers,
            fallback=self._provenance.fallback,
        )

    def close(self) -> None:
        """Drop the decoder and the loaded model, and with them the onnxruntime sessions (freed once nothing else
        holds them); later calls raise ``InvalidInputError``; :attr:`provenance` stays readable. Idempotent."""
        super().close()
        self.model = self.decoder = None
