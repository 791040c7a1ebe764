"""Prometheus metrics and a health check for ``edge-sdk serve``, on a local HTTP port.

``GET /metrics`` is the Prometheus text exposition of the server's own
:class:`prometheus_client.CollectorRegistry` (never the global one, so one process can hold several servers);
``GET /healthz`` answers 200 ``ok`` while the model is loaded and the server accepts utterances, 503 ``starting``
or ``draining`` otherwise. The port binds 127.0.0.1 by default: the page names the model and its providers, so
expose it further only on purpose (``--metrics-host``).
"""

from __future__ import annotations

import logging
import resource
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_sdk.errors import InvalidInputError, require

log = logging.getLogger(__name__)

DEFAULT_METRICS_PORT = 9108  # next to node_exporter's 9100 block; unassigned in Prometheus' default port list
# end of speech (audio-stop) -> final transcript: a short command decodes in tens of ms, a long one in seconds
LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class ServeMetrics:
    """The server's metrics, in a registry of its own.

    Args:
        open_sessions: Called at scrape time for the ``edge_sdk_serve_open_sessions`` gauge.

    Raises:
        MissingDependencyError: ``prometheus-client`` is not installed.
    """

    def __init__(self, open_sessions=lambda: 0) -> None:
        prom = require("prometheus_client", "serve")
        self.registry = prom.CollectorRegistry()
        r = self.registry
        prom.ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu seconds, open fds (Linux)
        self.latency = prom.Histogram(
            "edge_sdk_serve_transcript_latency_seconds",
            "End of speech (audio-stop) to the final transcript sent",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.utterances = prom.Counter("edge_sdk_serve_utterances", "Utterances transcribed", registry=r)
        self.errors = prom.Counter("edge_sdk_serve_errors", "Utterances that failed or were refused", ["kind"], registry=r)
        self.drops = prom.Counter("edge_sdk_serve_dropped_streams", "Clients that went away mid-utterance", registry=r)
        self.wake = prom.Counter("edge_sdk_serve_wake_detections", "Wake words detected", ["wake_word"], registry=r)
        self.camera_labels = prom.Counter(
            "edge_sdk_serve_camera_label_changes", "Camera top-label changes", ["camera"], registry=r
        )
        prom.Gauge("edge_sdk_serve_open_sessions", "Audio sessions open now", registry=r).set_function(open_sessions)
        prom.Gauge(
            "edge_sdk_serve_peak_resident_memory_bytes", "Peak resident set size of this process", registry=r
        ).set_function(_peak_rss_bytes)
        self.info = prom.Info("edge_sdk_serve_model", "What is served: bundle, variant, providers, wake words", registry=r)
        for kind in ("session", "refused"):
            self.errors.labels(kind)  # present at 0, so a rate() has a series before the first error

    def exposition(self) -> bytes:
        """The metrics page (Prometheus text format 0.0.4)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def _peak_rss_bytes() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


class MetricsHTTPServer:
    """``/metrics`` and ``/healthz`` on a daemon thread.

    Args:
        metrics: What ``/metrics`` shows.
        health: Called per ``/healthz`` request; returns ``(ok, reason)``.
        host, port: Where to listen (port 0: any free port; see :attr:`port`).

    Raises:
        InvalidInputError: The address cannot be listened on.
    """

    def __init__(self, metrics: ServeMetrics, health, host: str = "127.0.0.1", port: int = DEFAULT_METRICS_PORT) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    code, ctype, body = 200, CONTENT_TYPE_LATEST, metrics.exposition()
                elif path == "/healthz":
                    ok, reason = health()
                    code, ctype, body = (200 if ok else 503), "text/plain; charset=utf-8", (reason + "\n").encode()
                else:
                    code, ctype, body = 404, "text/plain; charset=utf-8", b"try /metrics or /healthz\n"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args) -> None:
                log.debug("metrics http: " + fmt, *args)

        try:
            self._httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; give another --metrics-port"
            ) from exc
        self._httpd.daemon_threads = True
        self.host, self.port = host, self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="edge-sdk-metrics", daemon=True)
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", host, self.port)

    def close(self) -> None:
        """Stop serving and free the port; idempotent."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
