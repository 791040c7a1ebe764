"""Audio sources: file as live, raw PCM on stdin, the bounded capture buffer, missing devices."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import soundfile as sf

from edge_sdk.errors import BundleNotFoundError, DeviceError, InvalidInputError
from edge_sdk.speech.sources import AudioChunk, CaptureBuffer, FileSource, MicrophoneSource, StdinSource


def test_file_source_yields_every_sample_of_a_stereo_44k_file(data_dir):
    path = data_dir / "speech/public_domain/jfk.flac"
    want, rate = sf.read(str(path), dtype="float32", always_2d=True)
    with FileSource(path, realtime=False, block_ms=100) as src:
        chunks = list(src)
    assert {c.sample_rate for c in chunks} == {rate} and chunks[0].samples.shape == (rate // 10, 2)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), want)


def test_file_source_realtime_paces_chunks(data_dir):
    path = data_dir / "speech/long/237-134500_chapter_concat.flac"
    t0 = time.monotonic()
    with FileSource(path, realtime=True, speed=10.0) as src:
        stamps = [c.timestamp_s for c, _ in zip(src, range(20), strict=False)]
    elapsed = time.monotonic() - t0
    assert 0.19 <= elapsed < 1.0  # 2 s of audio at 10x
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] == pytest.approx(0.19, abs=0.02)


def test_file_source_errors(tmp_path):
    with pytest.raises(BundleNotFoundError, match="does not exist"):
        FileSource(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty"):
        FileSource(tmp_path / "empty.wav")
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(InvalidInputError, match="cannot decode"):
        FileSource(tmp_path / "text.wav")
    with pytest.raises(InvalidInputError, match="speed"):
        FileSource(tmp_path / "text.wav", speed=0)


def test_stdin_source_reads_s16le_exactly_and_ignores_a_torn_frame():
    pcm = (np.arange(-8000, 8000, 3) * 2).astype("<i2")
    src = StdinSource(16000, channels=1, block_ms=10, stream=io.BytesIO(pcm.tobytes() + b"\x01"))
    got = np.concatenate([c.samples for c in src])
    np.testing.assert_array_equal(got, pcm)


def test_stdin_source_stereo_and_bad_rate():
    pcm = np.arange(200, dtype="<i2")
    chunks = list(StdinSource(8000, channels=2, block_ms=5, stream=io.BytesIO(pcm.tobytes())))
    assert chunks[0].samples.shape == (40, 2) and chunks[0].samples[0].tolist() == [0, 1]
    with pytest.raises(InvalidInputError, match="sample_rate"):
        StdinSource(16000.0)


def _chunk(n: int) -> AudioChunk:
    return AudioChunk(np.zeros(n, np.int16), 16000, time.monotonic())


def test_capture_buffer_drop_oldest_counts_what_it_drops():
    buf = CaptureBuffer(max_s=1.0, sample_rate=16000, overflow="drop_oldest")
    for _ in range(15):
        buf.put(_chunk(1600))
    assert buf.stats.samples_captured == 24000 and buf.stats.samples_dropped == 8000
    assert buf.buffered_s == pytest.approx(1.0) and not buf.overflowed


def test_capture_buffer_stop_policy_marks_overflow():
    buf = CaptureBuffer(max_s=0.2, sample_rate=16000, overflow="stop")
    for _ in range(3):
        buf.put(_chunk(1600))
    assert buf.overflowed and buf.stats.samples_dropped == 1600
    assert buf.get(0.01).samples.shape == (1600,)


def test_capture_buffer_rejects_unknown_policy():
    with pytest.raises(InvalidInputError, match="overflow"):
        CaptureBuffer(1.0, 16000, overflow="block")


@pytest.mark.parametrize("device", ["no-such-microphone-xyz", 9999])
def test_microphone_that_does_not_exist_raises_device_error(device):
    with pytest.raises(DeviceError, match="input device"):
        MicrophoneSource(device=device, block_ms=100)


@pytest.mark.parametrize("kwargs", [{"block_ms": 1}, {"max_buffer_s": 0}, {"overflow": "wait"}, {"dtype": "int8"}])
def test_microphone_bad_options_raise(kwargs):
    with pytest.raises(InvalidInputError, match=next(iter(kwargs))):
        MicrophoneSource(**{"block_ms": 100, **kwargs})
