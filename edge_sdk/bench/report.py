"""Bench reports: ``report.json`` (schema below), ``report.md``, PNG charts, and comparisons."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SCHEMA = "edge-sdk-bench/1"
RESULT_KEYS = ("task", "variant", "bundle", "providers", "fallback", "load_s", "latency_ms", "throughput", "accuracy", "peak_rss_mb", "model_size_mb", "energy")
LOWER_IS_BETTER = {"latency_ms.p50", "latency_ms.p95", "load_s", "peak_rss_mb", "accuracy.wer", "energy.joules_per_inference"}


def percentiles(samples_ms: list[float]) -> dict:
    """p50/p95/p99/mean/n of a latency sample in milliseconds."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "n": 0}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3), "mean": round(float(a.mean()), 3), "n": int(a.size)}


def validate(report: dict) -> list[str]:
    """Problems that make ``report`` incomplete; empty when it is schema-valid."""
    problems = []
    for key in ("schema", "created", "machine", "versions", "profile", "results", "references"):
        if key not in report:
            problems.append(f"missing top-level key {key!r}")
    if report.get("schema") != SCHEMA:
        problems.append(f"schema is {report.get('schema')!r}, expected {SCHEMA!r}")
    for i, r in enumerate(report.get("results", [])):
        for key in RESULT_KEYS:
            if key not in r:
                problems.append(f"results[{i}] ({r.get('task')}/{r.get('variant')}) lacks {key!r}")
        lat = r.get("latency_ms", {})
        if not lat.get("n"):
            problems.append(f"results[{i}] has no latency samples")
    return problems


def _fmt(v, digits=1) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def table_rows(report: dict) -> list[list[str]]:
    rows = [["task", "variant", "p50 ms", "p95 ms", "throughput", "accuracy", "RSS MB", "size MB", "load s", "J/inference"]]
    for r in report["results"] + [x for x in report["references"] if x.get("available")]:
        acc = r.get("accuracy") or {}
        thr = r.get("throughput") or {}
        energy = (r.get("energy") or {}).get("joules_per_inference")
        rows.append([
            r["task"], r.get("variant") or r.get("name", ""),
            _fmt(r["latency_ms"].get("p50")), _fmt(r["latency_ms"].get("p95")),
            f"{_fmt(thr.get('value'), 2)} {thr.get('unit', '')}".strip(),
            f"{acc.get('metric', '')} {_fmt(acc.get('value'), 2)}".strip(),
            _fmt(r.get("peak_rss_mb"), 0), _fmt(r.get("model_size_mb"), 1), _fmt(r.get("load_s"), 2),
            "-" if energy is None else f"{energy:.3g}",
        ])
    return rows


def render_table(report: dict) -> str:
    rows = table_rows(report)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    rows = table_rows(report)
    md = [f"# edge-sdk bench: {report['profile'].get('profile')} on {report['machine'].get('cpu_model')}", ""]
    md += [f"- created: {report['created']}", f"- command: `{report.get('command', '')}`"]
    md += [f"- providers: {', '.join(report['profile'].get('providers', []))}; fallback: {report['profile'].get('fallback') or 'none'}"]
    energy = report.get("energy_source", "unavailable")
    md += [f"- energy: {energy}" + ("" if energy.startswith("unavailable") else "; J/inference is its energy over the timed loop, idle draw included")]
    md += [f"- load average (1 min) before/after: {report.get('load_average_1m')}", ""]
    md += ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    for ref in report["references"]:
        if not ref.get("available"):
            md.append(f"\nReference {ref.get('name')} ({ref['task']}): not run: {ref.get('reason')}")
    if report.get("ratios"):
        md += ["", "## Ratios (same run)", ""] + [f"- {k}: {v}" for k, v in report["ratios"].items()]
    rails = [r for r in report["results"] if (r.get("energy") or {}).get("rails_joules_per_inference")]
    if rails:
        md += ["", "## Energy per rail (J/inference)", ""]
        md += [f"- {r['task']}/{r['variant']}: " + ", ".join(f"{k} {v:.3g}" for k, v in r["energy"]["rails_joules_per_inference"].items()) for r in rails]
    live = [r for r in report["results"] if r.get("live")]
    if live:
        md += ["", "## Live loops", ""] + [f"- {r['task']}/{r['variant']}: {json.dumps(r['live'])}" for r in live]
    md += ["", "## Machine", "", "```json", json.dumps(report["machine"], indent=2), "```"]
    return "\n".join(md) + "\n"


def write_charts(report: dict, out: Path) -> list[Path]:
    """Latency distribution per variant, and accuracy vs latency, one PNG per task; none (logged) on a device
    without matplotlib, where the JSON and Markdown reports are what the bench writes."""
    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed: no charts (pip install 'edge-sdk-ondevice[bench]')")
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for task in sorted({r["task"] for r in report["results"]}):
        rows = [r for r in report["results"] if r["task"] == task and r.get("samples_ms")]
        if not rows:
            continue
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        ax1.boxplot([r["samples_ms"] for r in rows], tick_labels=[r["variant"] for r in rows], showfliers=True)
        ax1.set_ylabel("latency (ms)")
        ax1.set_title(f"{task}: latency per variant")
        for r in rows:
            acc = (r.get("accuracy") or {}).get("value")
            if acc is not None:
                ax2.scatter(r["latency_ms"]["p50"], acc)
                ax2.annotate(r["variant"], (r["latency_ms"]["p50"], acc))
        metric = next(((r.get("accuracy") or {}).get("metric") for r in rows if r.get("accuracy")), "accuracy")
        ax2.set_xlabel("latency p50 (ms)")
        ax2.set_ylabel(metric)
        ax2.set_title(f"{task}: {metric} vs latency")
        fig.tight_layout()
        path = out / f"{task}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(report: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "report.md").write_text(render_markdown(report))
    return [out / "report.json", out / "report.md", *write_charts(report, out)]


def _flat(r: dict) -> dict:
    out = {}
    for key in ("load_s", "peak_rss_mb"):
        out[key] = r.get(key)
    for k in ("p50", "p95"):
        out[f"latency_ms.{k}"] = (r.get("latency_ms") or {}).get(k)
    out["energy.joules_per_inference"] = (r.get("energy") or {}).get("joules_per_inference")
    acc = r.get("accuracy") or {}
    if acc:
        out[f"accuracy.{acc.get('metric')}"] = acc.get("value")
    return out


def compare(a: dict, b: dict, tolerance: float = 0.10) -> list[str]:
    """Lines describing B relative to A; regressions beyond ``tolerance`` are flagged."""
    index = {(r["task"], r["variant"]): r for r in a["results"]}
    lines = []
    for r in b["results"]:
        base = index.get((r["task"], r["variant"]))
        if base is None:
            lines.append(f"  new      {r['task']}/{r['variant']}")
            continue
        fa, fb = _flat(base), _flat(r)
        for key, vb in fb.items():
            va = fa.get(key)
            if not isinstance(va, (int, float)) or not isinstance(vb, (int, float)) or va == 0:
                continue
            change = (vb - va) / abs(va)
            worse = change > tolerance if (key in LOWER_IS_BETTER) else change < -tolerance
            flag = "REGRESSION" if worse else "ok"
            lines.append(f"  {flag:10s} {r['task']}/{r['variant']} {key}: {va:g} -> {vb:g} ({change:+.1%})")
    return lines
