"""The State of the Union fetcher: only the addresses are unpacked, and a tampered archive is refused."""

import base64
import hashlib
import io
import tarfile

import pytest

from edge_sdk.errors import InvalidInputError
from quantize.distill.corpus import read_documents
from quantize.distill.npm import check_integrity
from quantize.distill.sotu import unpack_addresses


def _tarball(path, files: dict[str, str]):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_only_the_addresses_are_unpacked_and_read_as_documents(tmp_path):
    archive = _tarball(tmp_path / "sotu.tgz", {
        "package/data/1790_george_washington_n.txt": "Fellow-Citizens of the Senate and House of Representatives.",
        "package/data/1790_george_washington_n.json": '["the same address as JSON"]',
        "package/README.md": "not an address",
    })
    files = unpack_addresses(archive, tmp_path / "out")
    assert [f.name for f in files] == ["1790_george_washington_n.txt"]
    docs = read_documents([tmp_path / "out"])
    assert [d.id for d in docs] == ["1790_george_washington_n"]
    assert docs[0].text.startswith("Fellow-Citizens of the Senate")


def test_a_tarball_that_does_not_match_the_registry_hash_is_refused():
    data = b"the package"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    check_integrity(data, good, "pkg")
    with pytest.raises(InvalidInputError, match="does not match"):
        check_integrity(data + b"!", good, "pkg")
    with pytest.raises(InvalidInputError, match="unsupported integrity"):
        check_integrity(data, "sha1-abc", "pkg")
