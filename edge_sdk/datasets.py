"""Where the evaluation data lives: speech clips, photos, video clips and texts with their references.

The repository ships it in ``data/`` (openly licensed; ``data/README.md`` names every source and license), so a
clone needs nothing beside it. ``EDGE_SDK_DATA`` points at another folder of the same layout (``speech/``,
``images/``, ``video/``, ``text/``), e.g. a larger held-out set.
"""

from __future__ import annotations

import os
from pathlib import Path

from edge_sdk.errors import InvalidInputError

REPO_DATA = Path(__file__).resolve().parents[1] / "data"  # in a checkout or an editable install


def data_dir(given: str | os.PathLike | None = None) -> Path:
    """The data folder: ``given``, else ``$EDGE_SDK_DATA``, else the repository's ``data/``.

    A folder may hold only the parts its user reads (``images/`` for a vision run); each reader names the part it
    misses.

    Raises:
        InvalidInputError: The folder holds none of ``speech/``, ``images/``, ``video/``, ``text/``, e.g. an
            installed wheel without a checkout and no ``EDGE_SDK_DATA``.
    """
    chosen = given or os.environ.get("EDGE_SDK_DATA") or REPO_DATA
    path = Path(chosen)
    if not any((path / part).is_dir() for part in ("speech", "images", "video", "text")):
        how = "--data" if given else "EDGE_SDK_DATA" if os.environ.get("EDGE_SDK_DATA") else "EDGE_SDK_DATA (no checkout here)"
        raise InvalidInputError(f"no evaluation data at {path}: it holds none of speech/, images/, video/, text/; set {how} "
                                "to a folder of that layout (the repository's data/ is one)")
    return path
