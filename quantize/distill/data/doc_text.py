"""English prose from documentation that Debian packages ship, as more training sentences for the text student.

After two stages on 36k sentences the 3-layer student matches the teacher better on sentences it
trained on than on held-out ones (cosine 0.965 against 0.936, on the shared corpus's own training
documents as on PLOS), so it was given more distinct sentences of another domain. Three manuals bring
them (69,512), each under an open licence stated in its package's copyright file. A third stage with
them reached 0.933, no better than without (``benchmarks/experiments/distill-text-stage-3-docs.json``):
the held-out prose is government and science writing, which these manuals are not.

    python -m edge_sdk.quantize.distill.data.doc_text .cache/distill/data/docs     # apt-get download, unpack, write .txt

Each page becomes one ``.txt`` file (a paragraph per line; code blocks, navigation and scripts left
out) named ``<package>--<page>.txt``, so :func:`edge_sdk.quantize.distill.data.corpus.read_documents` reads the
folder as training-only documents (``--train-data``) whose ids never collide with the shared ones.
``sources.tsv`` lists every file's package, version and licence.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from edge_sdk.quantize.distill.data import debian


@dataclass(frozen=True)
class Manual:
    """Where a package keeps its English pages, their suffix, and the licence its copyright file states."""

    package: str
    folder: str
    suffix: str
    licence: str


MANUALS = (
    Manual("debian-handbook", "usr/share/doc/debian-handbook/html/en-US", ".html", "GPL-2.0+ or CC-BY-SA-3.0"),
    Manual("python3.11-doc", "usr/share/doc/python3.11/html", ".html", "PSF-2.0"),
    Manual("gnome-user-docs", "usr/share/help/C", ".page", "CC-BY-SA-3.0"),
)
_SKIP = {"pre", "script", "style", "nav"}  # never prose, even inside a paragraph
_PARAGRAPH = {"p", "dd", "li"}
_SENTENCE_END = (".", "!", "?", ":")


def _is_paragraph(tag: str, attrs) -> bool:
    """``<p>``, ``<li>``, ``<dd>``, or DocBook HTML's ``<div class="para">``."""
    return tag in _PARAGRAPH or (tag == "div" and "para" in (dict(attrs).get("class") or "").split())


class _Paragraphs(HTMLParser):
    """Text of the paragraph elements of an HTML or Mallard XML page, outside code blocks and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._skip = 0
        self._depth = 0
        self._parts: list[str] = []
        self._divs: list[bool] = []  # whether each open <div> is a paragraph

    def handle_starttag(self, tag, attrs) -> None:
        paragraph = _is_paragraph(tag, attrs)
        if tag == "div":
            self._divs.append(paragraph)
        if tag in _SKIP:
            self._skip += 1
        elif paragraph:
            self._flush()
            self._depth += 1

    def handle_endtag(self, tag) -> None:
        paragraph = self._divs.pop() if tag == "div" and self._divs else tag in _PARAGRAPH
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif paragraph and self._depth:
            self._flush()
            self._depth -= 1

    def handle_data(self, data) -> None:
        if self._depth and not self._skip:
            self._parts.append(data)

    def close(self) -> None:
        super().close()
        self._flush()  # a page may end inside an unclosed paragraph

    def _flush(self) -> None:
        text = " ".join("".join(self._parts).split())
        if text.endswith(_SENTENCE_END):  # prose; index entries and navigation links do not end a sentence
            self.paragraphs.append(text)
        self._parts = []


def page_paragraphs(markup: str) -> list[str]:
    """The prose paragraphs of one HTML or Mallard page, whitespace-normalised, in page order.

    A paragraph is kept when it ends like a sentence (``.``, ``!``, ``?`` or ``:``).
    """
    parser = _Paragraphs()
    parser.feed(markup)
    parser.close()
    return parser.paragraphs


def write_manuals(dest: Path, manuals: tuple[Manual, ...] = MANUALS) -> list[Path]:
    """Download and unpack each manual's package, write its pages as ``.txt`` into ``dest``; returns the files.

    Raises:
        MissingDependencyError: apt-get or dpkg-deb is missing.
        InvalidInputError: A package could not be downloaded.
    """
    debian.require_tools("documentation sources")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rows, files = ["file\tpackage\tversion\tlicence"], []
    with tempfile.TemporaryDirectory() as tmp:
        debs = debian.download([m.package for m in manuals], Path(tmp))
        for m in manuals:
            tree = debian.unpack(debs[m.package], Path(tmp) / m.package)
            version = debian.field(debs[m.package], "Version")
            root = tree / m.folder
            for page in sorted(root.rglob(f"*{m.suffix}")):
                lines = page_paragraphs(page.read_text(errors="replace"))
                if not lines:
                    continue
                name = "_".join(page.relative_to(root).with_suffix("").parts)
                out = dest / f"{m.package}--{name}.txt"
                out.write_text("\n".join(lines) + "\n")
                files.append(out)
                rows.append(f"{out.name}\t{m.package}\t{version}\t{m.licence}")
    (dest / "sources.tsv").write_text("\n".join(rows) + "\n")
    return files


if __name__ == "__main__":
    written = write_manuals(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/distill/data/docs"))
    print(f"{len(written)} pages in {written[0].parent if written else '-'}")
