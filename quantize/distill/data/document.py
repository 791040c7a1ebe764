"""The unit of the text corpus, shared by its readers (``corpus``) and the JATS article reader (``jats``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One document: ``id``, its text, its reference summary (empty when unknown) and its source file."""

    id: str
    text: str
    reference: str
    source: str
