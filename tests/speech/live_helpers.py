"""Helpers of the live-speech tests: the Silero model path, a fake model, reference segments, WER."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np

from edge_sdk.speech.results import Segment

LONG = "speech/long/237-134500_chapter_concat"


def silero_path() -> Path:
    """The Silero VAD ONNX shipped in the ``silero-vad`` package (found without importing torch); in a runtime-only
    environment, where that package (which needs torch) is absent, the copy in the default speech bundle."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        from edge_sdk.bundle import load_bundle

        bundle = load_bundle("whisper-tiny.en")
        return bundle.path_of(bundle.assets["vad"])
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


class FakeModel:
    """Stands in for a Transcriber (a ``SpeechModel`` that re-decodes): text says how long the decoded audio was;
    optional slowness."""

    device = "auto"
    incremental = False

    def __init__(self, delay_s: float = 0.0, text: str | None = None, provenance=None) -> None:
        self.delay_s = delay_s
        self.text = text
        if provenance is not None:  # optional in a SpeechModel: the stream's events then carry it
            self.provenance = provenance
        self.calls: list[int] = []

    def create_stream(self, clock=time.monotonic, **kwargs):
        from edge_sdk.speech.stream import SpeechStream, StreamOptions

        return SpeechStream(self, StreamOptions(**kwargs), clock=clock)

    def vad_model_bytes(self) -> bytes:
        return silero_path().read_bytes()

    def start_utterance(self):
        raise NotImplementedError("FakeModel re-decodes: not incremental")

    def decode(self, audio: np.ndarray, prompt=()) -> list[Segment]:
        assert audio.dtype == np.float32 and audio.ndim == 1 and audio.shape[0] <= 30 * 16000
        self.calls.append(audio.shape[0])
        if self.delay_s:
            time.sleep(self.delay_s)
        d = audio.shape[0] / 16000
        return [Segment(self.text or f"speech of {d:.2f} s", 0.0, d, (), -0.1, 0.01)]


def reference_segments(data_dir: Path) -> list[tuple[float, float, str]]:
    rows = (data_dir / f"{LONG}.segments.tsv").read_text().splitlines()[1:]
    return [(float(r.split("\t")[1]), float(r.split("\t")[2]), r.split("\t")[3]) for r in rows]


def check_finals_match(finals: list[tuple[float, float]], refs: list[tuple[float, float, str]], tol: float = 0.5) -> list[str]:
    """Problems found when matching finals to reference utterances within ``tol`` seconds.

    Each final must lie inside one reference utterance (+- tol); each utterance must be covered by
    at least one final whose first start and last end are within ``tol`` of its own.
    """
    problems, owner = [], []
    for s, e in finals:
        hits = [i for i, (rs, re_, _) in enumerate(refs) if rs - tol <= s and e <= re_ + tol]
        if len(hits) != 1:
            problems.append(f"final {s:.2f}-{e:.2f} s lies in {len(hits)} reference utterances")
        owner.append(hits[0] if hits else -1)
    for i, (rs, re_, _) in enumerate(refs):
        mine = [f for f, o in zip(finals, owner, strict=True) if o == i]
        if not mine:
            problems.append(f"utterance {i} ({rs:.2f}-{re_:.2f} s) has no final")
        elif abs(mine[0][0] - rs) > tol or abs(mine[-1][1] - re_) > tol:
            problems.append(f"utterance {i} ({rs:.2f}-{re_:.2f} s) covered by {mine[0][0]:.2f}-{mine[-1][1]:.2f} s")
    return problems


def wer(reference: str, hypothesis: str) -> float:
    """Corpus WER in percent with Whisper's English normaliser."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    return 100 * jiwer.wer(norm(reference), norm(hypothesis))
