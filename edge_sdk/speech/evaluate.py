"""Word error rate of a transcriber on a manifest (``relative_path<TAB>reference`` per line).

Hypotheses and references are normalised with Whisper's English text normaliser before
``jiwer`` scores them; the normalisation is never applied to transcripts users see.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import BundleNotFoundError, InvalidInputError, require
from edge_sdk.manifest import read_utf8_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """Corpus WER (percent), clip count, real-time factor and what ran."""

    wer: float
    n: int
    rtf: float
    audio_s: float
    compute_s: float
    variant: str
    providers: tuple[str, ...]
    manifest: str
    hypotheses: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "wer": self.wer, "n": self.n, "rtf": self.rtf, "audio_s": self.audio_s, "compute_s": self.compute_s,
            "variant": self.variant, "providers": list(self.providers), "manifest": self.manifest,
        }


def read_manifest(path: str | Path) -> list[tuple[Path, str]]:
    """``(audio path, reference)`` pairs; paths are relative to the manifest's folder.

    Raises:
        BundleNotFoundError: The manifest or a listed file does not exist.
        InvalidInputError: A line is not ``path<TAB>reference``.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise BundleNotFoundError(f"manifest {str(path)!r} does not exist")
    rows = []
    for number, line in enumerate(read_utf8_lines(manifest), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2:
            raise InvalidInputError(f"{manifest}:{number}: expected 'relative_path<TAB>reference', got {line[:80]!r}")
        audio = manifest.parent / parts[0]
        if not audio.is_file():
            raise BundleNotFoundError(f"{manifest}:{number}: audio file {str(audio)!r} does not exist")
        rows.append((audio, parts[1].strip()))
    if not rows:
        raise InvalidInputError(f"manifest {str(path)!r} lists no clips")
    return rows


def normalizer():
    """Whisper's English text normaliser (``whisper_normalizer``)."""
    module = require("whisper_normalizer.english", "eval")
    return module.EnglishTextNormalizer()


def word_errors(references: list[str], hypotheses: list[str]) -> list[tuple[int, int]]:
    """``(reference words, word errors)`` of each pair after Whisper English normalisation; a reference
    that normalises to nothing counts ``(0, 0)``."""
    jiwer = require("jiwer", "eval")
    norm = normalizer()
    out = []
    for ref, hyp in zip(references, hypotheses, strict=True):
        ref = norm(ref)
        if not ref.strip():
            out.append((0, 0))
            continue
        m = jiwer.process_words(ref, norm(hyp))
        out.append((m.hits + m.substitutions + m.deletions, m.substitutions + m.deletions + m.insertions))
    return out


def corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER in percent after Whisper English normalisation: all word errors over all reference words."""
    counts = word_errors(references, hypotheses)
    words = sum(w for w, _ in counts)
    return 100.0 * (sum(e for _, e in counts) / words) if words else 0.0


def evaluate(transcriber, manifest: str | Path) -> EvalResult:
    """Transcribe every clip of ``manifest`` and score the corpus.

    Args:
        transcriber: A :class:`edge_sdk.speech.transcriber.Transcriber`.
        manifest: TSV of ``relative_path<TAB>reference``.
    """
    rows = read_manifest(manifest)
    refs, hyps, hyp_by_path = [], [], {}
    audio_s = compute_s = 0.0
    for path, ref in rows:
        start = time.perf_counter()
        segments, info = transcriber.transcribe(path)
        text = " ".join(s.text for s in segments)
        compute_s += time.perf_counter() - start
        audio_s += info.duration_s
        refs.append(ref)
        hyps.append(text)
        hyp_by_path[str(path)] = text
        log.debug("%s: %s", path.name, text)
    return EvalResult(
        wer=round(corpus_wer(refs, hyps), 3),
        n=len(rows),
        rtf=round(compute_s / audio_s, 4) if audio_s else 0.0,
        audio_s=round(audio_s, 2),
        compute_s=round(compute_s, 3),
        variant=transcriber.variant,
        providers=transcriber.providers,
        manifest=str(manifest),
        hypotheses=hyp_by_path,
    )
