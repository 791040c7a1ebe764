"""SpeechStream behaviour with a fake model: endpointing, partial cadence, inputs, errors, overload."""

from __future__ import annotations

import numpy as np
import pytest
from live_helpers import LONG, FakeModel, check_finals_match, reference_segments

from edge_sdk.audio import load_audio
from edge_sdk.errors import InvalidInputError
from edge_sdk.speech.sources import FileSource
from edge_sdk.speech.stream import SpeechStream, StreamOptions, transcribe_live
from edge_sdk.task import Provenance


@pytest.fixture(scope="module")
def long_audio(data_dir) -> np.ndarray:
    return load_audio(data_dir / f"{LONG}.flac")[0]


def feed(stream: SpeechStream, audio: np.ndarray, rate: int = 16000, block: int = 1600) -> list:
    events = []
    for i in range(0, audio.shape[0], block):
        events += stream.accept_waveform(audio[i : i + block], rate)
    return events + stream.input_finished()


@pytest.mark.slow
def test_finals_follow_reference_utterances_in_order(long_audio, data_dir):
    stream = SpeechStream(FakeModel(), StreamOptions(min_silence_ms=560))
    events = feed(stream, long_audio)
    finals = [(e.start_s, e.end_s) for e in events if e.kind == "final"]
    assert check_finals_match(finals, reference_segments(data_dir)) == []
    edges = [t for f in finals for t in f]
    assert edges == sorted(edges)
    assert stream.stats.samples_lost == 0 and stream.stats.samples_processed == long_audio.shape[0]


def test_partials_come_at_least_every_interval_of_speech(long_audio):
    stream = SpeechStream(FakeModel(), StreamOptions(partial_interval_s=1.0))
    events = feed(stream, long_audio[: 30 * 16000])
    assert stream.stats.partials >= 15
    assert max(stream.stats.partial_gaps_s) <= 1.0
    for e in events:
        if e.kind == "partial":
            assert e.end_s - e.start_s <= 20.0 and e.text.startswith("speech of")


def test_final_reuses_the_decode_made_at_silence_onset(long_audio):
    model = FakeModel()
    stream = SpeechStream(model, StreamOptions(min_silence_ms=560))
    events = feed(stream, long_audio[: 20 * 16000])
    endpoint_finals = [e for e in events if e.kind == "final" and e.reason == "endpoint"]
    assert endpoint_finals and stream.stats.speculative_reused == len(endpoint_finals)
    assert all(e.decode_ms == 0.0 for e in endpoint_finals)


def test_long_utterance_is_cut_at_max_utterance(long_audio):
    stream = SpeechStream(FakeModel(), StreamOptions(max_utterance_s=3.0, min_silence_ms=2000))
    events = feed(stream, long_audio[: 30 * 16000])
    finals = [e for e in events if e.kind == "final"]
    assert any(e.reason == "max_utterance" for e in finals)
    assert all(e.end_s - e.start_s <= 3.0 for e in finals)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(finals, finals[1:], strict=False))


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_silence_and_noise_give_no_text(kind):
    rng = np.random.default_rng(1)
    audio = np.zeros(10 * 16000, np.float32) if kind == "silence" else rng.normal(0, 0.05, 10 * 16000).astype(np.float32)
    model = FakeModel()
    events = feed(SpeechStream(model, StreamOptions()), audio)
    assert events == [] and model.calls == []


def test_trailing_hallucination_is_dropped_by_no_speech_rule(long_audio):
    class Hallucinating(FakeModel):
        def decode(self, audio, prompt=()):
            return [s.__class__("Thank you.", 0.0, 1.0, (), -1.5, 0.9) for s in super().decode(audio, prompt)]

    events = feed(SpeechStream(Hallucinating(), StreamOptions()), long_audio[: 8 * 16000])
    assert [e for e in events if e.kind in ("partial", "final")] == []


def test_any_rate_channels_and_int16_give_the_same_finals(long_audio):
    import soxr

    clip = long_audio[: 9 * 16000]
    ref = [(e.start_s, e.end_s) for e in feed(SpeechStream(FakeModel()), clip) if e.kind == "final"]
    stereo44 = soxr.resample(np.stack([clip, clip], axis=1), 16000, 44100)
    pcm = np.clip(stereo44 * 32768, -32768, 32767).astype(np.int16)
    got = [(e.start_s, e.end_s) for e in feed(SpeechStream(FakeModel()), pcm, 44100, 4410) if e.kind == "final"]
    assert len(got) == len(ref) == 2
    np.testing.assert_allclose(np.array(got), np.array(ref), atol=0.1)


def test_empty_input_gives_no_events():
    stream = SpeechStream(FakeModel())
    assert stream.accept_waveform(np.zeros(0, np.float32), 16000) == []
    assert stream.input_finished() == []


def test_nan_samples_raise():
    audio = np.zeros(1600, np.float32)
    audio[5] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        SpeechStream(FakeModel()).accept_waveform(audio, 16000)


@pytest.mark.parametrize("rate", [0, 16000.5, 999, 10**6])
def test_wrong_sample_rate_raises(rate):
    with pytest.raises(InvalidInputError, match="sample_rate"):
        SpeechStream(FakeModel()).accept_waveform(np.zeros(1600, np.float32), rate)


def test_audio_after_input_finished_raises():
    stream = SpeechStream(FakeModel())
    stream.input_finished()
    with pytest.raises(InvalidInputError, match="input_finished"):
        stream.accept_waveform(np.zeros(1600, np.float32), 16000)


@pytest.mark.parametrize(
    "kwargs",
    [{"partial_interval_s": 0}, {"max_utterance_s": 45}, {"min_silence_ms": 10}, {"speech_pad_ms": -5}, {"vad_threshold": 1.0}],
)
def test_bad_stream_options_name_the_field(kwargs):
    with pytest.raises(InvalidInputError, match=next(iter(kwargs))):
        StreamOptions(**kwargs)


def test_events_carry_the_provenance_of_the_model_that_made_them(long_audio):
    made_by = Provenance("whisper-tiny.en", "int8", ("CPUExecutionProvider",), fallback="cuda->cpu")
    events = feed(SpeechStream(FakeModel(provenance=made_by)), long_audio[: 8 * 16000])
    assert events and all((e.bundle, e.variant, e.providers, e.fallback) == tuple(vars(made_by).values()) for e in events)
    bare = feed(SpeechStream(FakeModel()), long_audio[: 8 * 16000])  # a model without provenance: empty fields
    assert bare and all((e.bundle, e.variant, e.providers, e.fallback) == ("", "", (), None) for e in bare)


def test_transcribe_live_takes_the_stream_first(long_audio, data_dir):
    stream = SpeechStream(FakeModel())
    with FileSource(data_dir / f"{LONG}.flac", realtime=False) as src:
        with pytest.raises(InvalidInputError, match=r"transcribe_live\(stream, source\)"):
            next(transcribe_live(src, stream))  # the order of 0.1
        first = next(transcribe_live(stream, src))
    assert first.kind in ("partial", "final")


def test_input_failed_keeps_transcript_and_reports_error(long_audio):
    stream = SpeechStream(FakeModel())
    events = []
    for i in range(0, 8 * 16000, 1600):  # stops inside the second utterance
        events += stream.accept_waveform(long_audio[i : i + 1600], 16000)
    events += stream.input_failed("microphone unplugged")
    assert [e.kind for e in events if e.kind != "partial"] == ["final", "final", "error"]
    assert events[-1].text == "microphone unplugged" and stream.stats.samples_lost == 0


@pytest.mark.slow
def test_overload_keeps_every_sample_and_skips_partials(data_dir):
    """Decoding at 0.4 s per call while the file plays at 8x: lag builds, partials are skipped, no audio is lost."""
    path = data_dir / f"{LONG}.flac"
    fast, slow = FakeModel(), FakeModel(delay_s=0.4)
    ref = SpeechStream(fast, StreamOptions(min_silence_ms=560))
    stream = SpeechStream(slow, StreamOptions(min_silence_ms=560, max_partial_lag_s=0.5, lag_report_s=0.5))
    with FileSource(path, realtime=False) as src:
        ref_events = list(transcribe_live(ref, src))
    with FileSource(path, realtime=True, speed=8.0) as src:
        n = 0
        events = []
        for chunk in src:
            n += chunk.samples.shape[0]
            events += stream.accept_waveform(chunk.samples, chunk.sample_rate, captured_at=chunk.timestamp_s)
            if n >= 40 * 16000:
                break
        events += stream.input_finished()
    assert stream.stats.samples_lost == 0 and stream.stats.samples_received == n
    assert stream.stats.partials_skipped > 0 and stream.stats.max_lag_s > 0.5
    assert any(e.kind == "lag" for e in events), (stream.stats.max_lag_s, [e.kind for e in events if e.kind != "partial"])
    got = [(e.start_s, e.end_s) for e in events if e.kind == "final"]
    want = [(e.start_s, e.end_s) for e in ref_events if e.kind == "final" and e.end_s <= n / 16000 - 1.0]
    assert got[: len(want)] == want  # finals are delayed, never skipped or changed


@pytest.mark.slow
def test_lasting_lag_switches_to_the_light_model_and_back(data_dir):
    heavy = FakeModel(delay_s=3.0, provenance=Provenance("whisper", "fp32", ("CPUExecutionProvider",)))
    light = FakeModel(text="light", provenance=Provenance("whisper", "int8", ("CPUExecutionProvider",)))  # heavy: 3 s per decode, slower than the 4x feed
    opts = StreamOptions(min_silence_ms=560, degrade_lag_s=1.0, degrade_after_s=0.5, recover_after_s=1.0, lag_report_s=5.0)
    stream = SpeechStream(heavy, opts, light_model=light)
    events = []
    with FileSource(data_dir / f"{LONG}.flac", realtime=True, speed=4.0) as src:
        for chunk, _ in zip(src, range(200), strict=False):  # 20 s of audio in ~5 s
            events += stream.accept_waveform(chunk.samples, chunk.sample_rate, captured_at=chunk.timestamp_s)
    events += stream.input_finished()
    switches = [e for e in events if e.kind == "switch"]
    assert switches and switches[0].reason == "degrade" and "light model" in switches[0].text
    assert stream.stats.switches == len(switches) and light.calls
    after = [e for e in events[events.index(switches[0]) :] if e.kind == "final"]
    assert after and after[0].text == "light"
    assert switches[0].variant == "int8" and {e.variant for e in after if e.text == "light"} == {"int8"}
    assert {e.variant for e in events[: events.index(switches[0])] if e.kind in ("partial", "final")} <= {"fp32"}
    assert stream.stats.samples_lost == 0
