"""Signed bundles: Ed25519 over bundle.json; a profile with require_signed refuses what a trusted key did not sign."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from test_bundle import make_bundle

from edge_sdk import runtime
from edge_sdk.archive import export_bundles, import_archive
from edge_sdk.bundle import load_bundle, sha256_bytes
from edge_sdk.devices import load_profile, resolve
from edge_sdk.devices.onnx_bytes import FLOAT, model_bytes, tensor, value_info
from edge_sdk.errors import BundleError, InvalidInputError, MissingDependencyError
from edge_sdk.quantize.bundle_writer import add_variant
from edge_sdk.runtime import load_model

pytest.importorskip("cryptography", reason="signatures need the 'sign' extra: pip install 'edge-sdk-ondevice[sign]'")

from edge_sdk.signing import generate_keypair, sign_bundle, verify_signature  # noqa: E402

X = {"x": np.ones((1, 64), np.float32)}


def signed_profile(tmp_path: Path, require: bool = True, keys: str | None = "keys") -> Path:
    """A CPU profile TOML that requires signatures and trusts the .pub files in ``tmp_path/keys``."""
    lines = ['name = "signed-cpu"', 'variants = ["int8", "fp32"]', 'int8_format = "u8u8"', f"require_signed = {str(require).lower()}"]
    if keys:
        lines.append(f'trusted_keys = ["{keys}"]')  # relative: taken from the profile's folder
    path = tmp_path / f"cpu-require-{require}-keys-{keys}.toml"
    path.write_text("\n".join([*lines, "", "[[providers]]", 'name = "CPUExecutionProvider"', ""]))
    return path


def device(profile: Path):
    return resolve(load_profile(profile), ("CPUExecutionProvider",))


def other_model() -> bytes:
    """A valid model with the tiny model's inputs and outputs but other weights: what an attacker swaps in."""
    w = np.full((64, 64), 7.0, np.float32)
    nodes = [(("x", "W"), ("h",), "MatMul"), (("h",), ("y",), "Relu")]
    return model_bytes(nodes, [tensor("W", (64, 64), FLOAT, w.tobytes())], [value_info("x", (1, 64))], [value_info("y", (1, 64))])


def swap_model_and_rerecord_hash(root: Path) -> None:
    """Issue 38, item 9: whoever can write the bundle folder replaces the model and re-records its sha256 and size."""
    swapped = other_model()
    (root / "int8/model.onnx").write_bytes(swapped)
    data = json.loads((root / "bundle.json").read_text())
    data["variants"]["int8"]["files"]["model"].update(sha256=sha256_bytes(swapped), size=len(swapped))
    (root / "bundle.json").write_text(json.dumps(data, indent=2))


@pytest.fixture
def signed(tmp_path):
    """A tiny bundle signed with a key the profile in ``tmp_path`` trusts; returns (bundle root, profile path, key)."""
    pair = generate_keypair(tmp_path / "keys")
    root = make_bundle(tmp_path / "b")
    sign_bundle(load_bundle(root), pair.private_key)
    return root, signed_profile(tmp_path), pair


def test_keygen_writes_a_0600_private_key_and_never_overwrites(tmp_path):
    pair = generate_keypair(tmp_path / "keys")
    assert stat.S_IMODE(pair.private_key.stat().st_mode) == 0o600
    assert pair.public_key.read_text().startswith("-----BEGIN PUBLIC KEY-----") and len(pair.key_id) == 16
    with pytest.raises(InvalidInputError, match="already exists"):
        generate_keypair(tmp_path / "keys")


def test_signed_bundle_loads_and_runs_under_require_signed(signed):
    root, profile, pair = signed
    m = load_model(root, device=device(profile))
    assert m.variant.name == "int8" and m.sessions["model"].run(None, X)[0].shape == (1, 64)
    assert verify_signature(load_bundle(root), {pair.key_id: _public(pair)}) == pair.key_id


def _public(pair):
    from edge_sdk.signing import load_public_key

    return load_public_key(pair.public_key)


def test_swapped_model_with_rerecorded_hash_is_refused_before_any_session(signed, monkeypatch):
    """The hashes alone accept the swap; the signature over bundle.json does not, and no session is created."""
    root, profile, _ = signed
    swap_model_and_rerecord_hash(root)
    assert not load_bundle(root).verify()  # every hash matches: hashes catch accidents, not this
    assert load_model(root, device=device(signed_profile(root.parent, require=False))).variant.name == "int8"
    sessions = []
    monkeypatch.setattr(runtime, "create_session", lambda *a, **k: sessions.append(a))
    with pytest.raises(BundleError, match=r"bundle.sig does not match bundle.json.*swapped and its sha256 re-recorded"):
        load_model(root, device=device(profile))
    assert sessions == []


def test_resigned_by_an_untrusted_key_is_refused(signed, tmp_path):
    root, profile, pair = signed
    swap_model_and_rerecord_hash(root)
    attacker = generate_keypair(tmp_path / "attacker")
    sign_bundle(load_bundle(root), attacker.private_key)
    with pytest.raises(BundleError, match=rf"signed by key '{attacker.key_id}', which is not trusted here \(trusted: {pair.key_id}\)"):
        load_model(root, device=device(profile))


def test_unsigned_bundle_is_refused_under_require_signed_and_loads_without(tmp_path):
    generate_keypair(tmp_path / "keys")
    root = make_bundle(tmp_path / "b")
    with pytest.raises(BundleError, match=r"is not signed \(no bundle.sig\).*edge-sdk bundles sign tiny --key KEY"):
        load_model(root, device=device(signed_profile(tmp_path)))
    assert load_model(root, device=device(signed_profile(tmp_path, require=False))).variant.name == "int8"


def test_home_keyring_is_trusted_when_the_profile_names_no_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_SDK_HOME", str(tmp_path / "home"))
    pair = generate_keypair(tmp_path / "home" / "trusted_keys")
    root = make_bundle(tmp_path / "b")
    sign_bundle(load_bundle(root), pair.private_key)
    assert load_model(root, device=device(signed_profile(tmp_path, keys=None))).variant.name == "int8"


def test_profile_trusted_keys_replace_the_home_keyring(signed, tmp_path, monkeypatch):
    """A target pins its keys: a key in the (writable) home keyring is not trusted when the profile names its own."""
    root, profile, _ = signed
    monkeypatch.setenv("EDGE_SDK_HOME", str(tmp_path / "home"))
    attacker = generate_keypair(tmp_path / "home" / "trusted_keys")
    sign_bundle(load_bundle(root), attacker.private_key)
    with pytest.raises(BundleError, match="not trusted here"):
        load_model(root, device=device(profile))


def test_require_signed_without_cryptography_names_the_install_command(signed, monkeypatch):
    root, profile, _ = signed
    monkeypatch.setitem(sys.modules, "cryptography.exceptions", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'edge-sdk-ondevice\[sign\]'"):
        load_model(root, device=device(profile))


def test_signing_a_tampered_bundle_is_refused(tmp_path):
    pair = generate_keypair(tmp_path / "keys")
    root = make_bundle(tmp_path / "b")
    (root / "fp32/model.onnx").write_bytes(other_model())
    with pytest.raises(BundleError, match="not signed, its files do not match"):
        sign_bundle(load_bundle(root), pair.private_key)
    assert not (root / "bundle.sig").exists()


def test_writer_signs_with_the_configured_key_and_drops_a_stale_signature(tmp_path, monkeypatch):
    pair = generate_keypair(tmp_path / "keys")
    monkeypatch.setenv("EDGE_SDK_SIGNING_KEY", str(pair.private_key))
    root = make_bundle(tmp_path / "b")
    assert verify_signature(load_bundle(root), {pair.key_id: _public(pair)}) == pair.key_id
    monkeypatch.delenv("EDGE_SDK_SIGNING_KEY")
    (tmp_path / "student.onnx").write_bytes(other_model())
    add_variant(root, "distilled", {"model": tmp_path / "student.onnx"})
    assert not (root / "bundle.sig").exists()  # unsigned now, rather than looking tampered with


def test_archive_carries_the_signature_and_import_checks_it(signed, tmp_path):
    root, profile, pair = signed
    whole = export_bundles([str(root)], tmp_path / "whole.tar")
    subset = export_bundles([str(root)], tmp_path / "int8.tar", variants=("int8",), signing_key=pair.private_key)
    assert whole[0].signed and subset[0].signed
    with tarfile.open(tmp_path / "whole.tar") as tar:
        assert tar.extractfile("tiny/bundle.sig").read() == (root / "bundle.sig").read_bytes()  # carried as it was
    keys = (str(pair.public_key),)
    for archive, variants in (("whole.tar", ["fp32", "int8"]), ("int8.tar", ["int8"])):
        store = tmp_path / archive.replace(".tar", "-store")
        done = import_archive(tmp_path / archive, store, require_signed=True, trusted_keys=keys)
        assert done[0].signature == pair.key_id and list(load_bundle(store / "tiny").variants) == variants
        assert load_model(store / "tiny", device=device(profile)).sessions["model"].run(None, X)[0].shape == (1, 64)


def test_import_under_require_signed_refuses_unsigned_and_installs_nothing(tmp_path):
    pair = generate_keypair(tmp_path / "keys")
    export_bundles([str(make_bundle(tmp_path / "b"))], tmp_path / "a.tar")
    store = tmp_path / "store"
    with pytest.raises(BundleError, match="is not signed"):
        import_archive(tmp_path / "a.tar", store, require_signed=True, trusted_keys=(str(pair.public_key),))
    assert list(store.iterdir()) == []
    assert import_archive(tmp_path / "a.tar", store)[0].signature == ""  # accepted where not required


def test_exporting_part_of_a_signed_bundle_needs_the_key(signed, tmp_path, monkeypatch):
    root, _, _ = signed
    monkeypatch.delenv("EDGE_SDK_SIGNING_KEY", raising=False)
    with pytest.raises(BundleError, match="is signed, and exporting some of its variants rewrites bundle.json"):
        export_bundles([str(root)], tmp_path / "a.tar", variants=("int8",))


def test_cli_keygen_sign_and_verify_under_a_signed_profile(tmp_path):
    env = {**os.environ, "EDGE_SDK_HOME": str(tmp_path / "home")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "edge_sdk", *a], capture_output=True, text=True, env=env, timeout=60)  # noqa: E731
    make_bundle(tmp_path / "home" / "bundles" / "tiny")
    keygen = run("bundles", "keygen", str(tmp_path / "keys"))
    assert keygen.returncode == 0 and stat.S_IMODE((tmp_path / "keys/edge-sdk-signing.key").stat().st_mode) == 0o600
    profile = str(signed_profile(tmp_path))
    unsigned = run("--profile", profile, "bundles", "--verify", "tiny")
    assert unsigned.returncode == 3 and "is not signed" in unsigned.stdout
    assert run("bundles", "sign", "tiny", "--key", str(tmp_path / "keys/edge-sdk-signing.key")).returncode == 0
    ok = run("--profile", profile, "bundles", "--verify", "tiny")
    assert ok.returncode == 0 and "signed by trusted key" in ok.stdout, ok.stdout + ok.stderr
    swap_model_and_rerecord_hash(tmp_path / "home/bundles/tiny")
    bad = run("--profile", profile, "bundles", "--verify", "tiny")
    assert bad.returncode == 3 and "does not match bundle.json" in bad.stdout
