"""The Wyoming server: one shared speech model and wake word set, one session per client utterance.

Built on ``wyoming``'s own server classes (:class:`wyoming.server.AsyncServer` for ``tcp://`` and ``unix://``,
:class:`~edge_sdk.serve.handler.WyomingHandler` per connection). Decoding runs on a small thread pool shared by
all clients; onnxruntime sessions are safe to run from several threads, so the one Transcriber serves them all.

Around it, optional: Prometheus metrics and ``/healthz`` on a local port (:mod:`~edge_sdk.serve.metrics`), states
for Home Assistant over MQTT (:mod:`~edge_sdk.serve.mqtt`), camera pipelines (:mod:`~edge_sdk.serve.cameras`), and
systemd's notify protocol (``READY=1`` once listening, ``WATCHDOG=1`` from the event loop, ``STOPPING=1``).

Shutdown (SIGTERM or SIGINT): new utterances are refused with an ``error`` event, open utterances are finished
(up to ``drain_timeout_s``), then connections close and the socket goes; cameras stop, MQTT says ``offline``,
the transcriber is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlparse

from edge_sdk.errors import InvalidInputError, require
from edge_sdk.serve import systemd
from edge_sdk.serve.cameras import CameraPipelineOptions
from edge_sdk.serve.mqtt import MqttOptions
from edge_sdk.serve.wake import WakeWordOptions

log = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10300"


@dataclass(frozen=True)
class ServeOptions:
    """What ``edge-sdk serve`` serves and how.

    Attributes:
        uri: ``tcp://HOST:PORT`` or ``unix:///path/to.sock``.
        bundle: Speech bundle name or folder.
        variant: Bundle variant; None lets the device profile choose.
        device: Device profile name, TOML path or ``"auto"``.
        wake: Wake word options; None serves no wake word program.
        decode_workers: Threads that decode, shared by all clients (more clients queue for them).
        queue_chunks: Audio chunks buffered per client before its socket stops being read.
        drain_timeout_s: On shutdown, how long open utterances may take to finish.
        stream_options: Fields of :class:`~edge_sdk.speech.stream.StreamOptions` (endpointing) as (name, value) pairs.
        metrics_port: Port of ``/metrics`` and ``/healthz``; None serves none (0: any free port).
        metrics_host: Address of the metrics port (127.0.0.1: this box only).
        mqtt: Broker to publish states and Home Assistant discovery to; None publishes nothing.
        cameras: Camera pipelines whose top label goes to MQTT.
        hotwords: Names the speech may hold (``TranscriberOptions.hotwords``).
    """

    uri: str = DEFAULT_URI
    bundle: str = "whisper-tiny.en"
    variant: str | None = None
    device: str = "auto"
    wake: WakeWordOptions | None = field(default_factory=WakeWordOptions)
    decode_workers: int = 2
    queue_chunks: int = 256
    drain_timeout_s: float = 30.0
    stream_options: tuple[tuple[str, object], ...] = ()
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    mqtt: MqttOptions | None = None
    cameras: tuple[CameraPipelineOptions, ...] = ()
    hotwords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parsed = urlparse(self.uri)
        if parsed.scheme == "tcp":
            if not parsed.hostname or parsed.port is None:
                raise InvalidInputError(f"uri {self.uri!r} needs a host and a port, e.g. {DEFAULT_URI}")
        elif parsed.scheme != "unix" or not parsed.path:
            raise InvalidInputError(f"uri {self.uri!r} must be tcp://HOST:PORT or unix:///path/to.sock")
        for name in ("decode_workers", "queue_chunks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"ServeOptions.{name}={value!r} must be an int >= 1")
        if not self.drain_timeout_s >= 0:
            raise InvalidInputError(f"ServeOptions.drain_timeout_s={self.drain_timeout_s!r} must be seconds >= 0")
        port = self.metrics_port
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
            raise InvalidInputError(f"ServeOptions.metrics_port={port!r} must be 0..65535, or None for no metrics")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"camera names {names} must differ (they name the MQTT topics)")


class WyomingServer:
    """Serves speech recognition and wake words over Wyoming. Create with :meth:`create`, then ``await run()``."""

    def __init__(self, options: ServeOptions, transcriber, spotter, cameras: tuple = ()) -> None:
        from edge_sdk.serve.metrics import ServeMetrics

        self.options = options
        self.transcriber = transcriber
        self.spotter = spotter
        self.cameras = cameras
        self.metrics = ServeMetrics(open_sessions=lambda: self._open_sessions)
        t = transcriber
        self.metrics.info.info({"bundle": t.bundle.name, "variant": str(t.variant), "providers": ",".join(t.providers),
                                "wake_words": ",".join(spotter.names) if spotter else "", "cameras": ",".join(c.options.name for c in cameras)})
        self.mqtt = None
        if options.mqtt is not None:
            from edge_sdk.serve import mqtt

            sensors = (mqtt.TRANSCRIPT,) + ((mqtt.WAKE_WORD,) if spotter else ()) + tuple(mqtt.camera_sensor(c.options.name) for c in cameras)
            self.mqtt = mqtt.MqttPublisher(options.mqtt, sensors, device={"model": f"{t.bundle.name} {t.variant}", "sw_version": _sdk_version()})
        self.serving = False
        self.metrics_port = options.metrics_port  # the bound port once run() listens (for port 0)
        self.executor = ThreadPoolExecutor(max_workers=options.decode_workers, thread_name_prefix="edge-sdk-decode")
        self.draining = False
        self._handlers: set = set()
        self._lock = threading.Lock()
        self._open_sessions = 0
        self._stop: asyncio.Event | None = None

    @classmethod
    def create(cls, options: ServeOptions | None = None) -> WyomingServer:
        """Load the speech bundle and the wake word models.

        Raises:
            MissingDependencyError: ``wyoming`` (or ``pyopen-wakeword`` with wake words) is not installed.
            BundleNotFoundError, BundleError, ProviderUnavailableError: As :meth:`Transcriber.create`.
        """
        from edge_sdk.serve.cameras import CameraPipeline
        from edge_sdk.serve.wake import WakeWordSpotter
        from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

        options = options or ServeOptions()
        require("wyoming", "serve")
        require("prometheus_client", "serve")
        if options.mqtt is not None:
            require("paho.mqtt.client", "serve")
        transcriber = Transcriber.create(
            TranscriberOptions(bundle=options.bundle, variant=options.variant, device=options.device, hotwords=options.hotwords)
        )
        spotter = WakeWordSpotter.create(options.wake) if options.wake is not None else None
        server: WyomingServer | None = None

        def on_label(camera: CameraPipelineOptions, top) -> None:  # on the camera's thread, after create returned
            server.camera_label(camera, top)

        cameras = tuple(CameraPipeline.create(c, on_label) for c in options.cameras)
        server = cls(options, transcriber, spotter, cameras)
        return server

    @property
    def open_sessions(self) -> int:
        """Audio sessions created and not yet closed (0 when every client has finished or gone)."""
        return self._open_sessions

    def info(self):
        """The ``info`` event's content: the ASR program (model = bundle, variant) and the wake word program."""
        from wyoming import __version__ as wyoming_version
        from wyoming.info import AsrModel, AsrProgram, Attribution, Info, WakeModel, WakeProgram

        from edge_sdk.serve.handler import LANGUAGE

        t = self.transcriber
        sdk = Attribution(name="edge-sdk", url="https://pypi.org/project/edge-sdk-ondevice/")
        source = t.bundle.source or {}
        model = AsrModel(
            name=t.bundle.name,
            attribution=Attribution(name="OpenAI Whisper", url="https://github.com/openai/whisper"),
            installed=True,
            description=f"{t.bundle.family} {t.bundle.name}, variant {t.variant} on {', '.join(t.providers)}"
                        + (f", weights from {source.get('package')}" if source.get("package") else ""),
            version=t.variant,
            languages=[LANGUAGE],
        )
        asr = AsrProgram(name="edge-sdk-asr", attribution=sdk, installed=True, version=_sdk_version(),
                         description=f"edge-sdk speech (Silero VAD endpointing), wyoming {wyoming_version}",
                         models=[model], supports_transcript_streaming=True)
        wake = []
        if self.spotter is not None:
            oww = Attribution(name="openWakeWord (pyopen-wakeword)", url="https://github.com/dscripka/openWakeWord")
            wake = [WakeProgram(name="edge-sdk-wake", attribution=sdk, installed=True, version=_sdk_version(),
                                description="openWakeWord on the server's audio stream",
                                models=[WakeModel(name=n, attribution=oww, installed=True, description=self.spotter.phrase(n) or n,
                                                  version=None, languages=[LANGUAGE], phrase=self.spotter.phrase(n))
                                        for n in self.spotter.names])]
        return Info(asr=[asr], wake=wake)

    def new_session(self, transcribe: bool, detect: bool, names: list[str] | None):
        """A session for one utterance of one client (runs on the executor: building streams loads small models)."""
        from edge_sdk.serve.session import AudioSession

        wake = self.spotter.create_stream(names) if detect and self.spotter is not None else None
        with self._lock:
            self._open_sessions += 1
        return AudioSession(self.transcriber if transcribe else None, wake, dict(self.options.stream_options), on_close=self._session_closed)

    def forget(self, handler) -> None:
        """A connection ended (called by its handler)."""
        self._handlers.discard(handler)

    def _session_closed(self) -> None:
        with self._lock:
            self._open_sessions -= 1

    # ------------------------------------------------------------------ what happened (handlers and cameras call these)

    def transcribed(self, text: str, latency_s: float, audio_s: float) -> None:
        """An utterance ended: its final transcript was sent ``latency_s`` after ``audio-stop``."""
        self.metrics.utterances.inc()
        self.metrics.latency.observe(latency_s)
        if self.mqtt is not None:
            from edge_sdk.serve.mqtt import TRANSCRIPT

            self.mqtt.publish(TRANSCRIPT, {"text": text, "time": _now_iso(), "latency_ms": round(latency_s * 1000, 1),
                                           "audio_s": round(audio_s, 2)})

    def wake_detected(self, detection) -> None:
        """A wake word was heard (a :class:`~edge_sdk.serve.wake.WakeDetection`)."""
        self.metrics.wake.labels(detection.name).inc()
        if self.mqtt is not None:
            from edge_sdk.serve.mqtt import WAKE_WORD

            self.mqtt.publish(WAKE_WORD, {"wake_word": detection.name, "time": _now_iso(), "probability": round(float(detection.probability), 3)})

    def failed(self, kind: str) -> None:
        """An utterance failed (``session``) or was refused (``refused``)."""
        self.metrics.errors.labels(kind).inc()

    def dropped(self) -> None:
        """A client went away mid-utterance."""
        self.metrics.drops.inc()

    def camera_label(self, camera: CameraPipelineOptions, top) -> None:
        """A camera's top label changed (called on the camera's thread)."""
        self.metrics.camera_labels.labels(camera.name).inc()
        if self.mqtt is not None:
            from edge_sdk.serve.mqtt import camera_sensor

            self.mqtt.publish(camera_sensor(camera.name), {"label": top.label, "score": round(float(top.score), 3), "time": _now_iso()})

    def health(self) -> tuple[bool, str]:
        """``/healthz``: ok while the model is loaded and utterances are accepted."""
        if self.draining:
            return False, "draining"
        return (True, "ok") if self.serving else (False, "starting")

    async def run(self, ready=None) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`request_stop`), then drain and stop.

        Args:
            ready: Called with the URI once the socket accepts connections.

        Raises:
            InvalidInputError: The address cannot be listened on (in use, no permission, no such folder).
        """
        from wyoming.server import AsyncServer

        from edge_sdk.serve.handler import WyomingHandler

        def make_handler(reader, writer):
            handler = WyomingHandler(reader, writer, self)
            self._handlers.add(handler)
            return handler

        from edge_sdk.serve.metrics import MetricsHTTPServer

        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        http = None
        if self.options.metrics_port is not None:
            http = MetricsHTTPServer(self.metrics, self.health, self.options.metrics_host, self.options.metrics_port)
            self.metrics_port = http.port
        server = AsyncServer.from_uri(self.options.uri)
        try:
            await server.start(make_handler)
        except OSError as exc:
            if http is not None:
                http.close()
            raise InvalidInputError(f"cannot listen on {self.options.uri}: {exc.strerror or exc}; another server may hold it, "
                                    "give another with --uri") from exc
        self._start_extras(loop)
        log.info("serving %s on %s", self.transcriber.bundle.name, self.options.uri)
        self.serving = True
        if ready is not None:
            ready(self.options.uri)
        systemd.notify(f"READY=1\nSTATUS=serving {self.transcriber.bundle.name} on {self.options.uri}")
        watchdog = asyncio.create_task(self._watchdog(), name="edge-sdk watchdog")
        try:
            await self._stop.wait()
            systemd.notify("STOPPING=1\nSTATUS=finishing open utterances")
            await self._drain()
        finally:
            self.serving = False
            watchdog.cancel()
            await server.stop()
            await loop.run_in_executor(None, self._close_extras)
            await loop.run_in_executor(None, self.executor.shutdown)
            if hasattr(self.transcriber, "close"):  # no decode runs now; SpeechModel itself declares no close()
                self.transcriber.close()
            if http is not None:
                http.close()
            for sig in (signal.SIGTERM, signal.SIGINT):  # only now: a second SIGTERM while closing must not kill us
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

    def _start_extras(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start MQTT and the cameras, and stop on SIGTERM/SIGINT (where ``loop`` can catch signals)."""
        if self.mqtt is not None:
            self.mqtt.start()
        for camera in self.cameras:
            camera.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.request_stop)

    def _close_extras(self) -> None:
        for camera in self.cameras:
            camera.close()
        if self.mqtt is not None:
            self.mqtt.close()

    async def _watchdog(self) -> None:
        """``WATCHDOG=1`` from the event loop itself: a loop that hangs stops the pings and systemd restarts us."""
        interval = systemd.watchdog_interval_s()
        if interval is None:
            return
        while True:
            systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does). Call on the server's event loop."""
        if self._stop is not None and not self._stop.is_set():
            log.info("shutting down: finishing open utterances, refusing new ones")
            self.draining = True  # /healthz says 503 from now on
            self._stop.set()

    async def _drain(self) -> None:
        deadline = time.monotonic() + self.options.drain_timeout_s
        while any(h.busy for h in self._handlers if not h.writer.is_closing()):
            if time.monotonic() > deadline:
                log.warning("drain timeout: closing %d open utterances", sum(h.busy for h in self._handlers))
                return
            await asyncio.sleep(0.05)


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _sdk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edge-sdk-ondevice")
    except PackageNotFoundError:
        return "0"
