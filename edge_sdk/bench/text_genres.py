"""Extractive summaries per genre: int8, fp32, Lead-3 and the greedy oracle side by side, and a transcript genre.

``python -m edge_sdk.bench.text_genres [--news FILE ...] [--out DIR]``

- news: ``text/news_bbc.jsonl`` (60 BBC articles) and every ``--news`` JSONL (``article``/``reference``), none of them
  used to train or tune the ranker;
- reports: the odd records of ``text/summaries.jsonl`` (the ranker trained on the even ones);
- transcripts: ``speech/long`` transcribed by the int8 speech bundle, summarized, and scored against the summary of
  its reference transcript (LibriSpeech's: capitals, no punctuation, so it is summarized in model-sized pieces):
  the recognized text as the recognizer writes it (sentences) and with punctuation and capitals removed (pieces, as
  the reference).

Writes ``text_genres.json`` and ``text_genres.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

VARIANTS = ("int8", "fp32")
SENTENCES = 3


def genre_rows(name: str, records, summarizers: dict) -> list[dict]:
    """One row per variant, then Lead-3 and the oracle, for ``records``."""
    from edge_sdk.text.evaluate import evaluate

    rows, baselines = [], {}
    for variant, s in summarizers.items():
        r = evaluate(s, records, sentences=SENTENCES, baselines=not baselines)
        baselines = baselines or {"lead-3": r["lead3"], "oracle": r["oracle"]}
        rows.append({"genre": name, "system": variant, "n": r["n"], **{k: r[k] for k in ("rouge1", "rouge2", "rougeLsum")}})
    return rows + [{"genre": name, "system": system, "n": len(records), **figures} for system, figures in baselines.items()]


def unpunctuated(text: str) -> str:
    """``text`` as a recognizer without punctuation writes it: lower case, no sentence marks, one line."""
    return re.sub(r"\s+", " ", re.sub(r"[.,;:!?\"]", " ", text.lower())).strip()


def transcript_rows(summarizer, data: Path) -> list[dict]:
    """ROUGE of summaries of the recognized ``speech/long`` against the summary of its reference text."""
    from edge_sdk import Transcriber, TranscriberOptions
    from edge_sdk.audio import load_audio
    from edge_sdk.text.evaluate import rouge

    folder = data / "speech" / "long"
    reference_text = next(folder.glob("*.txt")).read_text(encoding="utf-8")
    with Transcriber.create(TranscriberOptions(bundle="whisper-tiny.en", variant="int8")) as asr:
        segments = asr.transcribe(load_audio(next(folder.glob("*.flac")))[0], sample_rate=16000)[0]
        recognized = " ".join(s.text for s in segments)  # segments are decoded as they are read
    reference_summary = [s.text for s in summarizer.summarize(reference_text, sentences=SENTENCES).sentences]
    rows = []
    for system, text in (("asr, punctuated", recognized), ("asr, unpunctuated", unpunctuated(recognized))):
        got = [s.text for s in summarizer.summarize(text, sentences=SENTENCES).sentences]
        rows.append({"genre": "transcript vs reference-text summary", "system": system, "n": 1,
                     **rouge([" ".join(reference_summary)], [got])})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| genre | system | n | ROUGE-1 | ROUGE-2 | ROUGE-Lsum |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['genre']} | {r['system']} | {r['n']} | {r['rouge1']:.2f} | {r['rouge2']:.2f} | {r['rougeLsum']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.datasets import data_dir
    from edge_sdk.text.evaluate import load_jsonl
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    ap = argparse.ArgumentParser(prog="python -m edge_sdk.bench.text_genres", description=__doc__.split("\n\n")[0])
    ap.add_argument("--news", nargs="*", default=[], help="more news JSONL files (article, reference)")
    ap.add_argument("--out", default="benchmarks/results", help="folder for text_genres.json / .md")
    args = ap.parse_args(argv)
    data = data_dir()
    genres = [("news: BBC (data/text/news_bbc.jsonl)", load_jsonl(data / "text" / "news_bbc.jsonl"))]
    genres += [(f"news: {Path(f).name}", load_jsonl(f)) for f in args.news]
    genres.append(("reports: summaries.jsonl odd records", load_jsonl(data / "text" / "summaries.jsonl")[1::2]))
    summarizers = {v: Summarizer.create(SummarizerOptions(variant=v)) for v in VARIANTS}
    rows = [row for name, records in genres for row in genre_rows(name, records, summarizers)]
    rows += transcript_rows(summarizers["int8"], data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "text_genres.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    (out / "text_genres.md").write_text(markdown(rows), encoding="utf-8")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
