"""Openly licensed scientific articles in JATS XML (PLOS's format) as training documents.

The text student is short of data (held-out cosine 0.922 against 0.965 on its own training
sentences), and the shared corpus is scientific and government prose. PLOS's ``allofplos``
source package on PyPI carries a starter corpus of 122 full articles in JATS XML; every article
states its licence, and only CC BY and CC0 / public-domain ones are kept, as for the shared texts.

    python -m edge_sdk.quantize.distill.data.jats .cache/distill/data/plos     # fetch from PyPI and unpack

Articles become :class:`edge_sdk.quantize.distill.data.document.Document` objects (body paragraphs as lines,
abstract as reference) with the shared corpus's ids (``plos-journal.pone.0081648``), so an
article that is also a shared document is recognised and never trained on when held out.
"""

from __future__ import annotations

import logging
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.data.document import Document
from edge_sdk.quantize.distill.data.pypi import fetch_sdist

log = logging.getLogger(__name__)

PLOS_PACKAGE = ("allofplos", "0.11.1")  # the last source release that ships starter_corpus/*.xml
_SKIP = {"table-wrap", "fig", "ref-list", "supplementary-material", "ack", "fn-group", "title", "label", "caption"}
_FORMULA = {"inline-formula", "disp-formula"}
_OPEN_LICENCES = ("creativecommons.org/licenses/by/", "creativecommons.org/publicdomain/zero/",
                  "creative commons attribution", "free of all copyright", "creative commons public domain")
_RESTRICTED = ("by-nc", "by-nd", "noncommercial", "non-commercial", "noderiv", "no derivative")


def _text(el: ET.Element) -> str:
    parts = [el.text or ""]
    for child in el:
        if child.tag in _FORMULA:
            parts.append(" [formula] ")
        elif child.tag not in _SKIP:
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _paragraphs(el: ET.Element | None) -> list[str]:
    if el is None or el.tag in _SKIP:
        return []
    if el.tag == "p":
        return [" ".join(_text(el).split())]
    return [p for child in el for p in _paragraphs(child)]


def licence_of(root: ET.Element) -> str:
    """The article's licence statement: its ``<license>`` link and text, whitespace-normalised."""
    lic = root.find(".//permissions/license")
    if lic is None:
        return ""
    href = next((v for k, v in lic.attrib.items() if k.endswith("href")), "")
    return " ".join(f"{href} {_text(lic)}".split())


def is_open_licence(statement: str) -> bool:
    """CC BY (any version) or CC0 / public domain, as the shared texts were chosen; never NC or ND."""
    s = statement.lower()
    return any(mark in s for mark in _OPEN_LICENCES) and not any(mark in s for mark in _RESTRICTED)


def read_article(path: Path) -> Document | None:
    """The article at ``path`` as a ``Document``, or ``None`` when its licence is not CC BY / CC0.

    Raises:
        InvalidInputError: The file is not well-formed XML.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InvalidInputError(f"{path}: not a well-formed JATS XML article ({exc})") from exc
    if not is_open_licence(licence_of(root)):
        log.info("skipping %s: licence is not CC BY or CC0 (%r)", path.name, licence_of(root)[:80])
        return None
    doi = next((e.text or "" for e in root.iterfind(".//article-meta/article-id") if e.get("pub-id-type") == "doi"), "")
    doc_id = "plos-" + doi.removeprefix("10.1371/") if doi.startswith("10.1371/") else (doi or path.stem)
    body = "\n".join(p for p in _paragraphs(root.find("body")) if p)
    abstract = " ".join(_paragraphs(root.find(".//article-meta/abstract")))
    return Document(id=doc_id, text=body, reference=abstract, source=str(path))


def fetch_plos_starter_corpus(dest: Path) -> list[Path]:
    """Download ``allofplos``'s source package from PyPI and unpack its articles into ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fetch_sdist(*PLOS_PACKAGE, Path(tmp))) as tar:
            for member in tar.getmembers():
                if member.isfile() and "/starter_corpus/" in member.name and member.name.endswith(".xml"):
                    (dest / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    return sorted(dest.glob("*.xml"))


if __name__ == "__main__":
    files = fetch_plos_starter_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/distill/data/plos"))
    print(f"{len(files)} articles in {files[0].parent if files else '-'}")
