"""Long-run behaviour of the live speech loop: bounded memory, and streams sharing one model across threads."""

from __future__ import annotations

import pytest
from live_helpers import LONG, FakeModel

from edge_sdk.audio import load_audio
from edge_sdk.memory import slope_per_hour
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
    # Run as fast as it goes, a few seconds of wall time turn any 2 MB allocator step into a steep slope per
    # wall hour; per hour of audio processed, that buffer leak would be ~230 MB/h.
    fit = report.samples[len(report.samples) // 4 :]
    per_audio_hour = slope_per_hour([x.audio_s for x in fit], [x.rss_mb for x in fit])
    assert per_audio_hour < 100, (per_audio_hour, report)


def test_stream_audio_buffer_stays_bounded(data_dir):
    audio = load_audio(data_dir / f"{LONG}.flac")[0][: 60 * 16000]
    stream = SpeechStream(FakeModel(), StreamOptions(max_utterance_s=10.0))
    biggest = 0
    for i in range(0, audio.shape[0], 1600):
        stream.accept_waveform(audio[i : i + 1600], 16000)
        biggest = max(biggest, stream._audio.shape[0])
    assert biggest <= (10.0 + 1.0) * 16000
