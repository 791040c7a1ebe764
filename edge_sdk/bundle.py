"""Model bundles: a folder with ``bundle.json`` and the files it names, each with its sha256.

Loading validates ``bundle.json`` strictly (duplicate keys, non-finite numbers and wrong types are refused, naming the
key) and refuses paths that leave the folder. A file's size on disk is compared with the declared size before a byte
of it is read. File bytes are read, hashed and handed to onnxruntime as the same bytes, so a file cannot be swapped
between the check and the load, and ONNX external-data paths are never followed. The bytes ``bundle.json`` was parsed
from are kept, so a signature (``bundle.sig``, see :mod:`edge_sdk.signing`) is checked over exactly what was loaded.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import BundleError, BundleNotFoundError, InvalidInputError, RefusedVariantError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_BUNDLE_JSON_BYTES = 4 * 2**20
TASKS = ("speech", "vision", "text")
SIGNATURE_FILE = "bundle.sig"
REFUSED_SUFFIX = "-refused"  # a candidate its quality gate refused, kept in the bundle for inspection

# Set by allowing_refused_variants() (the command line's --allow-refused): refused variants may load in this context.
_ALLOW_REFUSED: contextvars.ContextVar[bool] = contextvars.ContextVar("edge_sdk_allow_refused", default=False)


@contextlib.contextmanager
def allowing_refused_variants(allow: bool = True) -> Iterator[None]:
    """Within this block, :meth:`Bundle.choose_variant` loads a variant its quality gate refused when asked by name.

    The options' ``allow_refused=True`` does the same for one task; this is how ``--allow-refused`` reaches every
    task a command creates.
    """
    token = _ALLOW_REFUSED.set(allow)
    try:
        yield
    finally:
        _ALLOW_REFUSED.reset(token)


def allow_refused_variants_from_now() -> None:
    """For the command line: allow refused variants for the rest of the current context (``edge_sdk.cli.main`` runs
    each command in a context of its own, so this never outlives the command)."""
    _ALLOW_REFUSED.set(True)


def home() -> Path:
    """``$EDGE_SDK_HOME`` or ``~/.cache/edge-sdk``."""
    return Path(os.environ.get("EDGE_SDK_HOME") or Path.home() / ".cache" / "edge-sdk")


def bundles_dir() -> Path:
    return home() / "bundles"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_stream(f) -> str:
    """sha256 of what is left in a binary file object, read in 1 MiB blocks."""
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return sha256_stream(f)


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
        """Why this variant computes other numbers than its build measured where int8 runs as ``int8_format``
        (empty when it does not): a ``u8s8`` build saturates u8 x s8 products in int16 on a ``u8u8`` kernel
        (x86 without VNNI), so its measured accuracy does not hold there."""
        built = self.recipe.get("int8_format")
        if built == "u8s8" and int8_format == "u8u8":
            return (f"variant {self.name!r} was quantized u8s8 (for VNNI or ARM dot-product kernels), and on x86 without "
                    f"VNNI u8 x s8 products saturate. Build the bundle for this target (edge-sdk --profile x86_64-avx2 "
                    f"prepare, or prepare on it), or ask for a float variant")
        return ""


def _show(value) -> str:
    """A short repr for error messages (never the whole of a huge value)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


class _NonFinite:
    """What the strict decoder puts where JSON holds NaN, Infinity or a number too large for a float (1e400)."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Object(dict):
    """A decoded JSON object that remembers the keys it held twice."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, object]]) -> _Object:
    obj, seen_twice = _Object(), []
    for key, value in pairs:
        if key in obj:
            seen_twice.append(key)
        obj[key] = value
    if seen_twice:
        obj.duplicates = tuple(seen_twice)
    return obj


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_json_values(data, where: str) -> None:
    """Refuse duplicate keys and non-finite numbers anywhere in ``data``, naming the key.

    Raises:
        BundleError: A key appears twice in one object, or a number is NaN, infinite or overflows a float.
    """
    stack = [(data, "")]
    while stack:  # iterative: nesting as deep as the JSON decoder allows cannot overflow the stack here
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in getattr(node, "duplicates", ()):
                raise BundleError(f"{where}: duplicate key {_join(path, key)!r}; every key may appear once")
            stack.extend((value, _join(path, str(key))) for key, value in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, _NonFinite) or (isinstance(node, float) and not math.isfinite(node)):
            text = node.text if isinstance(node, _NonFinite) else repr(node)
            raise BundleError(f"{where}: key {path or '(top level)'!r} holds {text}; numbers must be finite")


def loads_strict(raw: bytes, where: str):
    """Decode JSON refusing duplicate keys, NaN, Infinity and numbers that overflow a float.

    Raises:
        BundleError: Not valid JSON, or one of the above, naming the key.
    """
    try:
        data = json.loads(raw, object_pairs_hook=_object, parse_float=_float, parse_constant=_NonFinite)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise BundleError(f"{where} is not valid JSON: {exc}") from exc
    check_json_values(data, where)
    return data


def _check_relpath(rel, where: str) -> str:
    if not isinstance(rel, str) or not rel:
        raise BundleError(f"{where}: file path must be a non-empty string, got {_show(rel)}")
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or ".." in p.parts or "\x00" in rel:
        raise BundleError(f"{where}: path {rel!r} leaves the bundle folder; bundle paths must be relative and stay inside it")
    return rel


def _file_entry(raw, meta: str, key: str) -> FileEntry:
    if not isinstance(raw, dict):
        raise BundleError(f"{meta}: key {key!r} must be an object with path, sha256, size, got {type(raw).__name__}")
    for field_name in ("path", "sha256", "size"):
        if field_name not in raw:
            raise BundleError(f"{meta}: key {key!r} has no {field_name!r}")
    size, digest = raw["size"], raw["sha256"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BundleError(f"{meta}: key '{key}.size' must be a non-negative integer (bytes), got {_show(size)}")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BundleError(f"{meta}: key '{key}.sha256' {_show(digest)} is not 64 lowercase hex digits")
    return FileEntry(_check_relpath(raw["path"], f"{meta}: key '{key}.path'"), digest, size)


def _files(raw, meta: str, key: str, required: bool) -> dict[str, FileEntry]:
    if not isinstance(raw, dict):
        raise BundleError(f"{meta}: key {key!r} must be an object of role -> file, got {type(raw).__name__}")
    if required and not raw:
        raise BundleError(f"{meta}: key {key!r} is empty; a variant needs at least one file")
    return {role: _file_entry(value, meta, f"{key}.{role}") for role, value in raw.items()}


def _object_field(data: dict, key: str, meta: str, path: str = "") -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise BundleError(f"{meta}: key {_join(path, key)!r} must be an object, got {type(value).__name__}")
    return value


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
    raw_json: bytes = field(default=b"", repr=False, compare=False)  # the bytes parsed: what a signature covers

    @property
    def signature_path(self) -> Path:
        """Where the bundle's signature over ``bundle.json`` lives (it may not exist)."""
        return self.root / SIGNATURE_FILE

    def preprocessing_of(self, variant: Variant) -> dict:
        """The bundle's preprocessing with ``variant``'s own keys on top."""
        return {**self.preprocessing, **variant.preprocessing}

    def refusal(self, variant: str) -> str | None:
        """Why ``variant`` was refused by the quality gate that built it, or None when it was not (or is unknown).

        A refused candidate kept in a bundle is named ``<name>-refused`` with the reason under
        ``refused_variants[<name>]`` in ``bundle.json``, and its metrics say ``"gate": "refused"``.
        """
        v = self.variants.get(variant)
        refused = self.extra.get("refused_variants") if isinstance(self.extra.get("refused_variants"), dict) else {}
        base = variant.removesuffix(REFUSED_SUFFIX)
        gate = v.metrics.get("gate") if v is not None else None
        if gate == "refused" or (variant.endswith(REFUSED_SUFFIX) and base in refused):
            return str(refused.get(base) or refused.get(variant) or "its metrics say the gate refused it")
        return None

    def check_not_refused(self, variant: str, allow_refused: bool = False) -> None:
        """Refuse ``variant`` when its own quality gate refused it, unless the caller allowed it.

        Raises:
            RefusedVariantError: Refused by its gate, and neither ``allow_refused`` nor
                :func:`allowing_refused_variants` allows it; the message names the accepted variants and the opt-in.
        """
        if allow_refused or _ALLOW_REFUSED.get() or (why := self.refusal(variant)) is None:
            return
        accepted = sorted(v for v in self.variants if self.refusal(v) is None)
        raise RefusedVariantError(f"variant {variant!r} of bundle {self.name!r} was refused by its quality gate ({why}); "
                                  f"use one of {accepted}, or allow it for inspection (allow_refused=True in the task's "
                                  f"options; --allow-refused on the command line)")

    def choose_variant(self, requested: str | None, preference: tuple[str, ...] = (), int8_format: str = "",
                       allow_refused: bool = False) -> Variant:
        """The caller's variant, else the first of ``preference`` the bundle has that runs as built where int8 runs
        as ``int8_format`` (a skipped int8 variant is logged with the reason; "" accepts every format); when none of
        ``preference`` is there, ``fp32``, else the bundle's first other variant that runs here. A variant its own
        quality gate refused is never chosen unless named, and then it loads only with ``allow_refused``.

        Raises:
            InvalidInputError: The requested variant is not in the bundle.
            RefusedVariantError: The requested variant was refused by its gate and ``allow_refused`` is False.
            BundleError: The requested variant's int8 format saturates on this profile's kernels.
        """
        if requested:
            if requested not in self.variants:
                raise InvalidInputError(
                    f"bundle {self.name!r} has no variant {requested!r}; it has {sorted(self.variants)}"
                )
            self.check_not_refused(requested, allow_refused)
            if problem := self.variants[requested].int8_mismatch(int8_format):
                raise BundleError(f"bundle {self.name!r}: {problem}")
            return self.variants[requested]
        usable = [name for name in self.variants if self.refusal(name) is None]
        for name in preference:
            if name in usable:
                if problem := self.variants[name].int8_mismatch(int8_format):
                    log.warning("bundle %r: skipping %s", self.name, problem)
                    continue
                return self.variants[name]
        for name in ("fp32", *usable):
            if name in usable and not self.variants[name].int8_mismatch(int8_format):
                return self.variants[name]
        raise BundleError(f"bundle {self.name!r} has no variant its quality gate accepted ({sorted(self.variants)}); "
                          f"rebuild it with 'edge-sdk prepare', or name one and allow it (allow_refused=True)")

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
        """Read a bundle file and verify its size and sha256. The size on disk is checked before anything is read,
        so a huge (or sparse) file in place of a small one is refused without reading it.

        Raises:
            BundleError: The hash or size does not match ``bundle.json`` (tampered or truncated file).
            BundleNotFoundError: The file is missing.
        """
        with open(self.path_of(entry), "rb") as f:
            self.check_size(entry, os.fstat(f.fileno()).st_size)
            data = f.read(entry.size + 1)  # one byte more shows a file that grew since the stat
        self._check_digest(entry, sha256_bytes(data), len(data))
        return data

    @contextlib.contextmanager
    def verified_path(self, entry: FileEntry) -> Iterator[str]:
        """A path to a bundle file whose size and sha256 match ``bundle.json``, for a reader that takes paths
        (onnxruntime), so that no copy of the file is held in Python.

        The file is hashed through one open descriptor and the path handed out is that descriptor
        (``/proc/self/fd/N``, Linux): a file renamed over the original after the check is not the one read.
        Where ``/proc/self/fd`` is absent (not Linux) it is the checked file's own path. The size is checked
        before anything is read.

        Raises:
            BundleError: The hash or size does not match ``bundle.json``.
            BundleNotFoundError: The file is missing.
        """
        with open(self.path_of(entry), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.check_size(entry, size)
            self._check_digest(entry, sha256_stream(f), size)
            fd_path = f"/proc/self/fd/{f.fileno()}"
            yield fd_path if os.path.exists(fd_path) else str(self.path_of(entry))

    def _check_digest(self, entry: FileEntry, digest: str, size: int) -> None:
        if size != entry.size or digest != entry.sha256:
            raise BundleError(
                f"bundle {self.name!r}: {entry.path!r} fails verification (sha256 {digest[:12]}..., "
                f"{size} bytes; expected {entry.sha256[:12]}..., {entry.size} bytes). The file was modified or "
                f"truncated; rebuild the bundle with 'edge-sdk prepare'"
            )

    def check_size(self, entry: FileEntry, size: int) -> None:
        """Refuse a file whose size on disk (``size``) is not the one ``bundle.json`` declares."""
        if size != entry.size:
            raise BundleError(
                f"bundle {self.name!r}: {entry.path!r} is {size} bytes on disk but bundle.json declares {entry.size}; "
                f"the file was modified or truncated (refused without reading it); rebuild the bundle with 'edge-sdk prepare'"
            )

    def read_asset(self, role: str) -> bytes:
        if role not in self.assets:
            raise BundleError(f"bundle {self.name!r} has no asset {role!r}; it has {sorted(self.assets)}")
        return self.read(self.assets[role])

    def entries(self, variants: tuple[str, ...] | None = None) -> list[FileEntry]:
        """The assets and the files of ``variants`` (default: every variant)."""
        names = self.variants if variants is None else variants
        return list(self.assets.values()) + [f for v in names for f in self.variants[v].files.values()]

    def verify(self, variants: tuple[str, ...] | None = None) -> list[str]:
        """Check every file of ``variants`` (default: all) and the assets, size first, then the sha256 read in
        blocks; return the problems found (empty when all match)."""
        problems = []
        for entry in self.entries(variants):
            try:
                with open(self.path_of(entry), "rb") as f:
                    self.check_size(entry, os.fstat(f.fileno()).st_size)
                    if sha256_stream(f) != entry.sha256:
                        problems.append(f"{entry.path}: sha256 does not match bundle.json")
            except (BundleError, BundleNotFoundError) as exc:
                problems.append(str(exc))
        return problems


def parse_bundle(root: Path, data, raw_json: bytes = b"") -> Bundle:
    """Validate a parsed ``bundle.json`` (``raw_json``: the bytes it was decoded from, kept for signature checks).

    Raises:
        BundleError: Unknown format version, duplicate keys, non-finite numbers, wrong types, a variant without
            files, or unsafe paths; the message names the key.
    """
    meta = f"{root}/bundle.json"
    if not isinstance(data, dict):
        raise BundleError(f"{meta} must hold a JSON object")
    check_json_values(data, meta)
    version = data.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise BundleError(
            f"{meta} has format_version {_show(version)}; this edge-sdk reads version {FORMAT_VERSION}. "
            f"Rebuild the bundle with this version's 'edge-sdk prepare'"
        )
    for key in ("name", "task", "family"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise BundleError(f"{meta}: key {key!r} must be a non-empty string, got {_show(data.get(key))}")
    if data["task"] not in TASKS:
        raise BundleError(f"{meta}: task {data['task']!r} is not one of {TASKS}")
    if not isinstance(data.get("variants"), dict) or not data["variants"]:
        raise BundleError(f"{meta}: key 'variants' must be a non-empty object of name -> variant, got {_show(data.get('variants'))}")
    variants = {}
    for name, raw in data["variants"].items():
        key = f"variants.{name}"
        if not isinstance(raw, dict):
            raise BundleError(f"{meta}: key {key!r} must be an object, got {type(raw).__name__}")
        if "files" not in raw:
            raise BundleError(f"{meta}: key {key!r} has no 'files'; a variant needs at least one file")
        variants[name] = Variant(
            name=name,
            files=_files(raw["files"], meta, f"{key}.files", required=True),
            metrics=_object_field(raw, "metrics", meta, key),
            recipe=_object_field(raw, "recipe", meta, key),
            preprocessing=_object_field(raw, "preprocessing", meta, key),
        )
    known = {"format_version", "name", "task", "family", "source", "preprocessing", "assets", "variants"}
    return Bundle(
        root=root,
        name=data["name"],
        task=data["task"],
        family=data["family"],
        source=_object_field(data, "source", meta),
        preprocessing=_object_field(data, "preprocessing", meta),
        assets=_files(data.get("assets", {}), meta, "assets", required=False),
        variants=variants,
        extra={k: v for k, v in data.items() if k not in known},
        raw_json=raw_json,
    )


def read_bundle_json(path: Path) -> bytes:
    """The bytes of a ``bundle.json``, refusing a symlink or a file over :data:`MAX_BUNDLE_JSON_BYTES`.

    Raises:
        BundleError: A symlink, or too large.
    """
    if path.is_symlink():
        raise BundleError(f"{path} is a symlink; bundle.json must be a regular file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(MAX_BUNDLE_JSON_BYTES + 1)
    if size > MAX_BUNDLE_JSON_BYTES or len(raw) > MAX_BUNDLE_JSON_BYTES:
        raise BundleError(f"{path} is {max(size, len(raw))} bytes; the limit is {MAX_BUNDLE_JSON_BYTES}")
    return raw


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
    raw = read_bundle_json(root / "bundle.json")
    return parse_bundle(root, loads_strict(raw, str(root / "bundle.json")), raw)


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
