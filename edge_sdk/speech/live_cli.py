"""``edge-sdk transcribe --mic``: live transcription on the terminal.

Partials overwrite one terminal line; finals scroll. With ``--json`` (or when stdout is not a terminal)
each final is one JSON object per line with ``text``, ``start_s``, ``end_s`` and the latency fields.
The speech CLI (``edge_sdk/speech/cli.py``) routes ``--mic`` (and ``--stdin``) here; its parser calls
:func:`add_live_arguments` so both share one definition of the live options.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict

from edge_sdk.cli_common import check_variant, int_at_least, number_in, report_interrupted
from edge_sdk.errors import EXIT_CODES


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of live transcription (``--mic``, ``--stdin``) added to ``edge-sdk transcribe``."""
    parser.add_argument("--mic", action="store_true", help="transcribe the microphone live")
    parser.add_argument("--device", default=None, help="input device index or (part of) its name (with --mic)")
    parser.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    parser.add_argument("--stdin", action="store_true", help="transcribe raw s16le PCM from stdin live")
    parser.add_argument("--rate", type=int_at_least(1000), default=16000, help="sample rate of --stdin PCM (default 16000)")
    parser.add_argument("--channels", type=int_at_least(1), default=1, help="channels of --stdin PCM (default 1)")
    parser.add_argument("--block-ms", type=int_at_least(5), default=None, help="microphone block size in ms (default: the device profile's)")
    parser.add_argument("--min-silence-ms", type=int_at_least(1), default=500, help="silence that ends an utterance (default 500)")
    parser.add_argument("--max-utterance-s", type=number_in(0, low_open=True), default=20.0,
                        help="cut utterances longer than this (default 20)")


class TerminalPrinter:
    """Partials on one overwritten line, finals scrolled; JSON lines when asked or not a terminal."""

    def __init__(self, as_json: bool, out=None) -> None:
        self.out = out or sys.stdout
        self.as_json = as_json or not self.out.isatty()
        self._partial_shown = False

    def _clear(self) -> None:
        if self._partial_shown:
            self.out.write("\r\x1b[K")
            self._partial_shown = False

    def show(self, event) -> None:
        if self.as_json:
            if event.kind in ("final", "error"):
                self.out.write(json.dumps(asdict(event)) + "\n")
                self.out.flush()
            return
        width = shutil.get_terminal_size((100, 20)).columns
        if event.kind == "partial":
            self._clear()
            self.out.write(("... " + event.text)[-(width - 1) :])
            self._partial_shown = True
        elif event.kind == "final":
            self._clear()
            self.out.write(f"[{event.start_s:7.2f} -> {event.end_s:7.2f}] {event.text}\n")
        else:
            self._clear()
            self.out.write(f"({event.kind}: {event.text})\n")
        self.out.flush()

    def close(self) -> None:
        self._clear()
        self.out.flush()


def _model(args):
    from edge_sdk.speech.transcriber import DEFAULT_BUNDLE, Transcriber, TranscriberOptions

    bundle = getattr(args, "bundle", None) or DEFAULT_BUNDLE
    check_variant(bundle, getattr(args, "variant", None), getattr(args, "allow_refused", False))
    return Transcriber.create(
        TranscriberOptions(
            bundle=bundle, variant=getattr(args, "variant", None), device=getattr(args, "profile", None) or "auto",
            beam_size=getattr(args, "beam_size", 1), hotwords=getattr(args, "hotwords", ()),
        )
    )


def run_source(args, open_source) -> int:
    """Transcribe the source ``open_source()`` returns, live, with the model and stream options of ``args``.

    The model is loaded before the source is opened, so capture does not pile up audio during the load.
    Returns 0, or the device exit status when the source failed (an ``error`` event).
    """
    from edge_sdk.speech.stream import transcribe_live

    model = _model(args)
    stream = model.create_stream(min_silence_ms=args.min_silence_ms, max_utterance_s=args.max_utterance_s)
    source = open_source()
    printer = TerminalPrinter(getattr(args, "json", False))
    failed = interrupted = False
    try:
        with source:
            for event in transcribe_live(stream, source):
                printer.show(event)
                failed = failed or event.kind == "error"
    except KeyboardInterrupt:
        interrupted = True
        for event in stream.input_finished():
            printer.show(event)
    finally:
        printer.close()
    s = stream.stats
    print(
        f"audio {s.samples_received / 16000:.1f} s, finals {s.finals}, partials {s.partials} "
        f"(skipped {s.partials_skipped}), max lag {s.max_lag_s:.2f} s",
        file=sys.stderr,
    )
    if interrupted and not getattr(args, "mic", False):  # stdin had more to give; for a microphone Ctrl-C is how it stops
        return report_interrupted(getattr(args, "json", False) is True)
    return EXIT_CODES["device"] if failed else 0


def run_mic(args) -> int:
    """``edge-sdk transcribe --mic [--device D]``: the microphone, until Ctrl-C or the device fails."""
    from edge_sdk.speech.sources import MicrophoneSource, find_input_device, list_input_devices

    if getattr(args, "list_devices", False):
        for d in list_input_devices():
            print(f"{d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['default_rate']:.0f} Hz)")
        return 0
    profile = getattr(args, "profile", None) or "auto"
    find_input_device(args.device)  # a device that does not exist fails before the model loads
    return run_source(args, lambda: MicrophoneSource(device=args.device, block_ms=args.block_ms, profile=profile))


def run_stdin(args) -> int:
    """``edge-sdk transcribe --stdin --rate R``: raw s16le PCM from stdin."""
    from edge_sdk.speech.sources import StdinSource

    return run_source(args, lambda: StdinSource(args.rate, channels=args.channels))
