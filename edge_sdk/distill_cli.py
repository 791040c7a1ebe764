"""``edge-sdk distill ...``: the command of :mod:`edge_sdk.quantize.distill.cli`, reachable from the SDK's CLI.

Arguments (``--help`` included) are handed to ``python -m edge_sdk.quantize distill`` unchanged, so the two
entry points cannot drift apart. Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import argparse


def cmd_distill(args: argparse.Namespace) -> int:
    from edge_sdk.errors import require

    require("torch", "quantize")
    from edge_sdk.quantize.distill.cli import main

    return main(args.distill_args, prog="edge-sdk distill")


def register(sub, eval_sub) -> None:
    """Add ``distill`` to the ``edge-sdk`` sub-commands (no ``eval`` sub-command)."""
    p = sub.add_parser("distill", add_help=False, prefix_chars="+", help="train a distilled student (speech|text|vision|ctc); see 'edge-sdk distill --help'")
    p.add_argument("distill_args", nargs=argparse.REMAINDER)  # prefix "+": a leading --help or --flag is its own
    p.set_defaults(func=cmd_distill)
