"""What every ``edge-sdk`` command shares: one error contract, values checked at parse time, refused variants.

The contract (README.md, "Command line errors"): a failure a user can cause is one line on stderr that
names the problem and the fix, never a traceback; the exit status says who can fix it (2 input or usage,
3 bundle, 4 device or environment, 1 internal; see :data:`edge_sdk.errors.EXIT_CODES`); with ``--json`` the
same error is a JSON object on stdout: ``{"error": {"type", "category", "exit_code", "message"}}``. A command that
Ctrl-C (SIGINT) ends early says so the same way, with category ``interrupted`` and exit status 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from edge_sdk.errors import EXIT_CODES, InvalidInputError, error_category

log = logging.getLogger(__name__)


class UsageError(InvalidInputError):
    """A command line argparse refused: unknown option, missing or out-of-range value."""

    def __init__(self, message: str, json_flag: bool = False) -> None:
        super().__init__(message)
        self.json_flag = json_flag  # the command that failed to parse has a --json switch


class CLIParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised (as :class:`UsageError`) for :func:`report_error` to print."""

    def error(self, message: str):  # argparse calls this for every parse error
        has_json = any(a.option_strings == ["--json"] and a.nargs == 0 for a in self._actions)
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')", has_json)


def report_error(exc: BaseException, as_json: bool = False, verbose: bool = False) -> int:
    """Print ``exc`` as the contract says (one line on stderr, or a JSON object on stdout); return the exit status.

    An error that is no :class:`~edge_sdk.errors.EdgeSDKError` and no file-system error is a bug: it is reported in
    one line too, with the traceback under ``-v``.
    """
    category = error_category(exc)
    message = str(exc) or type(exc).__name__
    if category == "internal" and isinstance(exc, OSError) and exc.filename is not None:
        category = "input"  # a path given on the command line: missing folder, no permission, disk full
        message = f"{exc.strerror or exc}: {exc.filename!r}; check the path and its permissions"
    elif category == "internal":
        message = f"internal error ({type(exc).__name__}: {message}); rerun with -v for the traceback, and report it"
        if verbose:
            log.error("traceback of the internal error", exc_info=exc)
    code = EXIT_CODES[category]
    if as_json:
        print(json.dumps({"error": {"type": type(exc).__name__, "category": category, "exit_code": code, "message": message}}))
    else:
        print(f"edge-sdk: error: {' '.join(message.split())}", file=sys.stderr)
    return code


INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C ended


def emit_line(line: str, stream=None) -> None:
    """Write ``line`` and its newline in one call, then flush: a Ctrl-C between two prints (``print`` writes the text
    and the newline separately) would leave a line without its end, and the interrupted notice glued to it."""
    stream = stream or sys.stdout
    stream.write(line + "\n")
    stream.flush()


def report_interrupted(as_json: bool = False) -> int:
    """Say that Ctrl-C (SIGINT) ended the command early, in the contract's form; return :data:`INTERRUPTED_EXIT`.

    What the command printed before stays as it was; this line says it is incomplete.
    """
    message = "interrupted (Ctrl-C) before the end; the output above is incomplete"
    if as_json:
        emit_line(json.dumps({"error": {"type": "KeyboardInterrupt", "category": "interrupted", "exit_code": INTERRUPTED_EXIT,
                                        "message": message}}))
    else:
        emit_line(f"edge-sdk: {message}", sys.stderr)
    return INTERRUPTED_EXIT


def int_at_least(low: int):
    """argparse ``type`` for a whole number >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}; give a whole number >= {low}")
        return value

    return parse


def number_in(low: float, high: float | None = None, low_open: bool = False):
    """argparse ``type`` for a number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value != value or value < low or (low_open and value == low) or (high is not None and value > high):
            span = f"{'(' if low_open else '['}{low:g}, {high:g}]" if high is not None else f"{'>' if low_open else '>='} {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a number {'in ' if high is not None else ''}{span}")
        return value

    return parse


def names_from(allowed: tuple[str, ...]):
    """argparse ``type`` for a comma-separated list of names from ``allowed`` (at least one)."""
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"{', '.join(bad) or 'nothing'} given; choose from {', '.join(allowed)}, comma-separated")
        return names

    return parse


def add_variant_arguments(parser: argparse.ArgumentParser, default_help: str = "default: the device profile's choice") -> None:
    """``--variant`` and ``--allow-refused`` (see :func:`check_variant`)."""
    parser.add_argument("--variant", default=None, help=f"bundle variant: fp32, int8, fp16, ... ({default_help})")
    parser.add_argument("--allow-refused", action="store_true",
                        help="run a variant that its own quality gate refused (e.g. int8-refused), for inspection")


def check_variant(bundle_name: str, variant: str | None, allow_refused: bool) -> None:
    """Refuse a variant its own quality gate refused, unless ``--allow-refused`` was given; checked before any model
    loads. With ``--allow-refused``, every task this command creates may load refused variants.

    The one check is :meth:`edge_sdk.bundle.Bundle.check_not_refused`, which every task's loading runs as well.

    Raises:
        RefusedVariantError: ``variant`` was refused by the gate that built it.
    """
    from edge_sdk.bundle import allow_refused_variants_from_now, load_bundle

    if allow_refused:
        allow_refused_variants_from_now()
        return
    if variant:
        load_bundle(bundle_name).check_not_refused(variant)
