"""Silero VAD on onnxruntime: probabilities, chunking invariance, endpointing on real speech."""

from __future__ import annotations

import numpy as np
import pytest
from live_helpers import LONG, reference_segments, silero_path

from edge_sdk.audio import load_audio
from edge_sdk.errors import InvalidInputError
from edge_sdk.speech.vad import WINDOW, Endpointer, SileroVAD, VadOptions, speech_segments


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVAD.from_path(str(silero_path()), "x86_64-avx2")


@pytest.fixture(scope="module")
def speech(data_dir) -> np.ndarray:
    audio, _ = load_audio(data_dir / f"{LONG}.flac")
    return audio[: 20 * 16000]


def test_speech_scores_high_and_silence_low(vad, speech):
    vad.reset()
    speech_probs = vad.accept(speech[16000:48000])  # inside the first utterance
    vad.reset()
    silence_probs = vad.accept(np.zeros(32000, np.float32))
    assert np.median(speech_probs) > 0.8
    assert silence_probs.max() < 0.1


def test_white_noise_is_not_speech(vad):
    vad.reset()
    noise = np.random.default_rng(0).normal(0, 0.1, 5 * 16000).astype(np.float32)
    assert np.mean(vad.accept(noise) > 0.5) < 0.05


def test_chunk_size_does_not_change_probabilities(vad, speech):
    vad.reset()
    whole = vad.accept(speech[:64000])
    vad.reset()
    parts = np.concatenate([vad.accept(speech[i : i + 777]) for i in range(0, 64000, 777)])
    assert parts.shape == whole.shape == (64000 // WINDOW,)
    np.testing.assert_allclose(parts, whole, atol=1e-6)


def test_segments_match_reference_utterances(vad, data_dir, speech):
    segments = speech_segments(vad, speech, VadOptions(min_silence_ms=560))
    refs = [r for r in reference_segments(data_dir) if r[0] < 20.0]
    assert len(segments) == len(refs)
    for (s, e), (rs, re_, _) in zip(segments, refs, strict=True):
        assert abs(s / 16000 - rs) < 0.6 and abs(e / 16000 - min(re_, 20.0)) < 0.6


def test_endpointer_hysteresis_ignores_short_dips_and_blips():
    ep = Endpointer(VadOptions(threshold=0.5, min_speech_ms=64, min_silence_ms=128))
    probs = [0.9, 0.9, 0.4, 0.9] + [0.1] * 3 + [0.9] + [0.1] * 4 + [0.9] + [0.0] * 5
    events = [(i, ev) for i, p in enumerate(probs) if (ev := ep.update(p))]
    # 0.4 is above neg_threshold 0.35: no dip; 3 silent windows (96 ms) < 128 ms; a lone 0.9 is a blip.
    assert [(i, ev.kind, ev.sample) for i, ev in events] == [(1, "start", 0), (11, "end", 8 * WINDOW)]


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 1.5}, {"threshold": 0.5, "neg_threshold": 0.7}, {"min_silence_ms": -1}, {"min_speech_ms": 2.5}]
)
def test_bad_vad_options_raise(kwargs):
    with pytest.raises(InvalidInputError):
        VadOptions(**kwargs)
