"""Text benchmark: ROUGE of fp32, int8 and Lead-3; latency at 800 and 20,000 words; int8 speed-up; peak RSS.

Run: ``python -m edge_sdk.bench.text_summarize [--limit N] [--out FILE.json]``. :func:`run_benchmark` is the
function a ``bench`` command can call. Timings are wall-clock on this machine's resolved CPU
profile; each latency is the median of repeated runs after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _text_of_words(records, words: int) -> str:
    """A text of about ``words`` words: whole documents joined, the last cut at a sentence end."""
    from edge_sdk.text.segment import split_sentences

    parts, total = [], 0
    for rec in records:
        for s in split_sentences(rec.article):
            parts.append(s.text + ("\n\n" if s.heading else " "))
            total += len(s.text.split())
            if total >= words:
                return "".join(parts).strip()
    return "".join(parts).strip()


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1), round(min(times), 1)


def run_benchmark(bundle: str, data: Path, limit: int | None = None, device: str = "auto", variants=("int8", "fp32")) -> dict:
    """Measure everything in the module docstring; returns a JSON-ready dict."""
    from edge_sdk.text.evaluate import evaluate, lead, load_jsonl, rouge
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    records = load_jsonl(data / "text" / "summaries.jsonl", limit=limit)
    long_records = load_jsonl(data / "text" / "long_documents.jsonl")
    import os

    # the machine's load says how much of the CPU the timings really had
    out: dict = {"bundle": bundle, "n": len(records), "sentences": 3, "cpus": os.cpu_count(), "load_average_1m_start": os.getloadavg()[0]}
    out["lead3"] = rouge([r.reference for r in records], [lead(r.article, 3) for r in records])
    summarizers = {v: Summarizer.create(SummarizerOptions(bundle=bundle, variant=v, device=device)) for v in variants}
    first = summarizers[variants[0]]
    out["providers"] = list(first.model.providers)
    out["profile"] = first.model.device.profile

    text800 = _text_of_words(records[:1], 800)
    text20k = _text_of_words(long_records, 20000)
    sentences = [s.text for s in first.segment(records[0].article) if len(s.text.split()) >= 3][:128]
    out["latency"] = {"words_800": len(text800.split()), "words_20k": len(text20k.split())}
    encode_ms = {}
    for v, s in summarizers.items():
        out["latency"][f"{v}_800_words_ms_median"], out["latency"][f"{v}_800_words_ms_min"] = _median_ms(lambda s=s: s.summarize(text800), 7)
        encode_ms[v] = _median_ms(lambda s=s: s.encoder.embed(sentences), 5)
        log.info("%s: 800 words %s ms, encoder %s ms", v, out["latency"][f"{v}_800_words_ms_median"], encode_ms[v])
    if "int8" in encode_ms and "fp32" in encode_ms:
        out["encoder"] = {
            "sentences": len(sentences),
            **{f"{v}_ms_median": ms[0] for v, ms in encode_ms.items()},
            "int8_speedup_median": round(encode_ms["fp32"][0] / encode_ms["int8"][0], 2),
            "int8_speedup_min": round(encode_ms["fp32"][1] / encode_ms["int8"][1], 2),
        }
    for v, s in summarizers.items():
        started = time.perf_counter()
        summary = s.summarize(text20k, sentences=10)
        out["latency"][f"{v}_20k_words_s"] = round(time.perf_counter() - started, 2)
        out["latency"][f"{v}_20k_chunks"] = summary.chunks
    for v, s in summarizers.items():
        log.info("ROUGE of %s on %d documents", v, len(records))
        out[v] = evaluate(s, records, sentences=3, baselines=False)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["load_average_1m_end"] = os.getloadavg()[0]
    return out


def markdown(result: dict) -> str:
    """The closing-note table."""
    rows = ["| | ROUGE-1 | ROUGE-2 | ROUGE-Lsum |", "|---|---|---|---|"]
    for name in ("fp32", "int8", "lead3"):
        if name in result:
            r = result[name]
            rows.append(f"| {name} | {r['rouge1']} | {r['rouge2']} | {r['rougeLsum']} |")
    lat = result.get("latency", {})
    lines = [f"ROUGE on {result['n']} documents of summaries.jsonl, 3 sentences:", *rows, ""]
    for key, value in lat.items():
        lines.append(f"- {key}: {value}")
    for key, value in result.get("encoder", {}).items():
        lines.append(f"- encoder {key}: {value}")
    lines.append(f"- peak RSS: {result.get('peak_rss_mb')} MB; profile {result.get('profile')} on {result.get('providers')}")
    lines.append(f"- {result.get('cpus')} CPUs, load average {result.get('load_average_1m_start')} -> {result.get('load_average_1m_end')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry: prints Markdown, writes JSON with ``--out``."""
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="minilm-l6-extractive")
    parser.add_argument("--data", default=os.environ.get("EDGE_SDK_DATA") or str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents for ROUGE")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="write the JSON result here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = run_benchmark(args.bundle, Path(args.data), args.limit, args.device)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
