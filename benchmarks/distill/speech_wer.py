"""WER of a distilled Whisper student's variants against the teacher on its held-out clips, at any beam size,
and how far its word timestamps fall from the teacher's.

Reads a ``distill speech --out`` folder: ``eval-bundle/`` (the teacher's fp32 plus the student variants) and
``held_out.tsv``.

    EDGE_SDK_HOME=.cache/test-home python benchmarks/distill/speech_wer.py .cache/distill/speech-v8 --beam-size 5 \
        --variants fp32 distilled int8-0 int8-1 --word-timestamps --json benchmarks/experiments/distill-speech-beam5.json
"""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path

import numpy as np

from edge_sdk.quantize.distill.students.speech import WER_BUDGET_POINTS
from edge_sdk.speech.evaluate import evaluate, read_manifest, word_errors
from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions


def word_time_gaps(bundle: Path, student: str, clips: list[Path]) -> dict:
    """|start| and |end| differences (s) between the teacher's (fp32) and ``student``'s words that both transcripts share."""
    asr = {v: Transcriber.create(TranscriberOptions(bundle=str(bundle), variant=v, word_timestamps=True)) for v in ("fp32", student)}
    plain = lambda w: w.text.strip().strip(".,?!\"'").lower()  # noqa: E731
    starts, ends, teacher_words = [], [], 0
    for clip in clips:
        t, s = ([w for seg in asr[v].transcribe(clip)[0] for w in seg.words] for v in ("fp32", student))
        teacher_words += len(t)
        for block in difflib.SequenceMatcher(a=[plain(w) for w in t], b=[plain(w) for w in s], autojunk=False).get_matching_blocks():
            for k in range(block.size):
                starts.append(abs(t[block.a + k].start_s - s[block.b + k].start_s))
                ends.append(abs(t[block.a + k].end_s - s[block.b + k].end_s))
    q = lambda x, p: round(float(np.percentile(x, p)), 3)  # noqa: E731
    return {"shared_words": len(starts), "teacher_words": teacher_words, "start_median_s": q(starts, 50), "start_p90_s": q(starts, 90),
            "end_median_s": q(ends, 50), "end_p90_s": q(ends, 90)}


def errors_by_clip(manifest: Path, hypotheses: dict[str, str]) -> dict[str, list[int]]:
    """``[reference words, word errors]`` per clip, in the corpus WER's own terms (:func:`word_errors`)."""
    rows = read_manifest(manifest)
    counts = word_errors([ref for _, ref in rows], [hypotheses[str(path)] for path, _ in rows])
    return {path.name: list(c) for (path, _), c in zip(rows, counts, strict=True)}


def gap_interval(teacher: dict, student: dict, budget_points: float = WER_BUDGET_POINTS, draws: int = 10_000) -> dict:
    """The student's WER gap to the teacher when the clips are resampled with replacement (``draws`` times, seeded):
    median, 95 % interval, and the share of draws within ``budget_points``. Arguments are :func:`errors_by_clip` results."""
    names = sorted(teacher)
    words, t, s = (np.array([table[n][i] for n in names]) for table, i in ((teacher, 0), (teacher, 1), (student, 1)))
    idx = np.random.default_rng(0).integers(0, len(names), (draws, len(names)))
    gaps = 100.0 * (s[idx].sum(1) - t[idx].sum(1)) / words[idx].sum(1)
    lo, mid, hi = (round(float(x), 2) for x in np.percentile(gaps, [2.5, 50, 97.5]))
    return {"median_points": mid, "interval_95_points": [lo, hi], "share_within_budget": round(float((gaps <= budget_points).mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path, help="a 'distill speech --out' folder")
    ap.add_argument("--variants", nargs="+", default=["fp32", "distilled"])
    ap.add_argument("--beam-size", type=int, default=1)
    ap.add_argument("--options", type=json.loads, default={}, help='more TranscriberOptions as JSON, e.g. \'{"condition_on_previous_text": false}\'')
    ap.add_argument("--word-timestamps", action="store_true", help="also compare the 'distilled' variant's word times with the teacher's")
    ap.add_argument("--manifest", type=Path, help="clips to evaluate on (default: the run's held_out.tsv)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    bundle, manifest = args.workdir / "eval-bundle", args.manifest or args.workdir / "held_out.tsv"
    out = {"beam_size": args.beam_size, "options": args.options, "wer": {}}
    for v in args.variants:
        r = evaluate(Transcriber.create(TranscriberOptions(bundle=str(bundle), variant=v, beam_size=args.beam_size, **args.options)), manifest)
        clips = errors_by_clip(manifest, r.hypotheses)
        words, errors = (sum(c[i] for c in clips.values()) for i in (0, 1))
        out["wer"][v] = {"wer": r.wer, "n": r.n, "rtf": r.rtf, "word_errors": errors, "words": words, "errors_by_clip": clips,
                         "hypotheses": r.hypotheses}
        print(f"{v}: WER {r.wer:.2f} % ({errors} errors in {words} words) on {r.n} clips, RTF {r.rtf:.4f} (beam {args.beam_size})", flush=True)
    if "fp32" in out["wer"]:
        for v in args.variants:
            if v != "fp32":
                out["wer"][v]["gap_vs_fp32_resampled"] = gap = gap_interval(out["wer"]["fp32"]["errors_by_clip"], out["wer"][v]["errors_by_clip"])
                print(f"{v}: gap to fp32 {gap['median_points']} points, 95 % interval {gap['interval_95_points']} over resampled clips, "
                      f"within {WER_BUDGET_POINTS} points in {gap['share_within_budget']:.0%} of draws")
    if args.word_timestamps:
        out["word_times_distilled_vs_teacher"] = gaps = word_time_gaps(bundle, "distilled", [p for p, _ in read_manifest(manifest)])
        print(json.dumps(gaps))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
