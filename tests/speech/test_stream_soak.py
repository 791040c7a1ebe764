"""Long-run behaviour of the live speech loop: bounded memory, and streams sharing one model across threads."""

from __future__ import annotations

import pytest
from live_helpers import LONG, FakeModel

from edge_sdk.audio import load_audio
from edge_sdk.speech.soak import soak_speech
from edge_sdk.speech.stream import SpeechStream, StreamOptions


@pytest.mark.slow
def test_short_soak_has_no_clear_memory_leak(data_dir):
    """Three plays of speech/long (11 min of audio) as fast as they go, through one stream."""
    report = soak_speech(FakeModel(), data_dir / f"{LONG}.flac", duration_s=600, realtime=False, interval_s=0.5,
                         max_passes=3, min_silence_ms=560)
    assert report.passes == 3 and report.samples_lost == 0 and report.finals >= 3 * 43
    # A leak of the audio buffer would grow ~64 KB per second of audio (tens of MB here).
    assert report.rss_end_mb - report.rss_start_mb < 15, report
    assert report.rss_slope_mb_per_h < 200, report


def test_stream_audio_buffer_stays_bounded(data_dir):
    audio = load_audio(data_dir / f"{LONG}.flac")[0][: 60 * 16000]
    stream = SpeechStream(FakeModel(), StreamOptions(max_utterance_s=10.0))
    biggest = 0
    for i in range(0, audio.shape[0], 1600):
        stream.accept_waveform(audio[i : i + 1600], 16000)
        biggest = max(biggest, stream._audio.shape[0])
    assert biggest <= (10.0 + 1.0) * 16000
