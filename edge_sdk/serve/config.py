"""``edge-sdk serve --config serve.toml``: the server's settings as a file; flags given on the command line win.

Example::

    uri = "tcp://0.0.0.0:10300"
    bundle = "whisper-tiny.en"
    wake_words = ["hey_jarvis"]          # or no_wake = true
    hotwords = ["Lumiflex", "Saoirse"]   # names the speech may hold (Whisper's previous-text prompt)
    metrics_port = 9108

    [mqtt]
    host = "192.168.1.10"
    node_id = "kitchen"                  # also: port, discovery_prefix, topic_prefix, username, password,
                                         # keepalive_s, reconnect_min_s, reconnect_max_s

    [[camera]]
    name = "porch"
    source = "rtsp://192.168.1.20/stream1"   # or a device index ("0") or a video file
    rate_hz = 1.0                             # also: bundle, variant
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6): the same parser, packaged as tomli
    import tomli as tomllib

from edge_sdk.errors import InvalidInputError
from edge_sdk.inputfile import check_input_file
from edge_sdk.serve.cameras import CameraPipelineOptions
from edge_sdk.serve.mqtt import MqttOptions
from edge_sdk.serve.server import ServeOptions
from edge_sdk.serve.wake import WakeWordOptions

# top-level key of the file -> attribute of the parsed flags (None there means "not given")
TOP_LEVEL = {
    "uri": "uri",
    "bundle": "bundle",
    "variant": "variant",
    "device": "profile",
    "wake_words": "wake_word",
    "wake_threshold": "wake_threshold",
    "no_wake": "no_wake",
    "workers": "workers",
    "drain_timeout_s": "drain_timeout",
    "metrics_port": "metrics_port",
    "metrics_host": "metrics_host",
    "hotwords": "hotwords",
}
MQTT_KEYS = {
    "host",
    "port",
    "node_id",
    "discovery_prefix",
    "topic_prefix",
    "username",
    "password",
    "keepalive_s",
    "reconnect_min_s",
    "reconnect_max_s",
}
CAMERA_KEYS = {"name", "source", "rate_hz", "bundle", "variant"}


def load_config(path: str | Path) -> dict:
    """Read and check the keys of a serve TOML file.

    Raises:
        InputNotFoundError: No such file.
        InvalidInputError: Not TOML, or a key this version does not know (named, with the known ones).
    """
    check_input_file(path, "serve config")
    try:
        data = tomllib.loads(Path(path).read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"serve config {path}: {exc}") from exc
    _check_keys(data, set(TOP_LEVEL) | {"mqtt", "camera"}, str(path))
    if "mqtt" in data:
        _check_keys(_table(data["mqtt"], "[mqtt]", path), MQTT_KEYS, f"{path} [mqtt]")
    cameras = data.get("camera", [])
    if not isinstance(cameras, list):
        raise InvalidInputError(f"serve config {path}: cameras are [[camera]] tables (an array of tables)")
    for i, cam in enumerate(cameras):
        _check_keys(_table(cam, f"[[camera]] #{i + 1}", path), CAMERA_KEYS, f"{path} [[camera]] #{i + 1}")
    return data


def serve_options(args) -> ServeOptions:
    """:class:`ServeOptions` from the parsed ``edge-sdk serve`` flags and their ``--config`` file (flags win).

    Raises:
        InvalidInputError: A bad value, in the file or a flag.
    """
    file = load_config(args.config) if getattr(args, "config", None) else {}
    merged = {key: file[key] for key in TOP_LEVEL if key in file}
    merged.update({key: getattr(args, attr) for key, attr in TOP_LEVEL.items() if getattr(args, attr, None) is not None})
    wake = None
    if not merged.get("no_wake"):
        names = merged.get("wake_words") or WakeWordOptions().models
        wake = WakeWordOptions(models=tuple(names), threshold=float(merged.get("wake_threshold", 0.5)))
    mqtt_fields = dict(file.get("mqtt", {}))
    for key, attr in (("host", "mqtt_host"), ("port", "mqtt_port"), ("node_id", "mqtt_node_id")):
        if getattr(args, attr, None) is not None:
            mqtt_fields[key] = getattr(args, attr)
    try:
        mqtt = MqttOptions(**mqtt_fields) if mqtt_fields else None
        cameras = tuple(CameraPipelineOptions(**cam) for cam in file.get("camera", []))
    except TypeError as exc:  # a missing required key (name, source)
        raise InvalidInputError(f"serve config {args.config}: {exc}") from exc
    defaults = ServeOptions.__dataclass_fields__
    return ServeOptions(
        uri=merged.get("uri", defaults["uri"].default),
        bundle=merged.get("bundle", defaults["bundle"].default),
        variant=merged.get("variant"),
        device=merged.get("device", "auto"),
        wake=wake,
        decode_workers=merged.get("workers", defaults["decode_workers"].default),
        drain_timeout_s=float(merged.get("drain_timeout_s", defaults["drain_timeout_s"].default)),
        metrics_port=merged.get("metrics_port"),
        metrics_host=merged.get("metrics_host", defaults["metrics_host"].default),
        mqtt=mqtt,
        cameras=cameras,
        hotwords=_hotwords(merged.get("hotwords", ()), args),
    )


def _hotwords(value, args) -> tuple[str, ...]:
    if isinstance(value, str):  # hotwords = "Lumiflex,Saoirse" reads as the flag does
        return tuple(w.strip() for w in value.split(","))
    if not isinstance(value, (list, tuple)):
        raise InvalidInputError(f"serve config {getattr(args, 'config', None)}: hotwords must be a list of words, not {value!r}")
    return tuple(value)


def _table(value, what: str, path) -> dict:
    if not isinstance(value, dict):
        raise InvalidInputError(f"serve config {path}: {what} must be a table")
    return value


def _check_keys(table: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise InvalidInputError(f"serve config {where}: unknown key(s) {unknown}; known: {sorted(known)}")
