"""``edge-sdk serve`` publishing to a real broker (Debian's mosquitto): Home Assistant discovery, states of
transcripts, wake words and a camera's top label, reconnect after the broker restarts, ``offline`` on SIGTERM.

The server is configured from a TOML file whose wrong values (``uri``, MQTT ``port``) are overridden by flags: that
the states arrive at all shows that flags win over the file.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import time
from types import SimpleNamespace

import numpy as np
import pytest
from serve_helpers import (
    Mosquitto,
    MqttWatcher,
    ServerProcess,
    collect,
    free_port,
    read_clip,
    reference,
    send_audio,
    transcribe_clip,
    wer,
)

pytest.importorskip("wyoming", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")
pytest.importorskip("paho.mqtt", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")
pytest.importorskip("prometheus_client", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")

from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.wake import Detect  # noqa: E402

pytestmark = pytest.mark.slow

NODE = "testbox"
JFK = "public_domain/jfk.flac"
LIBRI = "librispeech/237-134500-0000.flac"
VIDEO = "video/bottle-detection_0s-5s.mp4"  # EfficientNet-Lite0 calls nearly every frame "water bottle"
TRANSCRIPT_TOPIC = f"edge-sdk/{NODE}/last_transcript"
WAKE_TOPIC = f"edge-sdk/{NODE}/last_wake_word"
CAMERA_TOPIC = f"edge-sdk/{NODE}/camera_shelf_label"
AVAILABILITY = f"edge-sdk/{NODE}/availability"
HAVE_CV2 = importlib.util.find_spec("cv2") is not None  # without the camera extra, the server runs no camera


@pytest.fixture(scope="module")
def stack(speech_bundle, data_dir, tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("mqtt")
    broker = Mosquitto(folder)
    watcher = MqttWatcher(broker.port)  # subscribed before the server starts: it sees every state
    camera = ""
    if HAVE_CV2:
        request.getfixturevalue("vision_bundle")
        camera = f'[[camera]]\nname = "shelf"\nsource = "{data_dir / VIDEO}"\nrate_hz = 4\n'
    config = folder / "serve.toml"
    config.write_text(f"""
uri = "tcp://127.0.0.1:1"         # overridden by --uri
wake_words = ["hey_jarvis"]

[mqtt]
host = "127.0.0.1"
port = 1                          # overridden by --mqtt-port
node_id = "{NODE}"
reconnect_min_s = 1
reconnect_max_s = 1

{camera}""")
    port = free_port()
    server = None
    try:
        server = ServerProcess("--config", str(config), "--uri", f"tcp://127.0.0.1:{port}", "--mqtt-port", str(broker.port))
        watcher.wait_for(AVAILABILITY, lambda p: p == "online")  # the MQTT connection comes up after the Wyoming socket
        yield SimpleNamespace(broker=broker, watcher=watcher, server=server, port=port, data_dir=data_dir)
    finally:
        if server is not None:
            server.stop()
        watcher.close()
        broker.kill()


def test_discovery_configs_and_online_are_retained(stack):
    late = MqttWatcher(stack.broker.port)  # connects after the server published: sees only what is retained
    try:
        sensors = [("last_transcript", "text"), ("last_wake_word", "wake_word")] + [("camera_shelf_label", "label")] * HAVE_CV2
        for object_id, key in sensors:
            config = json.loads(late.wait_for(f"homeassistant/sensor/{NODE}/{object_id}/config"))
            assert config["state_topic"] == f"edge-sdk/{NODE}/{object_id}"
            assert config["json_attributes_topic"] == config["state_topic"]
            assert config["availability_topic"] == AVAILABILITY
            assert config["unique_id"] == f"{NODE}_{object_id}"
            assert config["value_template"] == f"{{{{ value_json.{key}[:255] }}}}"
            assert config["device"]["identifiers"] == [f"edge-sdk_{NODE}"]
            assert config["device"]["model"].startswith("whisper-tiny.en ")
        assert late.wait_for(AVAILABILITY) == "online"
        assert all(
            retained for topic, _, retained in late.messages if topic.startswith("homeassistant/") or topic == AVAILABILITY
        )
    finally:
        late.close()


def test_the_transcript_state_holds_the_exact_text(stack):
    samples, rate = read_clip(stack.data_dir / "speech" / JFK)
    text = transcribe_clip(stack.port, samples, rate)
    assert wer(reference(stack.data_dir, JFK), text) <= 10.0, text
    state = json.loads(stack.watcher.wait_for(TRANSCRIPT_TOPIC, lambda p: json.loads(p)["text"] == text))
    assert state["audio_s"] == pytest.approx(samples.shape[0] / rate, abs=0.05) and state["latency_ms"] > 0


def test_a_wake_word_detection_is_published(stack, tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng")
    path = tmp_path / "hey_jarvis.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(path), "hey jarvis"], check=True)
    speech, rate = read_clip(path)
    pad = np.zeros((rate, speech.shape[1]), np.int16)
    samples = np.concatenate([pad, speech, pad])

    async def go():
        async with AsyncTcpClient("127.0.0.1", stack.port) as client:
            await client.write_event(Detect(names=["hey_jarvis"]).event())
            await send_audio(client, samples, rate)
            return [e.type for e, _ in await collect(client, until=("detection", "not-detected"))]

    assert asyncio.run(go()) == ["detection"]
    state = json.loads(stack.watcher.wait_for(WAKE_TOPIC))
    assert state["wake_word"] == "hey_jarvis" and 0.5 <= state["probability"] <= 1.0


@pytest.mark.skipif(not HAVE_CV2, reason="the camera pipeline needs the camera extra: pip install 'edge-sdk-ondevice[camera]'")
def test_the_camera_top_label_is_published_on_change(stack):
    stack.watcher.wait_for(CAMERA_TOPIC, lambda p: json.loads(p)["label"] == "water bottle")
    labels = [s["label"] for s in stack.watcher.states(CAMERA_TOPIC)]
    assert all(a != b for a, b in zip(labels, labels[1:], strict=False)), f"a state is sent only when the label changes: {labels}"


def test_states_reach_the_broker_after_it_restarts(stack):
    watcher, broker = stack.watcher, stack.broker
    broker.kill()
    samples, rate = read_clip(stack.data_dir / "speech" / LIBRI)
    while_down = transcribe_clip(stack.port, samples, rate)  # kept by the publisher, latest per topic
    seen = len(watcher.messages)
    broker.start()  # same port; no persistence: the retained configs are gone until the server re-announces
    state = json.loads(watcher.wait_for(TRANSCRIPT_TOPIC, lambda p: json.loads(p)["text"] == while_down, after=seen))
    assert state["text"] == while_down and while_down
    assert watcher.wait_for(AVAILABILITY, after=seen) == "online"
    watcher.wait_for(f"homeassistant/sensor/{NODE}/last_transcript/config", after=seen)
    samples, rate = read_clip(stack.data_dir / "speech" / JFK)
    seen = len(watcher.messages)
    after = transcribe_clip(stack.port, samples, rate)
    assert json.loads(watcher.wait_for(TRANSCRIPT_TOPIC, after=seen))["text"] == after


def test_sigterm_publishes_offline(stack):
    seen = len(stack.watcher.messages)
    t0 = time.monotonic()
    assert stack.server.stop() == 0, "".join(stack.server.stderr)[-2000:]
    assert stack.watcher.wait_for(AVAILABILITY, after=seen, timeout_s=10) == "offline"
    assert time.monotonic() - t0 < 30
