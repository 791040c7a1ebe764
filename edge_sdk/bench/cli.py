"""``edge-sdk bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edge_sdk.cli_common import names_from

TASKS = ("speech", "vision", "text")


def _report(path: str) -> dict:
    """A bench report read from ``path``, or InvalidInputError naming the file and what is wrong with it."""
    from edge_sdk.errors import InvalidInputError
    from edge_sdk.inputfile import check_input_file, read_input_file

    p = check_input_file(path, "bench report")
    try:
        report = json.loads(read_input_file(p, "bench report", 64 * 2**20))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"bench report {path!r} is not JSON ({exc}); give two report.json files written by 'edge-sdk bench'") from None
    if not isinstance(report, dict):
        raise InvalidInputError(f"bench report {path!r} holds a JSON {type(report).__name__}, not a report object; "
                                "give two report.json files written by 'edge-sdk bench'")
    return report


def cmd_bench(args) -> int:
    from edge_sdk.bench.report import compare, validate
    from edge_sdk.bench.run import print_summary, run_bench
    from edge_sdk.datasets import data_dir

    if args.compare:
        a, b = (_report(p) for p in args.compare)
        lines = compare(a, b)
        print("\n".join(lines) or "no common results")
        return 1 if any("REGRESSION" in line for line in lines) else 0
    tasks = args.tasks
    variants = [v for v in args.variants.split(",") if v] if args.variants else None
    report = run_bench(tasks, variants, Path(args.out), data_dir(args.data), args.reference, args.quick, " ".join(sys.argv))
    print_summary(report)
    problems = validate(report)
    for p in problems:
        print(f"report problem: {p}", file=sys.stderr)
    print(f"report: {Path(args.out) / 'report.json'}")
    return 1 if problems or not report["results"] else 0


def register(sub, eval_sub) -> None:
    p = sub.add_parser("bench", help="benchmark every task and variant on this device profile")
    p.add_argument("--tasks", type=names_from(TASKS), default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)} (default: all)")
    p.add_argument("--variants", default=None, help="comma-separated, e.g. fp32,int8 (default: all the bundles have)")
    p.add_argument("--out", default="bench-out")
    p.add_argument("--data", default=None, help="evaluation data folder (default: $EDGE_SDK_DATA, else the repository's data/)")
    p.add_argument("--reference", action="store_true", help="also run faster-whisper, PyTorch eager and plain onnxruntime")
    p.add_argument("--quick", action="store_true", help="few samples: checks the report, not the figures")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print differences between two reports")
    p.set_defaults(func=cmd_bench)
