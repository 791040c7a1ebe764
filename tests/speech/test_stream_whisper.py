"""The live stream on the real Whisper bundle: noise gives no text, streams share one model across threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from live_helpers import LONG

from edge_sdk.audio import load_audio
from edge_sdk.speech.stream import SpeechStream, StreamOptions


@pytest.fixture(scope="module")
def whisper(speech_bundle):
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    return Transcriber.create(TranscriberOptions(bundle=str(speech_bundle)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["silence", "white", "hum"])
def test_silence_and_noise_after_speech_give_no_extra_text(whisper, data_dir, kind):
    speech = load_audio(data_dir / f"{LONG}.flac")[0][: int(6.5 * 16000)]  # one whole utterance
    t = np.arange(8 * 16000) / 16000
    tail = {
        "silence": np.zeros_like(t),
        "white": np.random.default_rng(0).normal(0, 0.03, t.shape[0]),
        "hum": 0.05 * np.sin(2 * np.pi * 50 * t) + 0.02 * np.sin(2 * np.pi * 150 * t),
    }[kind].astype(np.float32)
    stream = whisper.create_stream()
    events = []
    audio = np.concatenate([speech, tail])
    for i in range(0, audio.shape[0], 1600):
        events += stream.accept_waveform(audio[i : i + 1600], 16000)
    events += stream.input_finished()
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 1 and finals[0].end_s < 6.6
    assert "frank" in finals[0].text.lower()
    assert all(e.end_s < 6.6 for e in events if e.kind == "partial")


def _run(model, audio) -> list[tuple]:
    # No partial is skipped for lag here, so the events do not depend on how busy the CPU is.
    stream = SpeechStream(model, StreamOptions(min_silence_ms=560, max_partial_lag_s=1e6))
    events = []
    for i in range(0, audio.shape[0], 1600):
        events += stream.accept_waveform(audio[i : i + 1600], 16000)
    events += stream.input_finished()
    return [(e.kind, e.text, e.start_s, e.end_s) for e in events if e.kind in ("partial", "final")]


@pytest.mark.slow
def test_two_streams_sharing_one_model_from_two_threads_match_one_at_a_time(data_dir, whisper):
    model = whisper
    full = load_audio(data_dir / f"{LONG}.flac")[0]
    clips = [full[: int(6.5 * 16000)], full[int(6.3 * 16000) : int(8.6 * 16000)]]  # one utterance each
    sequential = [_run(model, c) for c in clips]
    results: list = [None, None]

    def worker(i: int) -> None:
        results[i] = _run(model, clips[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == sequential
    assert all(any(k == "final" and text for k, text, *_ in r) for r in results)
    assert np.isfinite([e[2] for r in results for e in r]).all()
