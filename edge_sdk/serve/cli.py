"""``edge-sdk serve``: a Wyoming server for Home Assistant's voice pipeline (speech to text and wake words), with
Prometheus metrics, MQTT states for Home Assistant and camera pipelines.

Settings come from flags and from ``--config serve.toml`` (see :mod:`edge_sdk.serve.config`); a flag given on the
command line overrides the file.
"""

from __future__ import annotations

import asyncio
import sys

from edge_sdk.cli_common import add_variant_arguments, check_variant, int_at_least, number_in

BUILTIN_WAKE_WORDS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy")  # as in edge_sdk.serve.wake


def cmd_serve(args) -> int:
    """Load the model once, serve until SIGTERM/SIGINT, finish open utterances, exit 0."""
    from edge_sdk.serve.config import serve_options
    from edge_sdk.serve.server import WyomingServer

    options = serve_options(args)
    check_variant(options.bundle, options.variant, bool(args.allow_refused))
    server = WyomingServer.create(options)

    def ready(uri: str) -> None:
        t = server.transcriber
        wakes = ", ".join(server.spotter.names) if server.spotter else "none"
        extras = "".join(
            [
                f"; metrics on http://{options.metrics_host}:{server.metrics_port}/metrics"
                if options.metrics_port is not None
                else "",
                f"; mqtt {options.mqtt.host}:{options.mqtt.port} as {options.mqtt.node_id}" if options.mqtt else "",
                f"; cameras: {', '.join(c.name for c in options.cameras)}" if options.cameras else "",
            ]
        )
        print(
            f"edge-sdk serve: listening on {uri} (asr {t.bundle.name} {t.variant} on {', '.join(t.providers)}; wake words: {wakes}{extras})",
            flush=True,
        )

    asyncio.run(server.run(ready=ready))
    print("edge-sdk serve: stopped", file=sys.stderr, flush=True)
    return 0


def register(sub, eval_sub) -> None:
    """Add ``serve`` to the ``edge-sdk`` command line. Defaults live in :mod:`edge_sdk.serve.config` (a flag left out
    is None here, so the config file can set it)."""
    p = sub.add_parser("serve", help="serve speech to text and wake words over the Wyoming protocol (Home Assistant)")
    p.add_argument(
        "--config", metavar="TOML", help="serve.toml with the settings below and [mqtt], [[camera]] tables; flags override it"
    )
    p.add_argument("--uri", help="tcp://HOST:PORT or unix:///path/to.sock (default: tcp://127.0.0.1:10300)")
    p.add_argument("--bundle", help="speech bundle name or folder (default: whisper-tiny.en)")
    add_variant_arguments(p)
    p.add_argument(
        "--wake-word",
        action="append",
        metavar="NAME",
        help=f"wake word model to load, repeatable: {', '.join(BUILTIN_WAKE_WORDS)} or a .tflite path (default: all built in)",
    )
    p.add_argument(
        "--wake-threshold", type=number_in(0, 1, low_open=True), help="wake word probability that triggers (default: 0.5)"
    )
    p.add_argument("--no-wake", action="store_true", default=None, help="serve speech to text only")
    p.add_argument("--hotwords", metavar="WORD,WORD", help="names the speech may hold, given to Whisper as previous text")
    p.add_argument("--workers", type=int_at_least(1), help="decode threads shared by all clients (default: 2)")
    p.add_argument("--drain-timeout", type=number_in(0), help="seconds open utterances get to finish on SIGTERM (default: 30)")
    p.add_argument(
        "--metrics-port",
        type=int_at_least(0),
        help="serve Prometheus /metrics and /healthz on this port (default: off; 9108 is the usual choice)",
    )
    p.add_argument("--metrics-host", help="address of the metrics port (default: 127.0.0.1, this box only)")
    p.add_argument(
        "--mqtt-host", help="publish transcripts, wake words and camera labels to this MQTT broker, with Home Assistant discovery"
    )
    p.add_argument("--mqtt-port", type=int_at_least(1), help="MQTT broker port (default: 1883)")
    p.add_argument("--mqtt-node-id", help="this box in MQTT topics and Home Assistant ids (default: the host name)")
    p.set_defaults(func=cmd_serve)
