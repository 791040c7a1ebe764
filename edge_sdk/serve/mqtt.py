"""Publishing what the server hears and sees to MQTT, with Home Assistant's MQTT discovery.

On connect the publisher sends, retained: one discovery config per sensor at
``<discovery_prefix>/sensor/<node_id>/<object_id>/config``, ``online`` on the availability topic (the last will
says ``offline`` when the connection dies), and the latest state of every sensor. States are JSON
(``{"text": ...}``, ``{"wake_word": ...}``, ``{"label": ...}``) on ``<topic_prefix>/<node_id>/<object_id>``; a
state is sent only when it differs from the last one sent. While the broker is away paho reconnects with backoff
and the publisher keeps only the latest state per topic, sent when the broker is back. :meth:`close` publishes
``offline`` and disconnects. When Home Assistant restarts (``online`` on ``<discovery_prefix>/status``) the
configs are sent again.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from dataclasses import dataclass

from edge_sdk.errors import InvalidInputError, require

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class MqttOptions:
    """Where to publish and under which names.

    Attributes:
        host, port: The broker.
        node_id: This box in topic names and Home Assistant ids (letters, digits, ``_``, ``-``); default: the host name.
        discovery_prefix: Home Assistant's discovery prefix.
        topic_prefix: Root of the state and availability topics.
        username, password: Broker credentials, if it wants them.
        keepalive_s: MQTT keepalive; a dead broker is noticed within about 1.5 times this.
        reconnect_min_s, reconnect_max_s: Reconnect backoff (doubles from min to max).
    """

    host: str = "127.0.0.1"
    port: int = 1883
    node_id: str = ""
    discovery_prefix: str = "homeassistant"
    topic_prefix: str = "edge-sdk"
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.node_id:
            object.__setattr__(self, "node_id", re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "edge-sdk")
        if not _ID.match(self.node_id):
            raise InvalidInputError(f"MQTT node_id {self.node_id!r} may hold only letters, digits, '_' and '-'")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise InvalidInputError(f"MQTT port {self.port!r} must be 1..65535")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise InvalidInputError(
                f"MQTT reconnect_min_s={self.reconnect_min_s} must be > 0 and <= reconnect_max_s={self.reconnect_max_s}"
            )
        for prefix in (self.discovery_prefix, self.topic_prefix):
            if not prefix or any(c in prefix for c in "#+"):
                raise InvalidInputError(f"MQTT topic prefix {prefix!r} must be non-empty, without wildcards")


@dataclass(frozen=True)
class Sensor:
    """One Home Assistant sensor: ``object_id`` in topics, a display ``name``, the JSON key of its state, an icon."""

    object_id: str
    name: str
    value_key: str
    icon: str


TRANSCRIPT = Sensor("last_transcript", "Last transcript", "text", "mdi:microphone-message")
WAKE_WORD = Sensor("last_wake_word", "Last wake word", "wake_word", "mdi:account-voice")


def camera_sensor(camera_name: str) -> Sensor:
    """The top-label sensor of camera ``camera_name``."""
    object_id = "camera_" + re.sub(r"[^A-Za-z0-9_-]", "_", camera_name) + "_label"
    return Sensor(object_id, f"{camera_name} top label", "label", "mdi:cctv")


class MqttPublisher:
    """Publishes sensor states, with discovery and availability. Thread-safe: call from any thread.

    Args:
        options: Broker and names.
        sensors: The sensors to announce.
        device: Home Assistant ``device`` fields (``name``, ``model``, ``sw_version``).

    Raises:
        MissingDependencyError: ``paho-mqtt`` is not installed.
    """

    def __init__(self, options: MqttOptions, sensors: tuple[Sensor, ...], device: dict | None = None) -> None:
        mqtt = require("paho.mqtt.client", "serve")
        self.options = options
        self.sensors = {s.object_id: s for s in sensors}
        self._device = {
            "identifiers": [f"edge-sdk_{options.node_id}"],
            "name": f"edge-sdk {options.node_id}",
            "manufacturer": "edge-sdk",
            **(device or {}),
        }
        self.availability_topic = f"{options.topic_prefix}/{options.node_id}/availability"
        self._lock = threading.Lock()
        self._connected = False
        self._latest: dict[str, str] = {}  # topic -> newest payload: what a reconnect sends
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-sdk-{options.node_id}")
        if options.username:
            client.username_pw_set(options.username, options.password)
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(
            min_delay=max(1, round(options.reconnect_min_s)), max_delay=max(1, round(options.reconnect_max_s))
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_connect_fail = self._on_connect_fail
        self._failures = 0
        self._client = client
        self._started = False

    def state_topic(self, object_id: str) -> str:
        """Where sensor ``object_id`` publishes its JSON state."""
        return f"{self.options.topic_prefix}/{self.options.node_id}/{object_id}"

    def config_topic(self, object_id: str) -> str:
        """Home Assistant's discovery topic of sensor ``object_id``."""
        return f"{self.options.discovery_prefix}/sensor/{self.options.node_id}/{object_id}/config"

    def discovery_config(self, sensor: Sensor) -> dict:
        """The retained discovery payload of ``sensor``."""
        key = sensor.value_key
        return {
            "name": sensor.name,
            "unique_id": f"{self.options.node_id}_{sensor.object_id}",
            "state_topic": self.state_topic(sensor.object_id),
            # a sensor state holds at most 255 characters; the whole payload is in the attributes
            "value_template": f"{{{{ value_json.{key}[:255] }}}}",
            "json_attributes_topic": self.state_topic(sensor.object_id),
            "availability_topic": self.availability_topic,
            "icon": sensor.icon,
            "device": self._device,
            "origin": {"name": "edge-sdk", "support_url": "https://pypi.org/project/edge-sdk-ondevice/"},
        }

    def start(self) -> None:
        """Connect in the background (paho's network thread); returns at once, also when the broker is down."""
        self._client.connect_async(self.options.host, self.options.port, keepalive=self.options.keepalive_s)
        self._client.loop_start()
        self._started = True

    def publish(self, sensor: Sensor, state: dict) -> bool:
        """Publish ``state`` (JSON-able, with the sensor's ``value_key``) unless it equals the last one sent.

        Returns:
            True when it was sent now or kept for the reconnect; False when it was unchanged.
        """
        topic = self.state_topic(sensor.object_id)
        payload = json.dumps(state, ensure_ascii=False, sort_keys=True)
        with self._lock:
            if self._latest.get(topic) == payload:
                return False
            self._latest[topic] = payload
            if self._connected:
                self._send(topic, payload)
        return True

    def close(self, timeout_s: float = 3.0) -> None:
        """Publish ``offline`` (waiting up to ``timeout_s`` for the broker's ack), disconnect, stop the thread."""
        if not self._started:
            return
        self._started = False
        with self._lock:
            connected = self._connected
        if connected:
            info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.warning("MQTT: offline not confirmed: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()

    # ------------------------------------------------------------------ paho callbacks (network thread)

    def _send(self, topic: str, payload: str) -> None:
        self._client.publish(topic, payload, qos=1, retain=True)

    def _announce(self) -> None:
        for sensor in self.sensors.values():
            self._client.publish(
                self.config_topic(sensor.object_id), json.dumps(self.discovery_config(sensor)), qos=1, retain=True
            )
        self._client.publish(self.availability_topic, "online", qos=1, retain=True)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.options.host, self.options.port, reason_code)
            return
        log.info("MQTT connected to %s:%d", self.options.host, self.options.port)
        self._failures = 0
        client.subscribe(f"{self.options.discovery_prefix}/status", qos=1)
        with self._lock:
            self._announce()
            for topic, payload in self._latest.items():  # all of them: a restarted broker may have lost its retained ones
                self._send(topic, payload)
            self._connected = True

    def _on_connect_fail(self, client, userdata) -> None:
        self._failures += 1  # the first failure is news, the retries (with backoff) are not
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        log.log(
            level,
            "MQTT broker %s:%d unreachable; retrying up to every %.0f s",
            self.options.host,
            self.options.port,
            self.options.reconnect_max_s,
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            self._connected = False
        if self._started:
            log.warning("MQTT connection to %s:%d lost (%s); reconnecting", self.options.host, self.options.port, reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if message.payload == b"online":  # Home Assistant (re)started: it wants the configs again
            with self._lock:
                self._announce()
