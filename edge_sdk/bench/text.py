"""Text benchmark: per-document summarization latency and ROUGE on the shared texts.

Reference ``ref:onnxruntime-fp32``: the same summarizer on the fp32 encoder in a plain
onnxruntime session with default options, to show what the profile's session settings add.
"""

from __future__ import annotations

import time
from pathlib import Path

from edge_sdk.devices.resolve import ResolvedDevice
from edge_sdk.text.evaluate import lead, load_jsonl, rouge

BUNDLE = "minilm-l6-extractive"


class Runner:
    def __init__(self, variant: str, device: ResolvedDevice, data: Path, quick: bool):
        from edge_sdk.text.encoder import SentenceEncoder
        from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

        self.variant, self.quick = variant, quick
        # Every third document keeps a full run within minutes on a 2-core CPU (42 of 124).
        records = load_jsonl(data / "text" / "summaries.jsonl")
        self.records = records[:5] if quick else records[::3]
        if variant == "ref:onnxruntime-fp32":
            from edge_sdk.bench.references import onnxruntime_default_session
            from edge_sdk.runtime import load_model

            model = load_model(BUNDLE, "fp32", device, task="text")
            plain = onnxruntime_default_session(model.bundle.read(model.variant.files["encoder"]))
            encoder = SentenceEncoder(plain, model.bundle.read_asset("tokenizer"), model.bundle.preprocessing["max_tokens"])
            self.summarizer = Summarizer(SummarizerOptions(bundle=BUNDLE, variant="fp32"), encoder, model)
            self.providers = tuple(plain.get_providers())
        else:
            self.summarizer = Summarizer.create(SummarizerOptions(bundle=BUNDLE, variant=variant, device=device.profile))
            self.providers = self.summarizer.model.providers
        v = self.summarizer.model.variant
        self.bundle_name, self.model_size_mb = BUNDLE, round(v.size_bytes / 1e6, 2)
        self.summaries: list[list[str]] = []

    def warmup(self) -> None:
        self.summarizer.summarize(self.records[0].article, sentences=3)

    def timed(self) -> list[float]:
        samples, self.summaries = [], []
        for rec in self.records:
            t0 = time.perf_counter()
            summary = self.summarizer.summarize(rec.article, sentences=3)
            samples.append((time.perf_counter() - t0) * 1000)
            self.summaries.append([s.text for s in summary.sentences])
        return samples

    def throughput(self, samples_ms: list[float]) -> dict:
        return {"value": round(1000 * len(samples_ms) / sum(samples_ms), 2), "unit": "docs/s"}

    def accuracy(self) -> dict:
        refs = [r.reference for r in self.records]
        scores = rouge(refs, self.summaries)
        return {"metric": "rouge1", "value": scores["rouge1"], **scores, "n": len(self.records), "lead3": rouge(refs, [lead(r.article) for r in self.records]), "data": "shared/data/text/summaries.jsonl" + ("[:5]" if self.quick else "[::3]")}

    def live(self) -> None:
        return None
