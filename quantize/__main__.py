"""``python -m edge_sdk.quantize <command>``: offline model preparation commands (today: ``distill``)."""

from __future__ import annotations

import sys

COMMANDS = ("distill",)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its command; print usage when it is missing or unknown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m edge_sdk.quantize {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    from edge_sdk.quantize.distill.cli import main as distill_main

    return distill_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
