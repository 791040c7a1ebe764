"""Bundle archives: build here, run there.

:func:`export_bundles` packs verified bundles into one tar file (``.tar``, or gzip-compressed ``.tar.gz``/``.tgz``:
formats Python's standard library reads on every target). Each bundle is a folder ``<name>/`` holding
``bundle.json`` first, then ``bundle.sig`` when signed, then the assets and the chosen variants' files. Every file
is hashed as it is packed; a mismatch aborts the export and leaves no archive behind.

:func:`import_archive` reads the archive as a stream, one member at a time (memory stays bounded by one block and
one ``bundle.json``), and refuses, before anything is installed: absolute paths, ``..``, links, devices, members
that come before their ``bundle.json`` or that it does not list, sizes other than the declared ones, archives
over a total size limit, and files whose sha256 does not match. Files land in a private staging folder inside the
store; when the signature is required it is checked there too. Only then is each bundle moved into the store by
rename; an existing bundle of the same name is swapped out in the same step.
"""

from __future__ import annotations

import bz2
import ctypes
import errno
import gzip
import hashlib
import io
import json
import logging
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.bundle import (
    MAX_BUNDLE_JSON_BYTES,
    SIGNATURE_FILE,
    Bundle,
    FileEntry,
    bundles_dir,
    load_bundle,
    loads_strict,
    parse_bundle,
)
from edge_sdk.errors import BundleError, InvalidInputError

log = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 16 * 2**30  # the sum of member sizes an import accepts unless told otherwise
MAX_HEADER_READ = 8 * 2**20  # tarfile reads pax and long-name headers whole; no single read may ask for more
BLOCK = 1 << 20
BUNDLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
WRITE_MODES = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz"}


@dataclass(frozen=True)
class ExportedBundle:
    """One bundle written into an archive: the variants it carries, its file count and bytes, and whether the
    ``bundle.json`` in the archive is signed."""

    name: str
    variants: tuple[str, ...]
    files: int
    size_bytes: int
    signed: bool


@dataclass(frozen=True)
class ImportedBundle:
    """One bundle installed from an archive. ``signature``: the trusted key id that signed it when signatures were
    required, ``"carried"`` when a signature came along unchecked, ``""`` when unsigned."""

    name: str
    path: Path
    variants: tuple[str, ...]
    replaced: bool
    signature: str


# -- export ----------------------------------------------------------------------------------------------------------


def _write_mode(out: Path) -> str:
    for suffix, mode in WRITE_MODES.items():
        if out.name.endswith(suffix):
            return mode
    raise InvalidInputError(f"archive name {out.name!r} must end in one of {list(WRITE_MODES)} (zstd is not in Python's standard library)")


def chosen_variants(bundle: Bundle, variants: tuple[str, ...] | None = None, profile=None) -> tuple[str, ...]:
    """The variants to export: ``variants`` when given (each must exist), else the one a target running ``profile``
    (a :class:`edge_sdk.devices.Profile`) would load, else all of them. Bundle order is kept.

    Raises:
        InvalidInputError: A requested variant is not in the bundle.
    """
    if variants:
        missing = [v for v in variants if v not in bundle.variants]
        if missing:
            raise InvalidInputError(f"bundle {bundle.name!r} has no variant {missing}; it has {sorted(bundle.variants)}")
        return tuple(v for v in bundle.variants if v in variants)
    if profile is not None:
        return (bundle.choose_variant(None, profile.variants, profile.int8_format).name,)
    return tuple(bundle.variants)


class _HashingReader:
    """A read-only file wrapper that hashes what is read through it."""

    def __init__(self, f) -> None:
        self._f, self.sha256 = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        block = self._f.read(n)
        self.sha256.update(block)
        return block


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(mtime)
    tar.addfile(info, io.BytesIO(data))


def _add_verified(tar: tarfile.TarFile, bundle: Bundle, entry: FileEntry) -> None:
    with open(bundle.path_of(entry), "rb") as f:
        st = os.fstat(f.fileno())
        bundle.check_size(entry, st.st_size)
        info = tarfile.TarInfo(f"{bundle.name}/{entry.path}")
        info.size, info.mode, info.mtime = entry.size, 0o644, int(st.st_mtime)
        reader = _HashingReader(f)
        try:
            tar.addfile(info, reader)
        except OSError as exc:  # the file shrank while it was packed
            raise BundleError(f"bundle {bundle.name!r}: {entry.path!r} could not be packed: {exc}") from exc
    if reader.sha256.hexdigest() != entry.sha256:
        raise BundleError(
            f"bundle {bundle.name!r}: {entry.path!r} does not match its sha256 in bundle.json; nothing was exported. "
            f"Rebuild the bundle with 'edge-sdk prepare' (or check 'edge-sdk bundles --verify {bundle.name}')"
        )


def _archived_json(bundle: Bundle, variants: tuple[str, ...], key_path: Path | None) -> tuple[bytes, bytes | None]:
    """The ``bundle.json`` and ``bundle.sig`` bytes to pack: the originals when every variant goes, else a
    ``bundle.json`` listing only ``variants``, signed with ``key_path`` when given."""
    from edge_sdk import signing

    signed = bundle.signature_path.is_file()
    if variants == tuple(bundle.variants):
        if signed:
            return bundle.raw_json, bundle.signature_path.read_bytes()
        if key_path is None:
            return bundle.raw_json, None
        return bundle.raw_json, signing.signature_bytes(bundle.raw_json, signing.load_private_key(key_path))
    if signed and key_path is None:
        raise BundleError(
            f"bundle {bundle.name!r} is signed, and exporting some of its variants rewrites bundle.json; give the "
            f"signing key (--key or EDGE_SDK_SIGNING_KEY) to sign the new one, or export every variant"
        )
    data = loads_strict(bundle.raw_json, f"{bundle.root}/bundle.json")
    data["variants"] = {name: data["variants"][name] for name in variants}
    raw = (json.dumps(data, indent=2) + "\n").encode()
    if key_path is None:
        return raw, None
    key = signing.load_private_key(key_path)
    if signed:  # never launder a bundle whose signature no longer holds into a freshly signed one
        own = key.public_key()
        signing.verify_signature(bundle, {**signing.trusted_keys(), signing.key_id(own): own})
    return raw, signing.signature_bytes(raw, key)


def export_bundles(
    names: list[str],
    out: str | os.PathLike,
    variants: tuple[str, ...] | None = None,
    profile=None,
    signing_key: str | os.PathLike | None = None,
) -> list[ExportedBundle]:
    """Write bundles into one archive for a target.

    Args:
        names: Store names or folder paths of the bundles.
        out: Archive path ending in ``.tar``, ``.tar.gz`` or ``.tgz``; written atomically.
        variants: Variants to export (each bundle must have them); None: see ``profile``.
        profile: A target :class:`edge_sdk.devices.Profile`: export the variant it would load. None with no
            ``variants``: every variant.
        signing_key: Private key to sign the archived ``bundle.json`` with (default ``EDGE_SDK_SIGNING_KEY``).

    Returns:
        What was written, one entry per bundle.

    Raises:
        BundleError: A file fails its size or sha256 (nothing is written), or a signed bundle would lose its signature.
        BundleNotFoundError: No such bundle or file.
        InvalidInputError: Unknown archive suffix, a variant a bundle lacks, or two bundles of one name.
    """
    from edge_sdk.signing import configured_signing_key

    out = Path(out)
    mode = _write_mode(out)
    key_path = Path(signing_key).expanduser() if signing_key else configured_signing_key()
    bundles = [load_bundle(n) for n in names]
    seen = [b.name for b in bundles]
    if dupes := sorted({n for n in seen if seen.count(n) > 1}):
        raise InvalidInputError(f"bundles {dupes} are named more than once; an archive holds one bundle per name")
    plans = [(b, chosen_variants(b, variants, profile)) for b in bundles]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    written = []
    try:
        with tarfile.open(tmp, mode, format=tarfile.PAX_FORMAT, **({"compresslevel": 6} if mode == "w:gz" else {})) as tar:
            for b, chosen in plans:
                raw, sig = _archived_json(b, chosen, key_path)
                mtime = (b.root / "bundle.json").stat().st_mtime
                _add_bytes(tar, f"{b.name}/bundle.json", raw, mtime)
                if sig is not None:
                    _add_bytes(tar, f"{b.name}/{SIGNATURE_FILE}", sig, mtime)
                entries = {e.path: e for e in b.entries(chosen)}  # variants may share a file
                for entry in entries.values():
                    _add_verified(tar, b, entry)
                written.append(ExportedBundle(b.name, chosen, len(entries), sum(e.size for e in entries.values()), sig is not None))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


# -- import ----------------------------------------------------------------------------------------------------------


class _BoundedReads:
    """A seekable file wrapper that refuses any single read over ``MAX_HEADER_READ`` bytes: tarfile reads a pax or
    GNU long-name header whole, so a header that declares gigabytes would otherwise be read into memory."""

    def __init__(self, f, label: str) -> None:
        self._f, self._label = f, label

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_HEADER_READ:
            raise BundleError(f"{self._label}: a tar header asks to read {n} bytes at once; refused (limit {MAX_HEADER_READ})")
        return self._f.read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()


def _open_decompressed(path: Path):
    """The archive's tar stream: plain, or gzip / bzip2 / xz decompressed as it is read."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the returned object
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw), raw
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw), raw
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raw.close()
        raise BundleError(f"{path} is zstd-compressed, which this Python cannot read; export it as .tar.gz or .tar")
    return raw, raw


def _member_parts(member: tarfile.TarInfo, where: str) -> list[str]:
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"{where}: absolute path; archive members must be relative to the archive")
    parts = name.rstrip("/").split("/") if member.isdir() else name.split("/")
    if any(p == ".." for p in parts):
        raise BundleError(f"{where}: '..' in the path would leave the bundle store")
    if any(p in ("", ".") for p in parts) or "\\" in name or "\x00" in name:
        raise BundleError(f"{where}: path is not in normal form (empty, '.' or backslash parts)")
    return parts


def _member_kind(member: tarfile.TarInfo) -> str:
    for test, kind in ((member.issym, "symlink"), (member.islnk, "hard link"), (member.ischr, "character device"),
                       (member.isblk, "block device"), (member.isfifo, "FIFO"), (member.issparse, "sparse file")):
        if test():
            return kind
    return "regular file" if member.isreg() else f"tar entry of type {member.type!r}"


@dataclass
class _Staged:
    """A bundle being unpacked: the files its bundle.json lists and those already in staging."""

    root: Path
    expected: dict[str, FileEntry]
    seen: set[str] = field(default_factory=set)
    signed: bool = False


def _copy_verified(src, dst: Path, entry: FileEntry, where: str) -> None:
    h, n = hashlib.sha256(), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "xb") as out:  # staging is fresh and private: nothing can be there already
        while block := src.read(BLOCK):
            n += len(block)
            h.update(block)
            out.write(block)
    if n != entry.size:
        raise BundleError(f"{where}: archive ended after {n} of {entry.size} bytes (truncated)")
    if h.hexdigest() != entry.sha256:
        raise BundleError(f"{where}: sha256 {h.hexdigest()[:12]}... does not match {entry.sha256[:12]}... in bundle.json; "
                          f"the archive was damaged or tampered with")


def _begin_bundle(tar, member, name: str, staging: Path, where: str) -> _Staged:
    if member.size > MAX_BUNDLE_JSON_BYTES:
        raise BundleError(f"{where}: {member.size} bytes, over the {MAX_BUNDLE_JSON_BYTES}-byte limit of a bundle.json")
    raw = tar.extractfile(member).read(MAX_BUNDLE_JSON_BYTES + 1)
    root = staging / name
    bundle = parse_bundle(root, loads_strict(raw, where), raw)
    if bundle.name != name:
        raise BundleError(f"{where}: names bundle {bundle.name!r}; a bundle's folder in the archive must carry its name")
    expected: dict[str, FileEntry] = {}
    for entry in bundle.entries():
        if entry.path in ("bundle.json", SIGNATURE_FILE):
            raise BundleError(f"{where}: lists {entry.path!r} as a model file; that name is reserved")
        if expected.setdefault(entry.path, entry) != entry:
            raise BundleError(f"{where}: {entry.path!r} is listed twice with different sha256 or size")
    root.mkdir()
    (root / "bundle.json").write_bytes(raw)
    return _Staged(root, expected)


def _stage_signature(tar: tarfile.TarFile, member: tarfile.TarInfo, st: _Staged, where: str) -> None:
    """Stage the bundle's signature file (one per bundle, at most ``MAX_SIGNATURE_BYTES``)."""
    from edge_sdk.signing import MAX_SIGNATURE_BYTES

    if st.signed or member.size > MAX_SIGNATURE_BYTES:
        raise BundleError(f"{where}: a second signature, or over {MAX_SIGNATURE_BYTES} bytes")
    (st.root / SIGNATURE_FILE).write_bytes(tar.extractfile(member).read(MAX_SIGNATURE_BYTES))
    st.signed = True


def _stage_file(tar: tarfile.TarFile, member: tarfile.TarInfo, st: _Staged, name: str, rel: str, where: str) -> None:
    """Stage one file of bundle ``name``, refusing any its bundle.json does not declare, twice, or of another size."""
    entry = st.expected.get(rel)
    if entry is None:
        raise BundleError(f"{where}: not listed in {name}/bundle.json; refusing files a bundle does not declare")
    if rel in st.seen:
        raise BundleError(f"{where}: appears twice in the archive")
    if member.size != entry.size:
        more = "more than" if member.size > entry.size else "other than"
        raise BundleError(f"{where}: {member.size} bytes, {more} the {entry.size} bytes {name}/bundle.json declares")
    try:
        _copy_verified(tar.extractfile(member), st.root / rel, entry, where)
    except OSError as exc:  # e.g. a file where a folder of the bundle should be
        raise BundleError(f"{where}: cannot be staged: {exc}") from exc
    st.seen.add(rel)


def _unpack(archive: Path, staging: Path, max_bytes: int) -> dict[str, _Staged]:
    """Stream every member of ``archive`` into ``staging``, checking each; the staged bundles by name."""
    staged: dict[str, _Staged] = {}
    total = 0
    stream, raw = _open_decompressed(archive)
    try:
        with tarfile.open(fileobj=_BoundedReads(stream, str(archive)), mode="r:") as tar:
            for member in tar:
                where = f"{archive}: member {member.name!r}"
                parts = _member_parts(member, where)
                if member.isdir():
                    continue  # folders are made for the files they hold; an entry for one carries nothing
                if not member.isreg() or member.issparse():
                    raise BundleError(f"{where} is a {_member_kind(member)}; bundle archives hold regular files only")
                if len(parts) < 2 or not BUNDLE_NAME.fullmatch(parts[0]):
                    raise BundleError(f"{where}: not inside a bundle folder named like a bundle ({BUNDLE_NAME.pattern})")
                total += member.size
                if total > max_bytes:
                    raise BundleError(f"{where}: the archive's files add up to more than {max_bytes} bytes, the import limit "
                                      f"(raise it with --max-bytes if this is expected)")
                name, rel = parts[0], "/".join(parts[1:])
                st = staged.get(name)
                if rel == "bundle.json":
                    if st is not None:
                        raise BundleError(f"{where}: a second bundle.json for bundle {name!r}")
                    staged[name] = _begin_bundle(tar, member, name, staging, where)
                elif st is None:
                    raise BundleError(f"{where}: comes before {name}/bundle.json, so no bundle.json lists it; "
                                      f"archives from 'edge-sdk bundles export' put bundle.json first")
                elif rel == SIGNATURE_FILE:
                    _stage_signature(tar, member, st, where)
                else:
                    _stage_file(tar, member, st, name, rel, where)
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        raise BundleError(f"{archive}: not a readable tar archive ({type(exc).__name__}: {exc})") from exc
    finally:
        stream.close()
        raw.close()
    if not staged:
        raise BundleError(f"{archive} holds no bundle (no <name>/bundle.json member)")
    for name, st in staged.items():
        if missing := sorted(set(st.expected) - st.seen):
            raise BundleError(f"{archive}: {name}/bundle.json lists {missing} but the archive lacks them")
    return staged


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM):  # filesystem or kernel without the flag
        return False
    raise OSError(err, os.strerror(err), str(b))


def _install(staged_root: Path, dest: Path) -> bool:
    """Move a verified bundle folder to ``dest``; True when a bundle there was replaced."""
    if not (dest.exists() or dest.is_symlink()):
        os.rename(staged_root, dest)
        return False
    if not _exchange(staged_root, dest):  # two renames: for a moment no bundle of that name exists
        old = staged_root.with_name(f"{staged_root.name}.replaced")
        os.rename(dest, old)
        os.rename(staged_root, dest)
        staged_root = old
    if staged_root.is_symlink():  # the old "bundle" was a link: drop the link, never what it points at
        staged_root.unlink()
    else:
        shutil.rmtree(staged_root)
    return True


def import_archive(
    archive: str | os.PathLike,
    store: str | os.PathLike | None = None,
    require_signed: bool = False,
    trusted_keys: tuple[str, ...] = (),
    max_bytes: int = MAX_IMPORT_BYTES,
) -> list[ImportedBundle]:
    """Verify every bundle of an archive, then install them into the store.

    Args:
        archive: A ``.tar``, ``.tar.gz``, ``.tar.bz2`` or ``.tar.xz`` from :func:`export_bundles`.
        store: Bundle store (default ``$EDGE_SDK_HOME/bundles``).
        require_signed: Refuse bundles without a valid signature by a trusted key (a profile's ``require_signed``).
        trusted_keys: The profile's ``trusted_keys`` (default ``$EDGE_SDK_HOME/trusted_keys``).
        max_bytes: Limit on the sum of the archive's member sizes.

    Returns:
        The bundles installed.

    Raises:
        BundleError: Any member is unsafe, undeclared, oversized or fails its sha256, or a required signature is
            missing or wrong; nothing is installed then.
        BundleNotFoundError: The archive does not exist.
        MissingDependencyError: Signatures are required and ``cryptography`` is not installed.
    """
    from edge_sdk.errors import BundleNotFoundError
    from edge_sdk.signing import check_required_signature

    archive = Path(archive)
    if not archive.is_file():
        raise BundleNotFoundError(f"no archive {archive}")
    store = Path(store) if store else bundles_dir()
    store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=store))  # same filesystem: the final move is a rename
    try:
        staged = _unpack(archive, staging, max_bytes)
        checked = []
        for st in staged.values():
            bundle = load_bundle(st.root)
            kid = check_required_signature(bundle, require_signed, trusted_keys)
            checked.append((bundle, kid or ("carried" if st.signed else "")))
        out = []
        for bundle, signature in checked:
            dest = store / bundle.name
            replaced = _install(bundle.root, dest)
            log.info("installed %s into %s%s", bundle.name, dest, " (replaced)" if replaced else "")
            out.append(ImportedBundle(bundle.name, dest, tuple(bundle.variants), replaced, signature))
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)
