"""Fuzz image decoding: any bytes give an image or InvalidInputError, never a crash or another error."""

from __future__ import annotations

import pytest

pytest.importorskip("cv2", reason="OpenCV (edge-sdk-ondevice[camera]) decodes images")
hypothesis = pytest.importorskip("hypothesis", reason="hypothesis drives the fuzzing (edge-sdk-ondevice[dev])")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edge_sdk.errors import InvalidInputError  # noqa: E402
from edge_sdk.vision.image_io import decode_image  # noqa: E402
from edge_sdk.vision.preprocess import PreprocessConfig, preprocess  # noqa: E402


def _seed(data_dir) -> bytes:
    return (data_dir / "images" / "camera.png").read_bytes()[:4096]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 4096), flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
       junk=st.binary(max_size=64))
def test_mutated_images_decode_or_raise_invalid_input(data_dir, cut, flips, junk):
    data = bytearray(_seed(data_dir)[:cut])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    try:
        img = decode_image(bytes(data) + junk, "fuzz")
    except InvalidInputError:
        return
    try:
        preprocess(img, PreprocessConfig())
    except InvalidInputError:
        pass  # e.g. a decoded image too small for the crop is still a specific error
