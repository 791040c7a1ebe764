"""Speech footprint beside faster-whisper: whole processes, same machine, same run.

``python -m edge_sdk.bench.speech_footprint [--variants int8,fp32] [--cores 0] [--out DIR]``

Each system runs in a fresh process per measurement, so peak RSS and cold start are its own:

- ``clips``: the shared clips one by one; cold start (process spawn to the first transcript), per-clip latency,
  WER, peak RSS.
- ``long``: ``speech/long`` (3.6 min) in one call; wall time, WER, peak RSS.

``ref:faster-whisper`` is faster-whisper int8 on the CTranslate2 weights the bundle was imported from (greedy,
same threads). ``--cores 0`` pins every process to CPU 0 (``taskset``), a CPU half as wide as two cores.
Writes ``speech_footprint.json`` and ``speech_footprint.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = "ref:faster-whisper"


def _system(variant: str, threads: int):
    """``(transcribe(audio) -> text, model size in MB)`` for a bundle variant or the reference."""
    if variant == REFERENCE:
        from edge_sdk.bench.references import faster_whisper_folder, faster_whisper_model

        model = faster_whisper_model(threads)

        def run(audio):
            segments, _ = model.transcribe(audio, beam_size=1, language="en", vad_filter=False)
            return " ".join(s.text.strip() for s in segments)

        folder = faster_whisper_folder()
        return run, round(sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6, 1)
    from edge_sdk import Transcriber, TranscriberOptions

    asr = Transcriber.create(TranscriberOptions(bundle="whisper-tiny.en", variant=variant))
    size = sum(f.size for f in asr.bundle.variants[variant].files.values()) / 1e6

    def run(audio):
        return " ".join(s.text for s in asr.transcribe(audio, sample_rate=16000)[0])

    return run, round(size, 1)


def child(variant: str, what: str, data: Path, spawned_at: float) -> dict:
    """One measurement in this process (``--child``)."""
    import numpy as np

    from edge_sdk.audio import load_audio
    from edge_sdk.devices.resolve import resolve_device
    from edge_sdk.memory import peak_rss_mb
    from edge_sdk.speech.evaluate import corpus_wer, read_manifest

    run, size_mb = _system(variant, resolve_device("auto").intra_op_threads)
    row: dict = {"variant": variant, "what": what, "model_mb": size_mb}
    if what == "clips":
        clips = read_manifest(data / "speech" / "transcripts.tsv")
        hyps, ms = [], []
        for path, _ in clips:
            audio = load_audio(path)[0]
            t0 = time.perf_counter()
            hyps.append(run(audio))
            ms.append((time.perf_counter() - t0) * 1000)
            if len(hyps) == 1:
                row["cold_start_s"] = round(time.time() - spawned_at, 2)
        row |= {"clips": len(clips), "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p95_ms": round(float(np.percentile(ms, 95)), 1), "wer": round(corpus_wer([r for _, r in clips], hyps), 2)}
    else:
        path = next((data / "speech" / "long").glob("*.flac"))
        audio = load_audio(path)[0]
        t0 = time.perf_counter()
        text = run(audio)
        row |= {"audio_s": round(audio.shape[0] / 16000, 1), "wall_s": round(time.perf_counter() - t0, 2),
                "wer": round(corpus_wer([path.with_suffix(".txt").read_text()], [text]), 2)}
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return row


def measure(variant: str, what: str, data: Path, cores: str | None) -> dict:
    """Run :func:`child` in a fresh process (pinned to ``cores`` when given) and return its row."""
    cmd = [sys.executable, "-m", "edge_sdk.bench.speech_footprint", "--child", variant, what, "--data", str(data)]
    if cores is not None:
        cmd = ["taskset", "-c", cores, *cmd]
    spawned = time.time()
    out = subprocess.run(cmd + ["--spawned-at", repr(spawned)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"variant": variant, "what": what, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    cols = ("variant", "what", "model_mb", "peak_rss_mb", "cold_start_s", "p50_ms", "p95_ms", "wall_s", "wer")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def ratios(rows: list[dict], variant: str) -> dict:
    """``variant`` / faster-whisper for peak RSS, p50, long wall time and cold start (same run)."""
    def get(v, what, key):
        return next((r.get(key) for r in rows if r["variant"] == v and r["what"] == what), None)

    out = {}
    for what, key in (("clips", "peak_rss_mb"), ("long", "peak_rss_mb"), ("clips", "p50_ms"), ("long", "wall_s"),
                      ("clips", "cold_start_s")):
        a, b = get(variant, what, key), get(REFERENCE, what, key)
        if a and b:
            out[f"{what} {key}"] = round(a / b, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    from edge_sdk.datasets import data_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="int8", help="bundle variants, comma-separated (default: %(default)s)")
    p.add_argument("--cores", default=None, help="taskset CPU list for every process, e.g. 0 (default: all)")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/experiments/speech-footprint"))
    p.add_argument("--child", nargs=2, metavar=("VARIANT", "WHAT"), help=argparse.SUPPRESS)
    p.add_argument("--spawned-at", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    data = args.data or data_dir()
    if args.child:
        print(json.dumps(child(*args.child, data, args.spawned_at or time.time())))
        return 0
    from edge_sdk.bench.machine import describe

    rows = []
    for variant in [*args.variants.split(","), REFERENCE]:
        for what in ("clips", "long"):
            rows.append(measure(variant, what, data, args.cores))
            print(json.dumps(rows[-1]), flush=True)
    report = {"command": " ".join(["python -m edge_sdk.bench.speech_footprint", *(argv or sys.argv[1:])]),
              "cores": args.cores or f"all ({os.cpu_count()})", "machine": describe(), "rows": rows,
              "ratios_vs_faster_whisper": {v: ratios(rows, v) for v in args.variants.split(",")}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speech_footprint.json").write_text(json.dumps(report, indent=2, default=str))
    md = [f"# Speech footprint beside faster-whisper ({report['machine'].get('cpu_model')}, cores: {report['cores']})", "",
          f"`{report['command']}`", "", table(rows), "", "Ratios to faster-whisper int8, same run:", ""]
    md += [f"- {v}: {r}" for v, r in report["ratios_vs_faster_whisper"].items()]
    (args.out / "speech_footprint.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
