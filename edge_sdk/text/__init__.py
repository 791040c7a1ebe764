"""Text: extractive and abstractive summarization, and rolling summaries of live transcripts.

Names are imported on first use so that ``edge_sdk.text.cli`` stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Summarizer": "edge_sdk.text.summarizer",
    "SummarizerOptions": "edge_sdk.text.summarizer",
    "Summary": "edge_sdk.text.summarizer",
    "SummarySentence": "edge_sdk.text.summarizer",
    "RollingSummarizer": "edge_sdk.text.rolling",
    "RollingSummaryOptions": "edge_sdk.text.rolling",
    "TranscriptSegment": "edge_sdk.text.rolling",
    "AbstractiveSummarizer": "edge_sdk.text.abstractive",
    "AbstractiveOptions": "edge_sdk.text.abstractive",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edge_sdk.text' has no attribute {name!r}")
