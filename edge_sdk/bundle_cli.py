"""``edge-sdk bundles export|import|keygen|sign``: move verified bundles from a build host to a target, and sign them.

Build host::

    edge-sdk bundles keygen ~/.config/edge-sdk/keys
    EDGE_SDK_SIGNING_KEY=~/.config/edge-sdk/keys/edge-sdk-signing.key edge-sdk prepare
    edge-sdk --profile arm64 bundles export whisper-tiny.en efficientnet-lite0 -o target.tar.gz

Target (with the build host's ``.pub`` in ``$EDGE_SDK_HOME/trusted_keys/`` when its profile requires signatures)::

    edge-sdk bundles import target.tar.gz
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edge_sdk.errors import BundleError, MissingDependencyError


def _target_profile(name: str | None):
    """The profile named by ``--profile`` / ``EDGE_SDK_PROFILE``, else the one detected here."""
    from edge_sdk.devices import detect, load_profile

    return load_profile(name or os.environ.get("EDGE_SDK_PROFILE") or detect()[0])


def signature_check(bundle, profile_name: str | None = None) -> tuple[list[str], str]:
    """For ``bundles --verify``: the signature problems of ``bundle`` under the target profile, and a status line.

    A signature is checked when the profile requires one or the bundle carries one; a bundle signed by a key not
    trusted here, or unchecked for want of ``cryptography``, is a problem only where signatures are required.
    """
    from edge_sdk.signing import trusted_keys, verify_signature

    profile = _target_profile(profile_name)
    required = profile.require_signed
    if not required and not bundle.signature_path.exists():
        return [], "unsigned (profile does not require signatures)"
    try:
        kid = verify_signature(bundle, trusted_keys(profile.trusted_keys))
    except MissingDependencyError as exc:
        return ([str(exc)] if required else []), f"signature not checked: {exc}"
    except BundleError as exc:
        untrusted = "not trusted here" in str(exc)
        return ([] if untrusted and not required else [str(exc)]), f"signature: {exc}"
    return [], f"signed by trusted key {kid}"


def cmd_export(args) -> int:
    from edge_sdk.archive import export_bundles
    from edge_sdk.devices import load_profile

    variants = tuple(v for v in args.variants.split(",") if v) if args.variants else None
    profile = load_profile(args.profile) if args.profile and not variants else None
    written = export_bundles(args.names, args.output, variants=variants, profile=profile, signing_key=args.key)
    for w in written:
        print(f"exported {w.name}: {', '.join(w.variants)} ({w.files} files, {w.size_bytes / 1e6:.1f} MB"
              f"{', signed' if w.signed else ', unsigned'})")
    print(f"archive: {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_import(args) -> int:
    from edge_sdk.archive import MAX_IMPORT_BYTES, import_archive

    profile = _target_profile(args.profile)
    imported = import_archive(args.archive, require_signed=profile.require_signed, trusted_keys=profile.trusted_keys,
                              max_bytes=args.max_bytes or MAX_IMPORT_BYTES)
    for b in imported:
        sig = {"": "unsigned", "carried": "signature carried, not required here"}.get(b.signature, f"signed by trusted key {b.signature}")
        print(f"installed {b.name} ({', '.join(b.variants)}) at {b.path}{' (replaced)' if b.replaced else ''}; {sig}")
    return 0


def cmd_keygen(args) -> int:
    from edge_sdk.signing import generate_keypair, keyring_dir

    pair = generate_keypair(args.folder, args.name)
    print(f"private key: {pair.private_key} (mode 0600; keep it on the build host)")
    print(f"public key : {pair.public_key} (key id {pair.key_id}); copy it to {keyring_dir()} on each target")
    return 0


def cmd_sign(args) -> int:
    from edge_sdk.bundle import load_bundle
    from edge_sdk.signing import sign_bundle

    bundle = load_bundle(args.name)
    path = sign_bundle(bundle, args.key)
    print(f"signed {bundle.name}: {path}")
    return 0


def register(bundles: argparse.ArgumentParser) -> None:
    """Add the export, import, keygen and sign subcommands to the ``bundles`` parser."""
    sub = bundles.add_subparsers(dest="bundles_command", metavar="{export,import,keygen,sign}")

    p = sub.add_parser("export", help="pack verified bundles into one archive for a target")
    p.add_argument("names", nargs="+", metavar="NAME", help="bundle names in the store, or bundle folders")
    p.add_argument("--variants", help="comma-separated variants to export (default: the one the --profile target loads, "
                   "else all)")
    p.add_argument("-o", "--output", required=True, help="archive to write: .tar, .tar.gz or .tgz")
    p.add_argument("--key", help="private key to sign the archived bundle.json with (default: $EDGE_SDK_SIGNING_KEY)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="verify an archive's bundles and install them into the store")
    p.add_argument("archive", help="archive from 'edge-sdk bundles export'")
    p.add_argument("--max-bytes", type=int, default=None, help="refuse archives whose files add up to more (default 16 GiB)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    p.add_argument("folder", help="folder to write <name>.key (mode 0600) and <name>.pub into")
    p.add_argument("--name", default="edge-sdk-signing", help="file name of the pair (default: edge-sdk-signing)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("sign", help="sign a bundle: write bundle.sig over its bundle.json")
    p.add_argument("name", help="bundle name in the store, or a bundle folder")
    p.add_argument("--key", required=True, help="private key from 'edge-sdk bundles keygen'")
    p.set_defaults(func=cmd_sign)
