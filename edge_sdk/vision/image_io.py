"""Decoding image files with OpenCV: size checked from the header first, EXIF orientation applied, 16-bit kept.

A file declares its pixel count in its header; a few megabytes of PNG can declare 30000 x 30000 pixels
and make a decoder allocate gigabytes (a decompression bomb). :func:`image_size` reads the size from the
header of every format accepted here, and :func:`decode_image` refuses an image over ``max_pixels``
before OpenCV sees it. Formats whose header is not read here are refused, not decoded blind.

OpenCV is imported lazily so that ``import edge_sdk.vision`` works without it.
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np

from edge_sdk.errors import InputTooLargeError, InvalidInputError, require
from edge_sdk.inputfile import check_input_file, read_input_file

MAX_IMAGE_BYTES = 256 * 2**20
# 50 megapixels: a 48 Mpx phone photo (8000 x 6000) fits; decoded as 8-bit RGB it is 150 MB.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
MAX_PIXELS_ENV = "EDGE_SDK_MAX_IMAGE_PIXELS"
FORMATS = "JPEG, PNG, BMP, TIFF, WebP, GIF or PNM"


def _cv2():
    return require("cv2", "camera")


def default_max_pixels() -> int:
    """The pixel limit: ``$EDGE_SDK_MAX_IMAGE_PIXELS`` when set, else :data:`DEFAULT_MAX_IMAGE_PIXELS`.

    Raises:
        InvalidInputError: The variable is set but not a whole number >= 1.
    """
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInputError(f"{MAX_PIXELS_ENV}={raw!r} is not a whole number of pixels >= 1, e.g. 100000000")
    return value


def check_max_pixels(value, where: str = "max_image_pixels") -> int | None:
    """``value`` when it is None or a whole number >= 1; else InvalidInputError naming ``where``."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidInputError(f"{where}={value!r}: use a whole number of pixels >= 1, or None for ${MAX_PIXELS_ENV} "
                                f"(default {DEFAULT_MAX_IMAGE_PIXELS})")
    return value


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOFn segment of a JPEG."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # TEM, RSTn, SOI: no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA or length < 2:  # scan data before any frame header
            return None
        pos += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first IFD of a classic TIFF."""
    end = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (ifd,) = struct.unpack(end + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(end + "H", data[ifd : ifd + 2])
    found: dict[int, int] = {}
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(data):
            break
        tag, kind = struct.unpack(end + "HH", data[at : at + 4])
        if tag in (256, 257):
            fmt = {3: "H", 4: "I"}.get(kind)
            if fmt is None:
                return None
            (found[tag],) = struct.unpack(end + fmt, data[at + 8 : at + 8 + struct.calcsize(fmt)])
    return (found[256], found[257]) if len(found) == 2 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_PNM = re.compile(rb"P[1-7fF]((?:\s+|#[^\n]*\n)+)(\d+)((?:\s+|#[^\n]*\n)+)(\d+)")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) that an encoded image declares in its header, or None when the format is not recognised.

    Reads JPEG (SOFn), PNG (IHDR), BMP, TIFF (first IFD), WebP (VP8, VP8L, VP8X), GIF (logical screen) and
    PNM/PFM headers; nothing is decoded.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        (header,) = struct.unpack("<I", data[14:18])
        if header == 12:
            return struct.unpack("<HH", data[18:22])
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if m := _PNM.match(data[:512]):
        return int(m.group(2)), int(m.group(4))
    return None


def check_pixels(data: bytes, name: str, max_pixels: int) -> tuple[int, int]:
    """The declared (width, height), after refusing unknown formats and images over ``max_pixels``.

    Raises:
        InputTooLargeError: The header declares more than ``max_pixels`` pixels.
        InvalidInputError: The format is not one whose header is read here, or it declares zero pixels.
    """
    size = image_size(data)
    if size is None:
        raise InvalidInputError(f"{name}: cannot decode it: not a {FORMATS} image whose size can be read from its header "
                                "(not an image, another format, or a truncated header)")
    width, height = size
    if width * height == 0:
        raise InvalidInputError(f"{name}: the header declares {width} x {height} pixels; the image is empty or damaged")
    if width * height > max_pixels:
        raise InputTooLargeError(
            f"{name}: the image declares {width} x {height} = {width * height / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.1f} megapixels ({max_pixels} pixels); it was not decoded. To accept it, raise the limit: "
            f"FrameClassifierOptions(max_image_pixels=...), ${MAX_PIXELS_ENV}, or --max-pixels")
    return width, height


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int | None = None) -> np.ndarray:
    """Decode encoded image bytes to an HxW or HxWx3 array in BGR order (uint8 or uint16).

    The size is read from the header and checked against ``max_pixels`` before anything is decoded.
    EXIF orientation is applied; an alpha channel is dropped (as PIL's ``convert("RGB")``);
    16-bit PNG/TIFF keep their depth (:func:`preprocess` scales them).

    Args:
        data: The encoded file.
        name: How errors name the input.
        max_pixels: Largest width x height accepted; None uses :func:`default_max_pixels`.

    Raises:
        InputTooLargeError: The image declares more pixels than ``max_pixels``.
        InvalidInputError: Empty, unrecognised, undecodable or truncated data (a JPEG without its end marker).
    """
    if not data:
        raise InvalidInputError(f"{name}: file is empty; pass a {FORMATS} image")
    check_pixels(data, name, check_max_pixels(max_pixels) or default_max_pixels())
    cv2 = _cv2()
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if arr is None or arr.size == 0:
        raise InvalidInputError(f"{name}: OpenCV cannot decode it (not an image, unsupported format, or truncated)")
    # libjpeg decodes a truncated JPEG to a grey-padded image with only a warning: refuse it instead.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        raise InvalidInputError(f"{name}: JPEG is truncated (no end-of-image marker); the file is incomplete")
    return arr


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read and decode an image file (see :func:`decode_image`).

    Raises:
        InputNotFoundError: The file does not exist (also a ``FileNotFoundError``).
        InputTooLargeError: Over 256 MiB, or more pixels than ``max_pixels``.
        InvalidInputError: Not a regular readable file, or not decodable.
    """
    p = check_input_file(path, "image file")
    return decode_image(read_input_file(p, "image file", MAX_IMAGE_BYTES), str(p), max_pixels)
