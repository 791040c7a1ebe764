"""Package archives from the npm registry, fetched and checked against the integrity hash the registry lists."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from pathlib import Path

from edge_sdk.errors import InvalidInputError

REGISTRY = "https://registry.npmjs.org"


def check_integrity(data: bytes, integrity: str, name: str) -> None:
    """Raise unless ``data`` matches an SRI ``sha512-<base64>`` string (what npm lists as ``dist.integrity``)."""
    algo, _, digest = integrity.partition("-")
    if algo != "sha512" or not digest:
        raise InvalidInputError(f"{name}: unsupported integrity {integrity!r} (expected sha512-...)")
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != digest:
        raise InvalidInputError(f"{name} does not match the sha512 the npm registry lists for it")


def fetch_tarball(name: str, version: str, dest: Path) -> Path:
    """Download ``name``'s ``version`` tarball into the folder ``dest`` and check its integrity.

    Raises:
        InvalidInputError: The download does not match the registry's hash.
    """
    with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=60) as r:
        dist = json.load(r)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=300) as r:
        data = r.read()
    check_integrity(data, dist["integrity"], name)
    path = Path(dest) / f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
    path.write_bytes(data)
    return path
