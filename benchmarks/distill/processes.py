"""Seconds per optimisation step of one student under several process layouts and precisions, run one after another.

Each layout trains the same student for the same steps with the same global batch: one process with
all the threads, or ``torchrun`` processes sharing them (each with its share of every batch), in each
of ``--precisions`` (``bf16`` autocast runs on AMX / AVX-512 BF16 CPUs). The figure is the report's
``s_per_step`` (optimisation steps only); the ratio to the first run is the one to quote. Training
only: the store is an empty folder, so nothing is exported or written.

    python benchmarks/distill/processes.py text --steps 40 --layouts 1x2 2x1 --json benchmarks/experiments/distill-processes.json
    python benchmarks/distill/processes.py text --steps 40 --layouts 1x2 --precisions fp32 bf16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run_layout(student: str, processes: int, threads: int, steps: int, batch: int, extra: list[str], work: Path) -> dict:
    """Train ``steps`` steps with ``processes`` x ``threads`` and return the report's training entry."""
    out = work / f"{processes}x{threads}"
    args = ["-m", "edge_sdk.quantize", "distill", student, "--device", "cpu", "--steps", str(steps), "--batch-size", str(batch),
            "--threads", str(threads), "--no-write", "--out", str(out), *extra]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] if processes > 1 else [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "EDGE_SDK_HOME": str(work / "empty-store")}
    subprocess.run([*launch, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "report.json").read_text())["training"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("student", choices=("text", "speech", "vision", "ctc"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--layouts", nargs="+", default=["1x2", "2x1"], help="PROCESSESxTHREADS, the first is the reference")
    ap.add_argument("--precisions", nargs="+", default=["fp32"], help="training arithmetic of each layout (fp32, bf16, fp16)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args, extra = ap.parse_known_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts:
            processes, threads = (int(v) for v in layout.split("x"))
            for precision in args.precisions:
                name = layout if len(args.precisions) == 1 else f"{layout} {precision}"
                t = run_layout(args.student, processes, threads, args.steps, args.batch_size, [*extra, "--precision", precision],
                               Path(tmp) / precision)
                rows[name] = {"s_per_step": t["s_per_step"], "processes": t["processes"], "torch_threads": t["torch_threads"],
                              "precision": t["precision"], "first_loss": t["first_loss"], "last_loss": t["last_loss"]}
    ref = next(iter(rows.values()))["s_per_step"]
    for row in rows.values():
        row["speedup_vs_first"] = round(ref / row["s_per_step"], 3)
    out = {"student": args.student, "steps": args.steps, "batch_size": args.batch_size, "extra_args": extra, "layouts": rows}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
