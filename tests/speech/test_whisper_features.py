"""The numpy log-mel front end matches transformers' WhisperFeatureExtractor."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.audio import load_audio
from edge_sdk.speech.features import log_mel, mel_filters

transformers = pytest.importorskip("transformers", reason="transformers is the reference implementation (quantize extra)")


@pytest.fixture(scope="module")
def reference():
    return transformers.WhisperFeatureExtractor(feature_size=80)


def test_mel_filterbank_matches_transformers(reference):
    assert np.abs(mel_filters(80) - reference.mel_filters.T).max() < 1e-6


@pytest.mark.parametrize("clip", ["librispeech/237-134500-0000.flac", "public_domain/jfk.flac"])
def test_log_mel_matches_transformers_on_30s_window(data_dir, reference, clip):
    audio, _ = load_audio(data_dir / "speech" / clip)
    expected = reference(audio, sampling_rate=16000, return_tensors="np").input_features[0]
    ours = log_mel(audio, 3000)
    assert ours.shape == expected.shape == (80, 3000)
    assert np.abs(ours - expected).max() < 1e-4


def test_short_window_equals_the_head_of_the_30s_window(data_dir):
    # Zero padding in the audio domain makes the first frames independent of the window length,
    # except the last two frames whose STFT sees the window's end.
    audio, _ = load_audio(data_dir / "speech" / "librispeech/237-134500-0004.flac")
    frames = 2 * (len(audio) // 320) + 300
    short, full = log_mel(audio, frames), log_mel(audio, 3000)
    assert np.abs(short[:, : frames - 2] - full[:, : frames - 2]).max() < 1e-4
