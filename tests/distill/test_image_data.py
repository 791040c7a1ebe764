"""Packaged photographs: which images pass as photos, how they are flattened, de-duplicated, capped and named."""

from __future__ import annotations

import io
import struct
import zlib
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.data.image_data import (
    Source,
    _photos,
    evenly_spaced,
    flat_name,
    flatten,
    licence_of,
    licence_rules,
    photo_problem,
    pixel_digest,
    rcc_entries,
)


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture, opaque RGBA: many colours, like a photograph."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, size=(h, w, 3)).astype(np.float32)
    smooth = (base + np.roll(base, 1, 0) + np.roll(base, 1, 1)) / 3
    alpha = np.full((h, w, 1), 255, np.uint8)
    return np.concatenate([smooth.astype(np.uint8), alpha], axis=-1)


def _drawing(h: int = 200, w: int = 200) -> np.ndarray:
    """Four flat colour blocks and a black outline: a cartoon."""
    out = np.zeros((h, w, 4), np.uint8)
    out[..., 3] = 255
    out[: h // 2, : w // 2, :3] = (200, 40, 40)
    out[: h // 2, w // 2:, :3] = (40, 200, 40)
    out[h // 2:, : w // 2, :3] = (40, 40, 200)
    out[h // 2:, w // 2:, :3] = (230, 200, 30)
    out[h // 2 - 2: h // 2 + 2, :, :3] = 0
    return out


def test_small_images_and_flat_colour_drawings_are_not_photos():
    assert photo_problem(_photo(120, 400)) == "small"
    assert photo_problem(_drawing()) == "drawing"
    assert photo_problem(_photo(200, 300)) is None
    on_white = np.full((300, 300, 4), 255, np.uint8)  # a product shot: the white background does not count
    on_white[100:200, 100:200] = _photo(100, 100)
    assert photo_problem(on_white) is None
    cut_out = _photo(200, 200)  # a stamp: a photo with a transparent surround
    cut_out[:50, :, 3] = 0
    assert photo_problem(cut_out) is None


def test_transparency_is_flattened_onto_a_seeded_plain_colour():
    rgba = _photo(4, 6)
    rgba[:, :3, 3] = 0  # left half transparent
    rgba[0, 3, 3] = 128  # one half-transparent pixel
    rgb = flatten(rgba, "pkg:a.png")
    background = rgb[0, 0]
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert (rgb[:, :3] == background).all()
    assert (rgb[1:, 3:] == rgba[1:, 3:, :3]).all()
    expected = (rgba[0, 3, :3].astype(int) * 128 + background.astype(int) * 127 + 127) // 255
    assert (rgb[0, 3] == expected).all()
    assert (flatten(rgba, "pkg:a.png") == rgb).all()
    assert any((flatten(rgba, f"pkg:{k}.png")[0, 0] != background).any() for k in "bcd")
    opaque = _photo(4, 6)
    assert (flatten(opaque, "x") == opaque[..., :3]).all()


def test_duplicates_are_found_by_decoded_pixels_not_by_file_bytes():
    rgba = _photo(40, 50)
    files = []
    for fmt, options in (("PNG", {}), ("WEBP", {"lossless": True})):
        buf = io.BytesIO()
        Image.fromarray(rgba).save(buf, fmt, **options)
        files.append(buf.getvalue())
    decoded = [np.asarray(Image.open(io.BytesIO(f)).convert("RGBA")) for f in files]
    assert files[0] != files[1]
    assert pixel_digest(decoded[0]) == pixel_digest(decoded[1]) == pixel_digest(rgba)
    changed = rgba.copy()
    changed[0, 0, 0] ^= 1
    assert pixel_digest(changed) != pixel_digest(rgba)
    assert pixel_digest(rgba.reshape(50, 40, 4)) != pixel_digest(rgba)


def test_the_per_source_cap_picks_evenly_spaced_items():
    assert evenly_spaced(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert evenly_spaced(list(range(7)), 3) == [0, 2, 4]
    assert evenly_spaced(list(range(3)), 5) == [0, 1, 2]
    assert evenly_spaced(list("abcdef"), 1) == ["a"]


def test_flat_names_join_folders_and_leave_out_noise():
    assert flat_name("animals/birds/duck.png") == "animals-birds-duck.jpg"
    assert flat_name("categorization/resource/images/fishes/fish1.webp") == "categorization-fishes-fish1.jpg"
    assert flat_name("Path/contents/images/2560x1600.jpg") == "Path-2560x1600.jpg"
    assert flat_name("a b/c&d.png") == "a_b-c_d.jpg"


def _rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A Qt resource archive (format 3) with one folder ``a`` holding ``files`` (name -> (bytes, zlib-packed))."""
    names, payload, entries = b"", b"", []

    def add_name(text: str) -> int:
        nonlocal names
        at = len(names)
        names += struct.pack(">HI", len(text), 0) + text.encode("utf-16-be")
        return at

    stamp = b"\0" * 8
    entries.append(struct.pack(">IHII", 0, 2, 1, 1) + stamp)  # root: one child, at index 1
    entries.append(struct.pack(">IHII", add_name("a"), 2, len(files), 2) + stamp)
    for name, (data, packed) in files.items():
        stored = struct.pack(">I", len(data)) + zlib.compress(data) if packed else data
        entries.append(struct.pack(">IHHHI", add_name(name), int(packed), 0, 0, len(payload)) + stamp)
        payload += struct.pack(">I", len(stored)) + stored
    tree = b"".join(entries)
    header = 24
    return b"qres" + struct.pack(">IIIII", 3, header, header + len(tree), header + len(tree) + len(payload), 0) + tree + payload + names


def test_qt_resource_archives_are_read_plain_and_zlib_packed():
    archive = _rcc({"x.webp": (b"RIFF-image", False), "y.qml": (b"import QtQuick 2.0\n" * 20, True)})
    assert dict(rcc_entries(archive)) == {"/a/x.webp": b"RIFF-image", "/a/y.qml": b"import QtQuick 2.0\n" * 20}
    with pytest.raises(InvalidInputError):
        list(rcc_entries(b"not an archive" * 3))


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2010 Many People
License: GPL-3+

Files: src/fish/fish1.jpg
       src/fish/fish2.jpg
Copyright: Jane Doe
License: CC-BY-SA-3.0
 Licence text, which is not the licence's name.

Files: src/fish/fish2.jpg
Copyright: John Roe
License: public-domain
"""


def test_licences_come_from_the_last_matching_copyright_paragraph():
    rules = licence_rules(COPYRIGHT)
    assert [r[1] for r in rules] == ["GPL-3+", "CC-BY-SA-3.0", "public-domain"]
    assert licence_of(rules, "src/fish/fish1.webp") == ("CC-BY-SA-3.0", "Jane Doe")  # shipped converted to webp
    assert licence_of(rules, "src/fish/fish2.webp") == ("public-domain", "John Roe")
    assert licence_of(rules, "src/other/cat.webp") == ("GPL-3+ (Files: *)", "2010 Many People")
    assert licence_of([], "x.png")[0].startswith("unknown")


def test_a_package_tree_yields_new_photos_and_counts_the_rest(tmp_path):
    folder = tmp_path / "usr/share/pics"
    (folder / "keep").mkdir(parents=True)
    (folder / "skip").mkdir()
    photo = _photo(200, 260, seed=1)
    Image.fromarray(photo).save(folder / "keep/a.png")
    Image.fromarray(photo).save(folder / "keep/b.webp", lossless=True)  # same pixels
    Image.fromarray(_photo(100, 300, seed=2)).save(folder / "keep/c.png")
    Image.fromarray(_drawing()).save(folder / "keep/d.png")
    Image.fromarray(_photo(700, 900, seed=3)[..., :3]).save(folder / "keep/e.jpg")
    Image.fromarray(_photo(200, 200, seed=4)).save(folder / "skip/f.png")
    (folder / "keep/g.png").symlink_to(folder / "keep/a.png")
    (folder / "keep/notes.txt").write_text("not an image")
    skipped: Counter = Counter()
    photos = _photos(Source("demo", "usr/share/pics/", keep=r"^keep/"), tmp_path, set(), skipped)
    assert [p[0] for p in photos] == ["usr/share/pics/keep/a.png", "usr/share/pics/keep/e.jpg"]
    assert skipped == {"duplicate": 1, "small": 1, "drawing": 1}
    big = Image.open(io.BytesIO(photos[1][2]))
    assert big.format == "JPEG" and big.size == (640, 498)
    again = _photos(Source("demo", "usr/share/pics/", keep=r"^keep/"), tmp_path, set(), Counter())
    assert [p[2] for p in again] == [p[2] for p in photos]  # byte-identical
