"""The ``edge-sdk`` command line. Capability commands live in ``edge_sdk/<capability>/cli.py``.

Each capability module exposes ``register(sub, eval_sub)`` and imports its heavy
dependencies inside its command functions, so ``edge-sdk --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextvars
import importlib
import json
import logging
import os
import sys

from edge_sdk import bundle_cli
from edge_sdk.cli_common import CLIParser, UsageError, number_in, report_error, report_interrupted
from edge_sdk.errors import EXIT_CODES

CAPABILITY_CLIS = ("edge_sdk.speech.cli", "edge_sdk.vision.cli", "edge_sdk.text.cli", "edge_sdk.bench.cli", "edge_sdk.soak_cli", "edge_sdk.distill_cli",
                   "edge_sdk.serve.cli")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_devices(args) -> int:
    from edge_sdk.devices import detect, load_profile, resolve
    from edge_sdk.devices.doctor import run_doctor

    detected, facts = detect()
    name = args.profile or detected
    profile = load_profile(name)
    if args.doctor:
        checks = run_doctor(profile)
        if args.json:
            _print_json({"profile": name, "checks": [c.__dict__ for c in checks]})
        else:
            for c in checks:
                status = "ok  " if c.ok else "FAIL"
                print(f"{status} {c.provider:28s} executed on {c.executed_on or '-':26s} {c.latency_ms:8.3f} ms  {c.error}")
        return 0 if all(c.ok for c in checks) else EXIT_CODES["device"]
    resolved = resolve(profile, facts.providers)
    out = {"detected_profile": detected, "profile": name, "machine": facts.describe(), "resolved": resolved.to_dict()}
    if args.json:
        _print_json(out)
    else:
        m = out["machine"]
        print(f"machine : {m['cpu_model']} ({m['arch']}, {m['cores']} cores, {m['memory_gb']} GB)")
        print(f"flags   : {' '.join(m['cpu_flags'])}")
        if m["jetson_model"]:
            print(f"jetson  : {m['jetson_model']}")
        print(f"profile : {name} (detected: {detected}) - {profile.description}")
        print(f"runs on : {', '.join(resolved.providers)}; threads {resolved.intra_op_threads}; variants {', '.join(resolved.variants)}")
        kernel = {None: "not measured", True: "saturates u8 x s8 (no VNNI)", False: "exact u8 x s8"}[m["int8_u8s8_saturates"]]
        print(f"int8    : {profile.int8_format} (integer kernel: {kernel})")
        print(f"fallback: {resolved.fallback or 'none'}")
        print(f"ort has : {', '.join(facts.providers)}")
    return 0


def cmd_bundles(args) -> int:
    from edge_sdk.bundle import bundles_dir, list_bundles, load_bundle

    if args.verify:
        b = load_bundle(args.verify)
        sig_problems, sig_status = bundle_cli.signature_check(b, args.profile)
        problems = b.verify() + sig_problems
        code = EXIT_CODES["bundle"] if problems else 0  # a bad bundle is the bundle class of the error contract
        if args.json:
            _print_json({"bundle": b.name, "path": str(b.root), "ok": not problems, "exit_code": code, "problems": problems,
                         "signature": sig_status})
            return code
        for p in problems:
            print(f"MISMATCH {p}")
        if problems:
            print(f"edge-sdk: error: bundle {b.name!r} failed verification ({len(problems)} problem(s) above); "
                  f"rebuild it with 'edge-sdk prepare' or import it again", file=sys.stderr)
        else:
            print(f"ok: every file of {b.name} matches bundle.json; {sig_status}")
        return code
    rows = [
        {
            "name": b.name,
            "task": b.task,
            "family": b.family,
            "path": str(b.root),
            "variants": {v.name: {"size_mb": round(v.size_bytes / 1e6, 2), "metrics": v.metrics} for v in b.variants.values()},
        }
        for b in list_bundles()
    ]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no bundles in {bundles_dir()}; build them with 'edge-sdk prepare'")
    for r in rows:
        print(f"{r['name']}  ({r['task']}, {r['family']})  {r['path']}")
        for v, d in r["variants"].items():
            metrics = ", ".join(f"{k}={val}" for k, val in d["metrics"].items() if isinstance(val, (int, float, str)))
            print(f"    {v:16s} {d['size_mb']:8.2f} MB  {metrics}")
    return 0


def cmd_prepare(args) -> int:
    from edge_sdk.quantize.console import build_log_path, quiet_build
    from edge_sdk.quantize.prepare import prepare

    log_path = build_log_path()
    print(f"edge-sdk prepare: steps below; third-party output in {log_path}", file=sys.stderr, flush=True)
    with quiet_build(log_path):
        paths = prepare(args.what, force=args.force, qat=args.qat, check_kernels=tuple(k for k in args.check_kernels.split(",") if k))
    for path in paths:
        print(f"bundle ready: {path}")
    return 0


def cmd_demo(args) -> int:
    from edge_sdk.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = CLIParser(prog="edge-sdk", description="On-device speech, vision and text inference.")
    parser.add_argument("--profile", help="device profile name or TOML path (overrides detection everywhere)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("devices", help="show the detected device profile and what it resolves to")
    p.add_argument("--json", action="store_true")
    p.add_argument("--doctor", action="store_true", help="run a tiny model on every provider of the profile")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("bundles", help="list model bundles in the store, verify one, export, import or sign them")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verify", metavar="NAME", help="check every file hash of bundle NAME, and its signature")
    p.set_defaults(func=cmd_bundles)
    bundle_cli.register(p)  # export, import, keygen, sign

    p = sub.add_parser("prepare", help="build the default bundles from the packaged weights")
    p.add_argument("what", nargs="?", default="all", choices=["all", "speech", "vision", "text"])
    p.add_argument("--force", action="store_true", help="rebuild even when the recipe is unchanged")
    p.add_argument("--qat", action="store_true", help="vision: when post-training int8 fails the accuracy gate, fine-tune "
                   "the weights for int8 and try again (quantization-aware; about 12 min on 2 cores)")
    p.add_argument("--check-kernels", default="", metavar="K1,K2",
                   help="vision: also judge the int8 model under these emulated integer kernels (x86_64-avx2, aarch64-dotprod, "
                   "aarch64-neon; QEMU user mode, minutes each) and record them in bundle.json")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("demo", help="live transcription, camera loop and summary on the shared data")
    p.add_argument("--data", default=None, help="data folder (default: $EDGE_SDK_DATA, else the repository's data/)")
    p.add_argument("--speed", type=number_in(0), default=2.0, help="speech playback speed (1 = real time, 0 = as fast as possible)")
    p.set_defaults(func=cmd_demo)

    eval_parser = sub.add_parser("eval", help="measure accuracy of a bundle on labelled data")
    eval_sub = eval_parser.add_subparsers(dest="eval_task", required=True)
    for module in CAPABILITY_CLIS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not module.startswith(exc.name):
                raise
            continue
        mod.register(sub, eval_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors follow the contract of :mod:`edge_sdk.cli_common` (one line, exit status by class)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:  # exit 2 always; with --json anywhere on the line (even before a bad command), as JSON
        return report_error(exc, as_json="--json" in argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.profile:
        os.environ["EDGE_SDK_PROFILE"] = args.profile
    try:
        return contextvars.copy_context().run(args.func, args) or 0  # a context of its own: --allow-refused ends with it
    except KeyboardInterrupt:  # Ctrl-C or SIGINT: the run ended early, and says so
        return report_interrupted(as_json=getattr(args, "json", None) is True)
    except Exception as exc:  # every failure becomes one line and an exit status by class
        return report_error(exc, as_json=getattr(args, "json", None) is True, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
