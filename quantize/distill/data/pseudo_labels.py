"""The Whisper teacher's transcripts of training clips, filtered and cached for every speech student.

Transcripts come from the runtime's own fp32 transcriber, so they are what users get from the teacher.
A clip whose transcript is further than ``max_wer`` from its known text is dropped (distil-whisper's
WER filter). Transcribing is most of a speech student's data preparation (0.3-1 s per clip on 2 cores),
so each transcript is kept in a JSON-lines file keyed by the SHA-1 of the clip's samples: the Whisper
and CTC students, and reruns with more clips, transcribe each clip once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edge_sdk.quantize.distill.data.audio_corpus import Clip


def wer(ref: str, hyp: str) -> float:
    """Word error rate of one hypothesis, as a fraction, with the runtime's normaliser."""
    from edge_sdk.speech.evaluate import corpus_wer

    return corpus_wer([ref], [hyp]) / 100.0


def default_cache(teacher: str) -> Path:
    from edge_sdk.bundle import home

    return home() / "distill" / "pseudo-labels" / f"{teacher}-fp32.jsonl"


def pseudo_labels(teacher: str, clips: list[Clip], max_wer: float, cache: Path | None = None) -> tuple[list[tuple[Clip, str]], int]:
    """``(clip, transcript)`` of each clip kept, and how many were dropped (no words, or too far from the reference)."""
    from tqdm import tqdm

    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    cache = Path(cache or default_cache(teacher))
    known = {}
    if cache.is_file():
        known = {row["key"]: row["text"] for row in map(json.loads, cache.read_text(encoding="utf-8").splitlines())}
    cache.parent.mkdir(parents=True, exist_ok=True)
    transcriber = None
    kept, dropped = [], 0
    with cache.open("a", encoding="utf-8") as log:
        for clip in tqdm(clips, desc="pseudo-labels", unit="clip", dynamic_ncols=True):
            key = hashlib.sha1(clip.audio.tobytes()).hexdigest()
            if key not in known:
                transcriber = transcriber or Transcriber.create(TranscriberOptions(bundle=teacher, variant="fp32"))
                segments, _ = transcriber.transcribe(clip.audio, sample_rate=16000)
                known[key] = " ".join(s.text.strip() for s in segments).strip()
                log.write(json.dumps({"key": key, "text": known[key], "origin": clip.origin}) + "\n")
                log.flush()
            text = known[key]
            if not text or (clip.reference and wer(clip.reference, text) > max_wer):
                dropped += 1
            else:
                kept.append((clip, text))
    return kept, dropped
