"""Source packages from PyPI, fetched and checked without building them (``pip download`` would)."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

from edge_sdk.errors import InvalidInputError

INDEX = "https://pypi.org/simple"  # the JSON form of the simple index (PEP 691)


def fetch_sdist(name: str, version: str, dest: Path) -> Path:
    """Download ``name``'s ``version`` source archive into ``dest`` (once) and check its SHA-256.

    Raises:
        InvalidInputError: That release has no source archive, or the download does not match its hash.
    """
    request = urllib.request.Request(f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        files = json.load(r)["files"]
    wanted = f"{name}-{version}.tar.gz".lower().replace("_", "-")  # archives spell the name with - or _
    sdists = [f for f in files if f["filename"].lower().replace("_", "-") == wanted and not f.get("yanked")]
    if not sdists:
        raise InvalidInputError(f"{name} {version} has no source archive on PyPI")
    info = sdists[0]
    sha256 = info["hashes"]["sha256"]
    path = Path(dest) / info["filename"]
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(info["url"], timeout=300) as r:
            data = r.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise InvalidInputError(f"{info['filename']} does not match the SHA-256 PyPI lists for it")
        path.write_bytes(data)
    return path
