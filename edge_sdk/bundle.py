"""Model bundles: a folder with ``bundle.json`` and the files it names, each with its sha256.

Loading validates ``bundle.json`` and refuses paths that leave the folder. File bytes are
read, hashed and handed to onnxruntime as the same bytes, so a file cannot be swapped between
the check and the load, and ONNX external-data paths are never followed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import BundleError, BundleNotFoundError, InvalidInputError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_BUNDLE_JSON_BYTES = 4 * 2**20
TASKS = ("speech", "vision", "text")


def home() -> Path:
    """``$EDGE_SDK_HOME`` or ``~/.cache/edge-sdk``."""
    return Path(os.environ.get("EDGE_SDK_HOME") or Path.home() / ".cache" / "edge-sdk")


def bundles_dir() -> Path:
    return home() / "bundles"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """A file of the bundle: path relative to the bundle folder, sha256, size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Variant:
    """One precision or size of the model (``fp32``, ``int8``, ``distilled-int8``, ...).

    ``preprocessing`` overrides the bundle's keys for this variant alone, e.g. the ``alignment_heads``
    of a distilled Whisper decoder that kept 2 of the teacher's 4 layers.
    """

    name: str
    files: dict[str, FileEntry]
    metrics: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def int8_mismatch(self, int8_format: str) -> str:
        """Why this variant computes other numbers than its build measured on a profile running ``int8_format``
        (empty when it does not): a ``u8s8`` build saturates u8 x s8 products in int16 on the kernels of a
        ``u8u8`` profile (x86 without VNNI), so its measured accuracy does not hold there."""
        built = self.recipe.get("int8_format")
        if built == "u8s8" and int8_format == "u8u8":
            return (f"variant {self.name!r} was quantized u8s8 (for VNNI or ARM dot-product kernels); this CPU's "
                    f"profile runs int8 as u8u8, where u8 x s8 products saturate. Build the bundle here or for this "
                    f"profile (edge-sdk --profile x86_64-avx2 prepare), or ask for a float variant")
        return ""


def _check_relpath(rel: str, where: str) -> str:
    if not isinstance(rel, str) or not rel:
        raise BundleError(f"{where}: file path must be a non-empty string, got {rel!r}")
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or ".." in p.parts or "\x00" in rel:
        raise BundleError(f"{where}: path {rel!r} leaves the bundle folder; bundle paths must be relative and stay inside it")
    return rel


def _file_entry(raw, where: str) -> FileEntry:
    if not isinstance(raw, dict):
        raise BundleError(f"{where}: expected an object with path, sha256, size, got {type(raw).__name__}")
    try:
        entry = FileEntry(_check_relpath(raw["path"], where), str(raw["sha256"]), int(raw["size"]))
    except KeyError as exc:
        raise BundleError(f"{where}: missing field {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{where}: bad field value ({exc})") from exc
    if len(entry.sha256) != 64 or any(c not in "0123456789abcdef" for c in entry.sha256):
        raise BundleError(f"{where}: sha256 {entry.sha256!r} is not 64 lowercase hex digits")
    return entry


def _files(raw, where: str) -> dict[str, FileEntry]:
    if not isinstance(raw, dict):
        raise BundleError(f"{where}: 'files' must be an object of role -> file")
    return {str(role): _file_entry(v, f"{where}.{role}") for role, v in raw.items()}


@dataclass(frozen=True)
class Bundle:
    """A validated bundle. Create with :func:`load_bundle`."""

    root: Path
    name: str
    task: str
    family: str
    source: dict
    preprocessing: dict
    assets: dict[str, FileEntry]
    variants: dict[str, Variant]
    extra: dict = field(default_factory=dict)

    def preprocessing_of(self, variant: Variant) -> dict:
        """The bundle's preprocessing with ``variant``'s own keys on top."""
        return {**self.preprocessing, **variant.preprocessing}

    def choose_variant(self, requested: str | None, preference: tuple[str, ...] = (), int8_format: str = "") -> Variant:
        """The caller's variant, else the first of ``preference`` the bundle has that runs as built on a profile
        whose int8 format is ``int8_format`` (a skipped int8 variant is logged with the reason).

        Raises:
            InvalidInputError: The requested variant is not in the bundle.
            BundleError: The requested variant's int8 format saturates on this profile's kernels.
        """
        if requested:
            if requested not in self.variants:
                raise InvalidInputError(
                    f"bundle {self.name!r} has no variant {requested!r}; it has {sorted(self.variants)}"
                )
            if problem := self.variants[requested].int8_mismatch(int8_format):
                raise BundleError(f"bundle {self.name!r}: {problem}")
            return self.variants[requested]
        for name in preference:
            if name in self.variants:
                if problem := self.variants[name].int8_mismatch(int8_format):
                    log.warning("bundle %r: skipping %s", self.name, problem)
                    continue
                return self.variants[name]
        for name in ("fp32", *self.variants):
            if name in self.variants:
                return self.variants[name]
        raise BundleError(f"bundle {self.name!r} has no variants")

    def path_of(self, entry: FileEntry) -> Path:
        """Absolute path of a bundle file, refusing symlinks that lead outside the folder."""
        path = self.root / entry.path
        real = path.resolve()
        if not real.is_relative_to(self.root.resolve()):
            raise BundleError(f"bundle {self.name!r}: {entry.path!r} resolves to {real}, outside the bundle folder")
        if not real.is_file():
            raise BundleNotFoundError(f"bundle {self.name!r}: file {entry.path!r} is missing; rebuild with 'edge-sdk prepare'")
        return path

    def read(self, entry: FileEntry) -> bytes:
        """Read a bundle file and verify its size and sha256.

        Raises:
            BundleError: The hash or size does not match ``bundle.json`` (tampered or truncated file).
            BundleNotFoundError: The file is missing.
        """
        data = self.path_of(entry).read_bytes()
        if len(data) != entry.size or sha256_bytes(data) != entry.sha256:
            raise BundleError(
                f"bundle {self.name!r}: {entry.path!r} fails verification (sha256 {sha256_bytes(data)[:12]}..., "
                f"{len(data)} bytes; expected {entry.sha256[:12]}..., {entry.size} bytes). The file was modified or "
                f"truncated; rebuild the bundle with 'edge-sdk prepare'"
            )
        return data

    def read_asset(self, role: str) -> bytes:
        if role not in self.assets:
            raise BundleError(f"bundle {self.name!r} has no asset {role!r}; it has {sorted(self.assets)}")
        return self.read(self.assets[role])

    def verify(self) -> list[str]:
        """Check every file of every variant; return the problems found (empty when all match)."""
        problems = []
        entries = list(self.assets.values()) + [f for v in self.variants.values() for f in v.files.values()]
        for entry in entries:
            try:
                path = self.path_of(entry)
                if path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
                    problems.append(f"{entry.path}: sha256 or size does not match bundle.json")
            except (BundleError, BundleNotFoundError) as exc:
                problems.append(str(exc))
        return problems


def parse_bundle(root: Path, data) -> Bundle:
    """Validate a parsed ``bundle.json``.

    Raises:
        BundleError: Unknown format version, wrong types, or unsafe paths.
    """
    if not isinstance(data, dict):
        raise BundleError(f"{root}/bundle.json must hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{root}/bundle.json has format_version {version!r}; this edge-sdk reads version {FORMAT_VERSION}. "
            f"Rebuild the bundle with this version's 'edge-sdk prepare'"
        )
    for key, kind in (("name", str), ("task", str), ("family", str), ("variants", dict)):
        if not isinstance(data.get(key), kind):
            raise BundleError(f"{root}/bundle.json: field {key!r} must be a {kind.__name__}")
    if data["task"] not in TASKS:
        raise BundleError(f"{root}/bundle.json: task {data['task']!r} is not one of {TASKS}")
    variants = {}
    for name, raw in data["variants"].items():
        if not isinstance(raw, dict):
            raise BundleError(f"{root}/bundle.json: variant {name!r} must be an object")
        variants[name] = Variant(
            name=name,
            files=_files(raw.get("files", {}), f"variants.{name}.files"),
            metrics=raw.get("metrics", {}) if isinstance(raw.get("metrics", {}), dict) else {},
            recipe=raw.get("recipe", {}) if isinstance(raw.get("recipe", {}), dict) else {},
            preprocessing=raw.get("preprocessing", {}) if isinstance(raw.get("preprocessing", {}), dict) else {},
        )
    known = {"format_version", "name", "task", "family", "source", "preprocessing", "assets", "variants"}
    return Bundle(
        root=root,
        name=data["name"],
        task=data["task"],
        family=data["family"],
        source=data.get("source") or {},
        preprocessing=data.get("preprocessing") or {},
        assets=_files(data.get("assets", {}), "assets"),
        variants=variants,
        extra={k: v for k, v in data.items() if k not in known},
    )


def resolve_bundle_path(name_or_path: str | os.PathLike) -> Path:
    """A bundle folder given as a path, or by name in the store."""
    path = Path(name_or_path)
    if (path / "bundle.json").is_file():
        return path
    stored = bundles_dir() / str(name_or_path)
    if (stored / "bundle.json").is_file():
        return stored
    raise BundleNotFoundError(
        f"no bundle {str(name_or_path)!r} (looked in {path} and {stored}); build the defaults with 'edge-sdk prepare'"
    )


def load_bundle(name_or_path: str | os.PathLike) -> Bundle:
    """Load and validate a bundle by store name or folder path (hashes are checked on read).

    Raises:
        BundleNotFoundError: No such bundle.
        BundleError: ``bundle.json`` is malformed, too large, or unsafe.
    """
    root = resolve_bundle_path(name_or_path)
    meta = root / "bundle.json"
    if meta.is_symlink():
        raise BundleError(f"{meta} is a symlink; bundle.json must be a regular file")
    size = meta.stat().st_size
    if size > MAX_BUNDLE_JSON_BYTES:
        raise BundleError(f"{meta} is {size} bytes; the limit is {MAX_BUNDLE_JSON_BYTES}")
    try:
        data = json.loads(meta.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{meta} is not valid JSON: {exc}") from exc
    return parse_bundle(root, data)


def list_bundles() -> list[Bundle]:
    """Every loadable bundle in the store (malformed ones are skipped)."""
    out = []
    if bundles_dir().is_dir():
        for d in sorted(bundles_dir().iterdir()):
            try:
                out.append(load_bundle(d))
            except (BundleError, BundleNotFoundError):
                continue
    return out
