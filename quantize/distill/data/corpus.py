"""Training and held-out text for the text student: documents, split by document, cut into sentences.

Documents come from ``*.jsonl`` files (one object per line with ``id`` and ``article``, and
optionally ``reference``), ``*.txt`` files (one document each) and JATS ``*.xml`` articles
(:mod:`edge_sdk.quantize.distill.data.jats`; only CC BY / CC0 ones). A document is held out for
evaluation when the CRC32 of its id falls in the held-out fraction, so the split is the same on
every machine and for every run, and no sentence of a held-out document is ever trained on.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from edge_sdk.errors import BundleNotFoundError, InvalidInputError
from edge_sdk.quantize.distill.data.document import Document
from edge_sdk.quantize.distill.data.jats import read_article

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_SPACE = re.compile(r"\s+")


def corpus_sentences(text: str, min_words: int = 4, max_words: int = 80) -> list[str]:
    """Cut text into sentences (a light rule-based splitter; good enough for training data).

    Lines are treated as paragraphs; sentences shorter than ``min_words`` (headings, table cells)
    or longer than ``max_words`` words (run-on tables) are dropped.
    """
    out = []
    for para in text.splitlines():
        para = _SPACE.sub(" ", para).strip()
        for sent in _SENTENCE_END.split(para):
            n = len(sent.split())
            if min_words <= n <= max_words:
                out.append(sent)
    return out


def augment(sentence: str, rng) -> str:
    """A new training input made from ``sentence``: a contiguous span of it, or it with words dropped.

    Distillation needs inputs, not labels (the teacher labels whatever it is given), and a student
    trained on 14k sentences fits them far better than unseen ones (held-out cosine 0.922 against
    0.965 on training sentences), so new inputs are made the way TinyBERT grows its data. Both kinds
    are no longer than the sentence, so a length-bucketed batch pads no further (joining two
    sentences made steps 2.5x slower).

    Args:
        rng: A ``numpy.random.Generator``.
    """
    words = sentence.split()
    if len(words) < 6:
        return sentence
    if rng.random() < 0.5:
        n = int(rng.integers(len(words) // 2, len(words)))
        start = int(rng.integers(0, len(words) - n + 1))
        return " ".join(words[start : start + n])
    kept = [w for w, keep in zip(words, rng.random(len(words)) > 0.15, strict=True) if keep]
    return " ".join(kept) if len(kept) >= 3 else sentence


def is_held_out(doc_id: str, held_out_percent: int) -> bool:
    """Stable document-level split: ``crc32(id) % 100 < held_out_percent``."""
    return zlib.crc32(doc_id.encode()) % 100 < held_out_percent


def read_documents(paths: list[Path]) -> list[Document]:
    """Every document of the ``*.jsonl``, ``*.txt`` and ``*.xml`` files in ``paths`` (files or folders).

    Raises:
        BundleNotFoundError: A path does not exist.
        InvalidInputError: A JSONL line is not an object with an ``article`` string.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".jsonl", ".txt", ".xml") and f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise BundleNotFoundError(f"text data {p} does not exist; give folders of .jsonl/.txt/.xml files with --data")
    docs = []
    for f in files:
        if f.suffix == ".txt":
            docs.append(Document(id=f.stem, text=f.read_text(errors="replace"), reference="", source=str(f)))
            continue
        if f.suffix == ".xml":
            article = read_article(f)  # None when its licence is not CC BY / CC0
            if article is not None:
                docs.append(article)
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("article"), str):
                raise InvalidInputError(f"{f}:{n}: expected a JSON object with an 'article' string")
            docs.append(Document(str(rec.get("id", f"{f.stem}-{n}")), rec["article"], str(rec.get("reference") or ""), str(f)))
    return docs


@dataclass(frozen=True)
class SentenceSplit:
    """Sentences to train on, held-out sentences, and the held-out documents (for summary ROUGE)."""

    train: tuple[str, ...]
    held_out: tuple[str, ...]
    held_out_docs: tuple[Document, ...]
    train_doc_ids: tuple[str, ...]


def sentence_split(docs: list[Document], held_out_percent: int = 20, include_references: bool = True,
                   train_only: list[Document] = ()) -> SentenceSplit:
    """Split documents by id, then cut each side into de-duplicated sentences.

    Args:
        docs: The documents.
        held_out_percent: Share of documents held out (0-90).
        include_references: Also train on the reference summaries of training documents.
        train_only: More documents, never held out; one whose id is also in ``docs`` is skipped
            (the copy in ``docs`` decides its side).
    """
    if not 0 <= held_out_percent <= 90:
        raise InvalidInputError(f"held_out_percent must be in [0, 90], got {held_out_percent}")
    train, held, held_docs, train_ids = [], [], [], []

    def train_on(d: Document) -> None:
        train_ids.append(d.id)
        train.extend(corpus_sentences(d.text) + (corpus_sentences(d.reference) if include_references else []))

    for d in docs:
        if is_held_out(d.id, held_out_percent):
            held_docs.append(d)
            held.extend(corpus_sentences(d.text))
        else:
            train_on(d)
    known = {d.id for d in docs}
    for d in train_only:
        if d.id not in known:
            train_on(d)
    held_set = set(held)
    train = [s for s in dict.fromkeys(train) if s not in held_set]
    return SentenceSplit(tuple(train), tuple(dict.fromkeys(held)), tuple(held_docs), tuple(train_ids))
