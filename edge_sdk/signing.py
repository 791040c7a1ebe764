"""Signed bundles: an Ed25519 signature over the exact bytes of ``bundle.json``, in ``bundle.sig``.

Hashes in ``bundle.json`` catch accidents; they do not stop whoever can write the bundle folder from swapping a
model and re-recording its sha256. The signature does: ``bundle.json`` names every file's sha256, so one signature
over its bytes covers every file, and only the holder of the private key can make it.

A profile with ``require_signed = true`` makes :func:`edge_sdk.runtime.load_model` check the signature against the
trusted public keys before any file is read or any session created. The trusted keys are the profile's
``trusted_keys`` (``.pub`` files or folders of them) when it names any, else ``$EDGE_SDK_HOME/trusted_keys/*.pub``;
pin keys in the profile where the bundle store's writers could also write that folder.

Keys are PEM files made by :func:`generate_keypair` (``edge-sdk bundles keygen DIR``). The private key file is
created with mode 0600. ``EDGE_SDK_SIGNING_KEY`` names the private key that ``prepare``, bundle writers and
``bundles export`` sign with.

Ed25519 comes from the ``cryptography`` package, an optional extra (``pip install 'edge-sdk-ondevice[sign]'``):
only hosts that sign and targets whose profile requires signatures need it, and those get a
:class:`~edge_sdk.errors.MissingDependencyError` with the install command when it is missing, never a silent skip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edge_sdk.bundle import SIGNATURE_FILE, Bundle, home, load_bundle, loads_strict, read_bundle_json
from edge_sdk.errors import BundleError, InvalidInputError, MissingDependencyError

log = logging.getLogger(__name__)

SIGNING_KEY_ENV = "EDGE_SDK_SIGNING_KEY"
SIGNATURE_FORMAT = 1
MAX_SIGNATURE_BYTES = 4096
INSTALL = "pip install 'edge-sdk-ondevice[sign]'"


def _crypto():
    """The ``cryptography`` modules used here, or MissingDependencyError with the install command."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise MissingDependencyError(
            f"signed bundles need the 'cryptography' package ({exc}); install it with: {INSTALL}"
        ) from exc
    return ed25519, serialization, InvalidSignature


def keyring_dir() -> Path:
    """``$EDGE_SDK_HOME/trusted_keys``: the default folder of trusted ``*.pub`` keys."""
    return home() / "trusted_keys"


def _raw_public(public_key) -> bytes:
    _, serialization, _ = _crypto()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key) -> str:
    """A short, stable name of a public key: the first 16 hex digits of the sha256 of its 32 raw bytes."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    """Where :func:`generate_keypair` wrote a key pair, and the key's id."""

    private_key: Path
    public_key: Path
    key_id: str


def generate_keypair(folder: str | os.PathLike, name: str = "edge-sdk-signing") -> KeyPair:
    """Write a new Ed25519 key pair: ``<name>.key`` (PKCS#8 PEM, mode 0600) and ``<name>.pub`` (PEM).

    Raises:
        InvalidInputError: A key of that name already exists there (it is never overwritten).
        MissingDependencyError: ``cryptography`` is not installed.
    """
    ed25519, serialization, _ = _crypto()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise InvalidInputError(f"{path} already exists; keys are never overwritten (pick another folder or --name)")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600 from the first byte, not chmod after
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        f.write(pem)
    public = key.public_key()
    public_path.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private_path, public_path, key_id(public))


def load_private_key(path: str | os.PathLike):
    """An Ed25519 private key from a PEM file (a key readable by group or others is used, with a warning).

    Raises:
        InvalidInputError: No such file, or not an unencrypted Ed25519 PEM private key.
        MissingDependencyError: ``cryptography`` is not installed.
    """
    ed25519, serialization, _ = _crypto()
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read signing key {path}: {exc}") from exc
    if path.stat().st_mode & 0o077:
        log.warning("signing key %s is readable by group or others; chmod 600 it", path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not an unencrypted PEM private key ({exc}); make one with 'edge-sdk bundles keygen DIR'") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InvalidInputError(f"{path} holds a {type(key).__name__}; bundles are signed with Ed25519 keys")
    return key


def load_public_key(path: str | os.PathLike):
    """An Ed25519 public key from a PEM ``.pub`` file.

    Raises:
        BundleError: Unreadable, or not an Ed25519 PEM public key.
    """
    ed25519, serialization, _ = _crypto()
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise BundleError(f"trusted key {path} cannot be read as a PEM public key: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BundleError(f"trusted key {path} is a {type(key).__name__}; bundles are signed with Ed25519 keys")
    return key


def trusted_keys(paths: tuple[str, ...] = ()) -> dict[str, object]:
    """The trusted public keys by key id: from ``paths`` (files or folders of ``*.pub``), or when none are given
    from :func:`keyring_dir`.

    Raises:
        BundleError: A path in ``paths`` does not exist, or a key file cannot be read.
        MissingDependencyError: ``cryptography`` is not installed.
    """
    files: list[Path] = []
    for source in [Path(p) for p in paths] or [keyring_dir()]:
        if source.is_dir():
            files.extend(sorted(source.glob("*.pub")))
        elif source.is_file():
            files.append(source)
        elif paths:
            raise BundleError(f"trusted key path {source} (from the device profile) does not exist")
    keys = {}
    for path in files:
        key = load_public_key(path)
        keys[key_id(key)] = key
    return keys


def signature_bytes(raw_json: bytes, private_key) -> bytes:
    """The content of ``bundle.sig`` for ``raw_json`` (the exact bytes of ``bundle.json``)."""
    doc = {
        "format": SIGNATURE_FORMAT,
        "algorithm": "ed25519",
        "key_id": key_id(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(raw_json)).decode(),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def write_signature(root: Path, sig: bytes) -> Path:
    """Write ``bundle.sig`` atomically."""
    tmp = root / f"{SIGNATURE_FILE}.tmp"
    tmp.write_bytes(sig)
    os.replace(tmp, root / SIGNATURE_FILE)
    return root / SIGNATURE_FILE


def sign_bundle(bundle: Bundle, private_key_path: str | os.PathLike, check_files: bool = True) -> Path:
    """Sign a loaded bundle: write ``bundle.sig`` over the bytes its ``bundle.json`` was loaded from.

    Args:
        bundle: From :func:`edge_sdk.bundle.load_bundle`.
        private_key_path: PEM private key from :func:`generate_keypair`.
        check_files: Verify every file's size and sha256 first, so a tampered bundle is never signed
            (bundle writers that have just hashed the files pass False).

    Returns:
        The path of ``bundle.sig``.

    Raises:
        BundleError: A file does not match ``bundle.json``.
        InvalidInputError: The key cannot be used.
        MissingDependencyError: ``cryptography`` is not installed.
    """
    key = load_private_key(private_key_path)
    if check_files and (problems := bundle.verify()):
        raise BundleError(f"bundle {bundle.name!r} is not signed, its files do not match bundle.json: {'; '.join(problems)}")
    if not bundle.raw_json or read_bundle_json(bundle.root / "bundle.json") != bundle.raw_json:
        raise BundleError(f"bundle {bundle.name!r}: bundle.json changed since it was loaded; load it again and sign")
    return write_signature(bundle.root, signature_bytes(bundle.raw_json, key))


def configured_signing_key() -> Path | None:
    """The private key named by ``EDGE_SDK_SIGNING_KEY``, or None when signing is off."""
    value = os.environ.get(SIGNING_KEY_ENV, "").strip()
    return Path(value).expanduser() if value else None


def sign_if_configured(root: Path) -> Path | None:
    """Sign the bundle at ``root`` with the ``EDGE_SDK_SIGNING_KEY`` key unless that key's valid signature is already
    there (files are verified before signing). None when no key is configured.

    Raises:
        BundleError: A file does not match ``bundle.json``.
        MissingDependencyError: A key is configured and ``cryptography`` is not installed.
    """
    path = configured_signing_key()
    if path is None:
        return None
    bundle, public = load_bundle(root), load_private_key(path).public_key()
    try:
        verify_signature(bundle, {key_id(public): public})
        return bundle.signature_path
    except BundleError:
        return sign_bundle(bundle, path)


def _signature_doc(bundle: Bundle) -> dict:
    path = bundle.signature_path
    if path.is_symlink():
        raise BundleError(f"bundle {bundle.name!r}: {SIGNATURE_FILE} is a symlink; it must be a regular file")
    if not path.is_file():
        raise BundleError(
            f"bundle {bundle.name!r} is not signed (no {SIGNATURE_FILE}) and the device profile requires signed bundles; "
            f"sign it on the build host with 'edge-sdk bundles sign {bundle.name} --key KEY' and import it again"
        )
    with open(path, "rb") as f:
        raw = f.read(MAX_SIGNATURE_BYTES + 1)
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise BundleError(f"bundle {bundle.name!r}: {SIGNATURE_FILE} is over {MAX_SIGNATURE_BYTES} bytes")
    doc = loads_strict(raw, str(path))
    if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT or doc.get("algorithm") != "ed25519":
        raise BundleError(f"{path}: not an edge-sdk signature (format {SIGNATURE_FORMAT}, algorithm ed25519)")
    for key in ("key_id", "signature"):
        if not isinstance(doc.get(key), str):
            raise BundleError(f"{path}: key {key!r} must be a string")
    return doc


def verify_signature(bundle: Bundle, keys: dict[str, object]) -> str:
    """Check ``bundle.sig`` against the bytes ``bundle.json`` was loaded from and the ``keys`` trusted.

    Returns:
        The id of the trusted key that made the signature.

    Raises:
        BundleError: Unsigned, signed by a key not trusted, or a signature that does not match ``bundle.json``
            (changed after signing: e.g. a model swapped and its sha256 re-recorded).
        MissingDependencyError: ``cryptography`` is not installed.
    """
    _, _, InvalidSignature = _crypto()
    doc = _signature_doc(bundle)
    kid = doc["key_id"]
    if kid not in keys:
        trusted = ", ".join(sorted(keys)) or "none"
        raise BundleError(
            f"bundle {bundle.name!r} is signed by key {kid!r}, which is not trusted here (trusted: {trusted}); "
            f"copy the signer's .pub into {keyring_dir()} or the profile's trusted_keys"
        )
    try:
        sig = base64.b64decode(doc["signature"], validate=True)
    except ValueError as exc:
        raise BundleError(f"bundle {bundle.name!r}: {SIGNATURE_FILE} signature is not base64: {exc}") from exc
    if not bundle.raw_json:
        raise BundleError(f"bundle {bundle.name!r} was built without its bundle.json bytes; load it with load_bundle to check its signature")
    try:
        keys[kid].verify(sig, bundle.raw_json)
    except InvalidSignature:
        raise BundleError(
            f"bundle {bundle.name!r}: {SIGNATURE_FILE} does not match bundle.json (signed by key {kid!r}); bundle.json "
            f"was changed after signing, e.g. a model file swapped and its sha256 re-recorded. Refusing to load it"
        ) from None
    return kid


def check_required_signature(bundle: Bundle, require_signed: bool, trusted: tuple[str, ...] = ()) -> str | None:
    """Verify the bundle's signature when ``require_signed`` (a profile's setting); None when not required.

    Raises:
        BundleError: As :func:`verify_signature`.
        MissingDependencyError: Signatures are required and ``cryptography`` is not installed.
    """
    if not require_signed:
        return None
    return verify_signature(bundle, trusted_keys(trusted))
