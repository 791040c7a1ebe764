"""Bundle archives: export on a build host, import on a target; hostile archives install nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from test_bundle import CPU, edit_json, make_bundle

from edge_sdk.archive import chosen_variants, export_bundles, import_archive
from edge_sdk.bundle import load_bundle
from edge_sdk.devices import load_profile
from edge_sdk.errors import BundleError, InvalidInputError
from edge_sdk.runtime import load_model

RUN_TINY = """
import numpy as np
from edge_sdk.runtime import load_model
m = load_model("tiny", device="x86_64-vnni")
y = m.sessions["model"].run(None, {"x": np.ones((1, 64), np.float32)})[0]
print(m.variant.name, m.bundle.root, float(y.sum()))
"""


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGE_SDK_HOME": str(home)}
    env.pop("EDGE_SDK_PROFILE", None)
    return subprocess.run([sys.executable, "-m", "edge_sdk", *args], capture_output=True, text=True, env=env, timeout=120)


def store_of(home: Path) -> Path:
    return home / "bundles"


def test_export_then_import_in_a_fresh_home_loads_and_runs(tmp_path):
    """Exported int8 alone, gzip-compressed; imported by the CLI in another process and home; runs the same numbers."""
    src = make_bundle(store_of(tmp_path / "host") / "tiny")
    reference = load_model(src, variant="int8", device=CPU).sessions["model"].run(None, {"x": np.ones((1, 64), np.float32)})[0]
    out = tmp_path / "tiny.tar.gz"
    exported = cli(tmp_path / "host", "bundles", "export", "tiny", "--variants", "int8", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
        archived = json.loads(tar.extractfile("tiny/bundle.json").read())
    assert names == ["tiny/bundle.json", "tiny/labels.txt", "tiny/int8/model.onnx"]  # bundle.json first, no fp32
    assert list(archived["variants"]) == ["int8"]

    target = tmp_path / "device"
    imported = cli(target, "bundles", "import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "installed tiny (int8)" in imported.stdout
    assert sorted(p.name for p in store_of(target).iterdir()) == ["tiny"]  # no staging folder left behind
    ran = subprocess.run([sys.executable, "-c", RUN_TINY], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "EDGE_SDK_HOME": str(target)})
    assert ran.returncode == 0, ran.stderr
    variant, root, total = ran.stdout.split()
    assert variant == "int8" and Path(root) == store_of(target) / "tiny"
    assert float(total) == pytest.approx(float(reference.sum()), rel=1e-6)
    assert cli(target, "bundles", "--verify", "tiny").returncode == 0


def test_export_picks_the_variant_the_target_profile_loads(tmp_path):
    root = make_bundle(tmp_path / "b")
    edit_json(root, lambda d: d["variants"]["int8"]["recipe"].update(int8_format="u8s8"))
    b = load_bundle(root)
    assert chosen_variants(b, profile=load_profile("x86_64-vnni")) == ("int8",)
    assert chosen_variants(b, profile=load_profile("x86_64-avx2")) == ("fp32",)  # u8s8 saturates there
    assert chosen_variants(b) == ("fp32", "int8")
    with pytest.raises(InvalidInputError, match=r"no variant \['fp16'\].*\['fp32', 'int8'\]"):
        chosen_variants(b, ("int8", "fp16"))


def test_export_refuses_a_tampered_file_and_writes_no_archive(tmp_path):
    root = make_bundle(tmp_path / "b")
    model = root / "int8/model.onnx"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    out = tmp_path / "out.tar"
    with pytest.raises(BundleError, match=r"'int8/model.onnx' does not match its sha256.*nothing was exported"):
        export_bundles([str(root)], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "b-src"]  # neither out.tar nor its partial


def test_import_replaces_an_existing_bundle_of_the_same_name(tmp_path):
    old = make_bundle(tmp_path / "old" / "tiny", variants=("fp32",))
    new = make_bundle(tmp_path / "new" / "tiny", variants=("int8",))
    store = tmp_path / "store"
    export_bundles([str(old)], tmp_path / "old.tar")
    export_bundles([str(new)], tmp_path / "new.tar")
    first = import_archive(tmp_path / "old.tar", store)
    second = import_archive(tmp_path / "new.tar", store)
    assert not first[0].replaced and second[0].replaced
    assert list(load_bundle(store / "tiny").variants) == ["int8"] and not (store / "tiny/fp32").exists()
    assert sorted(p.name for p in store.iterdir()) == ["tiny"]


# -- hostile archives ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_members(tmp_path_factory) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The members of a valid export of the tiny bundle's int8 variant."""
    base = tmp_path_factory.mktemp("good")
    export_bundles([str(make_bundle(base / "tiny"))], base / "good.tar", variants=("int8",))
    with tarfile.open(base / "good.tar") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, linkname: str = "", pax: dict | None = None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = pax or {}
    return info, data


def write_tar(path: Path, members) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def swap(members, name: str, new):
    return [new if m.name == name else (m, d) for m, d in members]


def flipped(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


MODEL = "tiny/int8/model.onnx"
HOSTILE = {
    "parent-dir": (lambda ms, m: [*ms, member("../evil.sh", b"x")], r"'\.\./evil\.sh'.*'\.\.' in the path"),
    "parent-inside": (lambda ms, m: [*ms, member("tiny/../../evil.sh", b"x")], r"'\.\.' in the path"),
    "absolute": (lambda ms, m: [*ms, member("/tmp/evil.sh", b"x")], r"'/tmp/evil\.sh': absolute path"),
    "symlink": (lambda ms, m: swap(ms, MODEL, member(MODEL, kind=tarfile.SYMTYPE, linkname="/etc/passwd")),
                r"'tiny/int8/model\.onnx' is a symlink"),
    "hardlink": (lambda ms, m: swap(ms, MODEL, member(MODEL, kind=tarfile.LNKTYPE, linkname="tiny/labels.txt")),
                 r"'tiny/int8/model\.onnx' is a hard link"),
    "device": (lambda ms, m: [*ms, member("tiny/dev", kind=tarfile.CHRTYPE)], r"'tiny/dev' is a character device"),
    "hash": (lambda ms, m: swap(ms, MODEL, member(MODEL, flipped(m[MODEL]))), r"'tiny/int8/model\.onnx': sha256 .* does not match"),
    "oversized": (lambda ms, m: swap(ms, MODEL, member(MODEL, m[MODEL] + b"\0" * 4096)),
                  r"'tiny/int8/model\.onnx': \d+ bytes, more than the \d+ bytes tiny/bundle.json declares"),
    "undeclared": (lambda ms, m: [*ms, member("tiny/extra.bin", b"x")], r"'tiny/extra\.bin': not listed in tiny/bundle\.json"),
    "before-json": (lambda ms, m: [ms[-1], *ms[:-1]], r"'tiny/int8/model\.onnx': comes before tiny/bundle\.json"),
    "missing-file": (lambda ms, m: ms[:-1], r"tiny/bundle\.json lists \['int8/model\.onnx'\] but the archive lacks them"),
    "second-json": (lambda ms, m: [*ms, member("tiny/bundle.json", m["tiny/bundle.json"])], r"a second bundle\.json"),
    "duplicate-key": (lambda ms, m: swap(ms, "tiny/bundle.json", member("tiny/bundle.json", m["tiny/bundle.json"].rstrip()[:-1]
                                                                      + b', "name": "tiny"}')), r"duplicate key 'name'"),
    "header-bomb": (lambda ms, m: [*ms, member("tiny/labels2.txt", b"x", pax={"comment": "x" * (9 * 2**20)})],
                    r"tar header asks to read \d+ bytes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_installs_nothing(tmp_path, good_members, case):
    """Each archive is refused with the member and the problem named; the store keeps exactly the bundle it had."""
    change, message = HOSTILE[case]
    store = tmp_path / "store"
    export_bundles([str(make_bundle(tmp_path / "old" / "tiny", variants=("fp32",)))], tmp_path / "old.tar")
    import_archive(tmp_path / "old.tar", store)  # an older 'tiny' (fp32 only) that a failed import must leave alone
    before = {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    hostile = write_tar(tmp_path / "hostile.tar", change(list(good_members), {m.name: d for m, d in good_members}))
    with pytest.raises(BundleError, match=message):
        import_archive(hostile, store)
    assert {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in store.iterdir()) == ["tiny"]  # no staging folder left, nothing written outside
    assert not (tmp_path / "evil.sh").exists() and not Path("/tmp/evil.sh").exists()
    assert list(load_bundle(store / "tiny").variants) == ["fp32"] and not load_bundle(store / "tiny").verify()


def test_archive_over_the_size_limit_is_refused(tmp_path, good_members):
    store = tmp_path / "store"
    with pytest.raises(BundleError, match=r"more than 1000 bytes, the import limit"):
        import_archive(write_tar(tmp_path / "a.tar", good_members), store, max_bytes=1000)
    assert list(store.iterdir()) == []


def test_not_an_archive_is_a_bundle_error(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(BundleError, match="not a readable tar archive"):
        import_archive(tmp_path / "x.tar.gz", tmp_path / "store")


def test_default_bundles_int8_move_to_a_fresh_home_and_verify(tmp_path, speech_bundle, vision_bundle, text_bundle):
    """The real speech, vision and text bundles' int8 variants: exported, imported elsewhere, verified there."""
    roots = [speech_bundle, vision_bundle, text_bundle]
    out = tmp_path / "defaults.tar"
    written = export_bundles([str(r) for r in roots], out, variants=("int8",))
    assert [w.variants for w in written] == [("int8",)] * 3
    imported = cli(tmp_path / "device", "bundles", "import", str(out))
    assert imported.returncode == 0, imported.stderr
    for root in roots:
        name = load_bundle(root).name
        verified = cli(tmp_path / "device", "bundles", "--verify", name)
        assert verified.returncode == 0 and f"ok: every file of {name} matches" in verified.stdout, verified.stdout + verified.stderr
        assert list(load_bundle(store_of(tmp_path / "device") / name).variants) == ["int8"]
