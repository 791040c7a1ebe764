"""Text: extractive and abstractive summarization, and rolling summaries of live transcripts.

Names are imported on first use so that ``edge_sdk.text.cli`` stays light.
"""

from __future__ import annotations

from edge_sdk.lazy import lazy_exports

_EXPORTS = {
    "Summarizer": "edge_sdk.text.summarizer",
    "SummarizerOptions": "edge_sdk.text.summarizer",
    "Summary": "edge_sdk.text.summarizer",
    "SummarySentence": "edge_sdk.text.results",
    "RollingSummarizer": "edge_sdk.text.rolling",
    "RollingSummaryOptions": "edge_sdk.text.rolling",
    "TranscriptSegment": "edge_sdk.text.rolling",
    "AbstractiveSummarizer": "edge_sdk.text.abstractive",
    "AbstractiveOptions": "edge_sdk.text.abstractive",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
