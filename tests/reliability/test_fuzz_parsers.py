"""Property-based fuzzing of the entry points that parse data: every input either parses or
raises the SDK's own specific error; nothing else escapes. Bounded by hypothesis settings."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_sdk.audio import convert, load_audio
from edge_sdk.bundle import load_bundle, parse_bundle
from edge_sdk.errors import BundleError, EdgeSDKError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
file_entry = st.fixed_dictionaries({"path": st.text(max_size=30), "sha256": st.text("0123456789abcdef", min_size=0, max_size=64), "size": st.integers()})
bundle_like = st.fixed_dictionaries(
    {
        "format_version": st.sampled_from([1, 1, 2, "1", None]),
        "name": st.text(max_size=10) | st.integers(),
        "task": st.sampled_from(["speech", "vision", "text", "other"]),
        "family": st.text(max_size=10),
        "variants": st.dictionaries(st.text(max_size=8), st.fixed_dictionaries({"files": st.dictionaries(st.text(max_size=8), file_entry | json_values, max_size=3)}) | json_values, max_size=3),
    },
    optional={"assets": st.dictionaries(st.text(max_size=8), file_entry | json_values, max_size=3), "source": json_values, "preprocessing": json_values},
)


@FUZZ
@given(bundle_like | json_values)
def test_bundle_json_structures_parse_or_raise_bundle_error(data):
    try:
        b = parse_bundle(Path("/nonexistent"), data)
    except BundleError:
        return
    for entry in [*b.assets.values(), *(f for v in b.variants.values() for f in v.files.values())]:
        assert not entry.path.startswith("/") and ".." not in Path(entry.path).parts


@FUZZ
@given(st.binary(max_size=2048))
def test_bundle_json_bytes_parse_or_raise_bundle_error(raw):
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "bundle.json").write_bytes(raw)
        try:
            load_bundle(d)
        except BundleError:
            pass


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".raw"]))
def test_audio_file_bytes_decode_or_raise_specific_error(raw, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"clip{suffix}"
        path.write_bytes(raw)
        try:
            audio, info = load_audio(path)
        except EdgeSDKError:
            return
        assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()


@FUZZ
@given(
    st.sampled_from([np.int16, np.int32, np.uint8, np.float32, np.float64]),
    st.integers(0, 3000),
    st.integers(0, 3),
    st.sampled_from([8000, 16000, 22050, 44100, 48000, 0, -1, 999, 10**7]),
    st.booleans(),
)
def test_audio_arrays_convert_or_raise_specific_error(dtype, frames, channels, rate, poison):
    rng = np.random.default_rng(frames)
    shape = (frames,) if channels == 0 else (frames, channels)
    arr = (rng.standard_normal(shape) * 1000).astype(dtype)
    if poison and np.issubdtype(dtype, np.floating) and arr.size:
        arr.flat[0] = np.nan
    try:
        audio, info = convert(arr, rate)
    except EdgeSDKError:
        return
    assert audio.ndim == 1 and np.isfinite(audio).all()
    assert abs(audio.shape[0] - round(frames * 16000 / rate)) <= 2


def test_fuzz_found_raw_file_without_header_is_a_specific_error(tmp_path):
    """Found by the audio-file fuzzer: a 1-byte .raw file made soundfile raise TypeError."""
    (tmp_path / "clip.raw").write_bytes(b"\x00")
    try:
        load_audio(tmp_path / "clip.raw")
    except EdgeSDKError as exc:
        assert "no header" in str(exc)
    else:
        raise AssertionError("a headerless .raw file was accepted")


def test_fuzz_found_cases_stay_fixed():
    """Bundle shapes the fuzzers above exercised early, kept as plain regression cases."""
    for data in ([], {"format_version": 1, "name": "x", "task": "text", "family": "f", "variants": {"a": []}}, json.loads('{"format_version": 1}')):
        try:
            parse_bundle(Path("/x"), data)
        except BundleError:
            continue
