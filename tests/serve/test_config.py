"""``edge-sdk serve --config serve.toml``: the file and the flags, parsed by the real command line; flags win."""

from __future__ import annotations

import pytest

from edge_sdk.cli import build_parser
from edge_sdk.errors import InvalidInputError
from edge_sdk.serve.config import serve_options

CONFIG = """
uri = "tcp://0.0.0.0:10300"
wake_words = ["hey_jarvis", "alexa"]
metrics_port = 9108

[mqtt]
host = "broker.lan"
port = 1884
node_id = "kitchen"

[[camera]]
name = "porch"
source = "0"
rate_hz = 2.5
"""


def _options(tmp_path, text: str, *flags: str):
    path = tmp_path / "serve.toml"
    path.write_text(text)
    return serve_options(build_parser().parse_args(["serve", "--config", str(path), *flags]))


def test_the_file_sets_what_no_flag_gives(tmp_path):
    o = _options(tmp_path, CONFIG)
    assert o.uri == "tcp://0.0.0.0:10300" and o.metrics_port == 9108 and o.metrics_host == "127.0.0.1"
    assert o.wake.models == ("hey_jarvis", "alexa")
    assert (o.mqtt.host, o.mqtt.port, o.mqtt.node_id) == ("broker.lan", 1884, "kitchen")
    (cam,) = o.cameras
    assert (cam.name, cam.source, cam.rate_hz, cam.bundle) == ("porch", "0", 2.5, "efficientnet-lite0")


def test_flags_override_the_file(tmp_path):
    o = _options(tmp_path, CONFIG, "--uri", "tcp://127.0.0.1:10400", "--mqtt-port", "1999", "--metrics-port", "9200", "--no-wake")
    assert o.uri == "tcp://127.0.0.1:10400" and o.metrics_port == 9200 and o.wake is None
    assert (o.mqtt.host, o.mqtt.port) == ("broker.lan", 1999)


def test_without_a_file_the_defaults_hold():
    o = serve_options(build_parser().parse_args(["serve"]))
    assert o.uri == "tcp://127.0.0.1:10300" and o.metrics_port is None and o.mqtt is None and o.cameras == ()
    assert len(o.wake.models) == 5 and o.decode_workers == 2 and o.drain_timeout_s == 30.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("metrics_prot = 9108\n", "metrics_prot"),
        ("[mqtt]\nhots = 'x'\n", "hots"),
        ("[[camera]]\nname = 'a'\nsource = '0'\nfps = 2\n", "fps"),
        ("[[camera]]\nname = 'a'\n", "source"),
        ("[[camera]]\nname = 'a'\nsource = '0'\nrate_hz = 0\n", "rate_hz"),
        ("[mqtt]\nnode_id = 'my box'\n", "node_id"),
        ("uri = \n", "serve.toml"),
    ],
)
def test_a_bad_file_is_refused_with_the_bad_key_named(tmp_path, text, named):
    with pytest.raises(InvalidInputError, match=named):
        _options(tmp_path, text)
