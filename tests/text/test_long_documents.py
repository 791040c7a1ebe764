"""The 6 long documents (5k-18k words) and a 20,000-word text summarize within bounded memory."""

from __future__ import annotations

import threading
import time

import pytest

from edge_sdk.text.evaluate import load_jsonl
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

psutil = pytest.importorskip("psutil", reason="psutil (edge-sdk-ondevice[bench]) measures RSS")
RSS_GROWTH_LIMIT_MB = 300


class PeakRSS:
    """Samples this process's RSS every 20 ms while in the ``with`` block."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


@pytest.fixture(scope="module")
def summarizer(text_bundle):
    with Summarizer.create(SummarizerOptions(bundle=str(text_bundle), variant="int8", device="x86_64-avx2", chunk_words=3000)) as s:
        s.summarize("Warm up the session. It allocates its arena on the first run.")
        yield s


@pytest.mark.slow
def test_long_documents_summarize_in_chunks_within_bounded_memory(summarizer, data_dir) -> None:
    records = load_jsonl(data_dir / "text" / "long_documents.jsonl")
    assert len(records) == 6
    for rec in records:
        with PeakRSS() as rss:
            summary = summarizer.summarize(rec.article, sentences=5)
        print(f"\n{rec.id}: {summary.input_words} words, {summary.chunks} chunks, {summary.elapsed_ms / 1000:.1f} s, "
              f"RSS +{rss.growth_mb:.0f} MB")
        assert len(summary.sentences) == 5
        assert summary.chunks >= summary.input_words // 3000
        assert rss.growth_mb < RSS_GROWTH_LIMIT_MB
        for s in summary.sentences:
            assert rec.article[s.start_char : s.end_char] == s.text
        assert [s.start_char for s in summary.sentences] == sorted(s.start_char for s in summary.sentences)
