"""The endpointing replay: real-time timing on a skipping clock, so latencies include decode time."""

from __future__ import annotations

import numpy as np
import pytest
from live_helpers import LONG, FakeModel

from edge_sdk.audio import load_audio
from edge_sdk.bench.endpointing import ReplayClock, replay


@pytest.fixture(scope="module")
def first_20_s(data_dir) -> np.ndarray:
    return load_audio(data_dir / f"{LONG}.flac")[0][: 20 * 16000]


def test_replay_clock_skips_idle_time_only_forward():
    clock = ReplayClock()
    t = clock()
    clock.wait_until(t + 5.0)
    assert clock() >= t + 5.0 and clock.skipped >= 4.99
    skipped = clock.skipped
    clock.wait_until(t)  # the past: nothing to skip
    assert clock.skipped == skipped


def test_sentence_endpoint_latency_is_the_silence_rule_plus_the_decode_still_running(first_20_s):
    # FakeModel text ends with "s", not a sentence end, so every final waits min_silence_ms
    fast = replay(FakeModel(), first_20_s, 32, None, min_silence_ms=480)
    slow = replay(FakeModel(delay_s=0.5), first_20_s, 32, None, min_silence_ms=480)
    assert fast["finals"] == slow["finals"] >= 3
    # 480 ms of silence is 15 windows; the speculative decode ran at 160 ms and is reused
    assert 480 <= fast["eos_to_final_ms_p50"] < 600
    # a 0.5 s decode started at 160 ms is still running at 480 ms: the final waits for it
    assert slow["eos_to_final_ms_p50"] >= 160 + 500
    assert fast["speculative_reused"] == fast["finals"] - 1  # the last one is flushed by input_finished


def test_sentence_end_closes_after_nine_windows(first_20_s):
    out = replay(FakeModel(text="A finished sentence."), first_20_s, 32, None, min_silence_ms=480)
    assert 288 <= out["eos_to_final_ms_p50"] < 480
