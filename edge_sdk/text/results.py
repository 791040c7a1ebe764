"""What an extractive summary is made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SummarySentence:
    """A chosen sentence: ``text == document[start_char:end_char]``; ``index`` among the document's sentences."""

    text: str
    start_char: int
    end_char: int
    index: int
    score: float
    centrality: float
    position_prior: float
