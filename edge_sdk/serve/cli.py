"""``edge-sdk serve``: a Wyoming server for Home Assistant's voice pipeline (speech to text and wake words)."""

from __future__ import annotations

import asyncio
import sys

from edge_sdk.cli_common import add_variant_arguments, check_variant, int_at_least, number_in

BUILTIN_WAKE_WORDS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy")  # as in edge_sdk.serve.wake


def cmd_serve(args) -> int:
    """Load the model once, serve until SIGTERM/SIGINT, finish open utterances, exit 0."""
    from edge_sdk.serve.server import ServeOptions, WyomingServer
    from edge_sdk.serve.wake import WakeWordOptions

    check_variant(args.bundle, args.variant, args.allow_refused)
    wake = None if args.no_wake else WakeWordOptions(models=tuple(args.wake_word or BUILTIN_WAKE_WORDS), threshold=args.wake_threshold)
    options = ServeOptions(uri=args.uri, bundle=args.bundle, variant=args.variant, device=getattr(args, "profile", None) or "auto",
                           wake=wake, decode_workers=args.workers, drain_timeout_s=args.drain_timeout)
    server = WyomingServer.create(options)

    def ready(uri: str) -> None:
        t = server.transcriber
        wakes = ", ".join(server.spotter.names) if server.spotter else "none"
        print(f"edge-sdk serve: listening on {uri} (asr {t.bundle.name} {t.variant} on {', '.join(t.providers)}; wake words: {wakes})",
              flush=True)

    asyncio.run(server.run(ready=ready))
    print("edge-sdk serve: stopped", file=sys.stderr, flush=True)
    return 0


def register(sub, eval_sub) -> None:
    """Add ``serve`` to the ``edge-sdk`` command line."""
    p = sub.add_parser("serve", help="serve speech to text and wake words over the Wyoming protocol (Home Assistant)")
    p.add_argument("--uri", default="tcp://127.0.0.1:10300", help="tcp://HOST:PORT or unix:///path/to.sock (default: %(default)s)")
    p.add_argument("--bundle", default="whisper-tiny.en", help="speech bundle name or folder")
    add_variant_arguments(p)
    p.add_argument("--wake-word", action="append", metavar="NAME",
                   help=f"wake word model to load, repeatable: {', '.join(BUILTIN_WAKE_WORDS)} or a .tflite path (default: all built in)")
    p.add_argument("--wake-threshold", type=number_in(0, 1, low_open=True), default=0.5, help="wake word probability that triggers")
    p.add_argument("--no-wake", action="store_true", help="serve speech to text only")
    p.add_argument("--workers", type=int_at_least(1), default=2, help="decode threads shared by all clients")
    p.add_argument("--drain-timeout", type=number_in(0), default=30.0, help="seconds open utterances get to finish on SIGTERM")
    p.set_defaults(func=cmd_serve)
