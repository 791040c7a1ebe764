"""Decoding image files with OpenCV: EXIF orientation applied, 16-bit kept, errors specific.

OpenCV is imported lazily so that ``import edge_sdk.vision`` works without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_sdk.errors import BundleNotFoundError, InvalidInputError, require

MAX_IMAGE_BYTES = 256 * 2**20


def _cv2():
    return require("cv2", "camera")


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to an HxW or HxWx3 array in BGR order (uint8 or uint16).

    EXIF orientation is applied; an alpha channel is dropped (as PIL's ``convert("RGB")``);
    16-bit PNG/TIFF keep their depth (:func:`preprocess` scales them).

    Raises:
        InvalidInputError: Empty, undecodable or truncated data (a JPEG without its end marker).
    """
    if not data:
        raise InvalidInputError(f"{name}: file is empty; pass a JPEG, PNG, BMP, TIFF or WebP image")
    cv2 = _cv2()
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if arr is None or arr.size == 0:
        raise InvalidInputError(f"{name}: OpenCV cannot decode it (not an image, unsupported format, or truncated)")
    # libjpeg decodes a truncated JPEG to a grey-padded image with only a warning: refuse it instead.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        raise InvalidInputError(f"{name}: JPEG is truncated (no end-of-image marker); the file is incomplete")
    return arr


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read and decode an image file (see :func:`decode_image`).

    Raises:
        BundleNotFoundError: The file does not exist (also a ``FileNotFoundError``).
        InvalidInputError: Not a regular file, too large, or not decodable.
    """
    p = Path(path)
    if not p.exists():
        raise BundleNotFoundError(f"image file {str(p)!r} does not exist")
    if not p.is_file():
        raise InvalidInputError(f"{str(p)!r} is not a regular file")
    size = p.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise InvalidInputError(f"{str(p)!r} is {size} bytes; images over {MAX_IMAGE_BYTES} bytes are refused")
    return decode_image(p.read_bytes(), str(p))
