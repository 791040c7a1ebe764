"""Debian packages as data sources: fetched with ``apt-get download`` and unpacked with ``dpkg-deb`` (no root needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edge_sdk.errors import InvalidInputError, MissingDependencyError


def require_tools(purpose: str) -> None:
    """Raise unless ``apt-get`` and ``dpkg-deb`` are installed; ``purpose`` (plural) names what needs them."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise MissingDependencyError(f"{purpose} need Debian's {tool}")


def download(packages: tuple[str, ...] | list[str], work: Path) -> dict[str, Path]:
    """Download the ``.deb`` of each package into ``work``; returns package name -> ``.deb`` file.

    Raises:
        InvalidInputError: apt-get could not fetch one of them (unknown package, no network).
    """
    work = Path(work)
    done = subprocess.run(["apt-get", "download", *packages], cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        raise InvalidInputError(f"apt-get download {' '.join(packages)} failed: {done.stderr.strip()[-500:]}")
    debs = {field(deb, "Package"): deb for deb in sorted(work.glob("*.deb"))}
    missing = [p for p in packages if p not in debs]
    if missing:
        raise InvalidInputError(f"apt-get download fetched no .deb for {', '.join(missing)}")
    return {p: debs[p] for p in packages}


def field(deb: Path, name: str) -> str:
    """One control field of a ``.deb`` (``Package``, ``Version``, ...)."""
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], check=True, capture_output=True, text=True).stdout.strip()


def unpack(deb: Path, tree: Path) -> Path:
    """Extract the files of ``deb`` under ``tree`` (created if missing); returns ``tree``."""
    tree.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    return tree
