"""``edge-sdk bench``: every task on every available variant, plus optional references."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from edge_sdk.bench import machine
from edge_sdk.bench.energy import open_meter
from edge_sdk.bench.report import SCHEMA, render_table, write_report
from edge_sdk.bundle import load_bundle
from edge_sdk.devices.resolve import resolve_device
from edge_sdk.errors import BundleNotFoundError

DEFAULT_BUNDLES = {"speech": "whisper-tiny.en", "vision": "efficientnet-lite0", "text": "minilm-l6-extractive"}
# Well-known alternatives measured beside the SDK in the same run.
REFERENCES = {"speech": ["ref:faster-whisper"], "vision": ["ref:onnxruntime-fp32", "ref:onnxruntime-int8-default", "ref:torch-eager"], "text": ["ref:onnxruntime-fp32", "ref:torch-eager"]}


def _progress(i: int, n: int, label: str) -> None:
    width = 30
    done = int(width * i / max(n, 1))
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {label[:50]:50s}")
    sys.stderr.flush()


def _worker(task: str, variant: str, data: Path, quick: bool, timeout_s: int = 1800) -> dict:
    if variant == "ref:torch-eager":  # needs torch, so it lives in quantize/, outside the runtime
        cmd = [sys.executable, "-m", "edge_sdk.quantize.torch_eager", task, "--data", str(data)]
    else:
        cmd = [sys.executable, "-m", "edge_sdk.bench.worker", task, variant, "--data", str(data)]
    cmd += ["--quick"] if quick else []
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=os.environ.copy())
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        return json.loads(line) if line else {"task": task, "variant": variant, "error": out.stderr[-1500:]}
    except subprocess.TimeoutExpired:
        return {"task": task, "variant": variant, "error": f"timed out after {timeout_s} s"}


def plan(tasks: list[str], variants: list[str] | None) -> tuple[list[tuple[str, str]], list[dict]]:
    """(task, variant) pairs to run, and notes on what is skipped and why."""
    jobs, skipped = [], []
    for task in tasks:
        try:
            bundle = load_bundle(DEFAULT_BUNDLES[task])
        except BundleNotFoundError as exc:
            skipped.append({"task": task, "reason": str(exc)})
            continue
        for v in bundle.variants:
            if variants and v not in variants:
                continue
            jobs.append((task, v))
        for v in variants or []:
            if v not in bundle.variants:
                skipped.append({"task": task, "variant": v, "reason": f"bundle {bundle.name} has no variant {v}"})
    return jobs, skipped


def _ratios(results: list[dict], references: list[dict]) -> dict:
    def p50(rows, task, name):
        for r in rows:
            if r["task"] == task and (r.get("variant") == name or r.get("name") == name) and "latency_ms" in r:
                return r["latency_ms"]["p50"]
        return None

    out = {}
    pairs = [
        ("speech int8 / faster-whisper int8 (p50 per clip)", ("speech", "int8"), ("speech", "ref:faster-whisper")),
        ("vision int8 / onnxruntime fp32 (p50 per frame)", ("vision", "int8"), ("vision", "ref:onnxruntime-fp32")),
        ("vision int8 / onnxruntime int8 defaults", ("vision", "int8"), ("vision", "ref:onnxruntime-int8-default")),
        ("text int8 / fp32 (p50 per document)", ("text", "int8"), ("text", "fp32")),
    ]
    rows = results + references
    for label, (ta, va), (tb, vb) in pairs:
        a, b = p50(rows, ta, va), p50(rows, tb, vb)
        if a and b:
            out[label] = round(a / b, 3)
    return out


def _energy_sources(rows: list[dict]) -> str:
    """What measured the rows' energy, e.g. ``jetson-ina (board input rail VDD_IN)``; else why nothing could."""
    found = sorted({f"{e['source']} ({e.get('scope')})" for r in rows if (e := r.get("energy") or {}).get("joules") is not None})
    if found:
        return "; ".join(found)
    meter = open_meter()
    return f"unavailable: {meter.reason}" if meter.source == "unavailable" else f"{meter.source} ({meter.scope})"


def run_bench(tasks: list[str], variants: list[str] | None, out: Path, data: Path, reference: bool, quick: bool, command: str = "") -> dict:
    """Run the benchmark and write ``report.json``, ``report.md`` and charts into ``out``."""
    device = resolve_device("auto")
    load_before = os.getloadavg()
    jobs, skipped = plan(tasks, variants)
    refs = [(t, r) for t in tasks for r in REFERENCES.get(t, [])] if reference else []
    results, references = [], []
    total = len(jobs) + len(refs)
    for i, (task, variant) in enumerate(jobs + refs):
        _progress(i, total, f"{task}/{variant}")
        row = _worker(task, variant, data, quick)
        if variant.startswith("ref:"):
            row.update(name=variant, available="error" not in row)
            if "error" in row:
                row["reason"] = row.pop("error")
            references.append(row)
        elif "error" in row:
            skipped.append({"task": task, "variant": variant, "reason": row["error"]})
        else:
            results.append(row)
    _progress(total, total, "done")
    sys.stderr.write("\n")
    report = {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "quick": quick,
        "machine": machine.describe(),
        "versions": machine.versions(),
        "profile": device.to_dict(),
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "energy_source": _energy_sources(results + references),
        "results": results,
        "references": references,
        "skipped": skipped,
        "ratios": _ratios(results, references),
    }
    write_report(report, out)
    return report


def print_summary(report: dict) -> None:
    print(render_table(report))
    for k, v in report["ratios"].items():
        print(f"{k}: {v}")
    for s in report["skipped"]:
        print(f"skipped {s.get('task')}/{s.get('variant', '*')}: {s['reason'][:200]}")
