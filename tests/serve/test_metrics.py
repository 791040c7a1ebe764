"""``edge-sdk serve --metrics-port``: the Prometheus page and ``/healthz`` of a running server, fetched over HTTP.

The figures are checked against what the test did (utterances transcribed, wake words said, clients dropped), and
Prometheus' own ``promtool`` checks the page's format.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from serve_helpers import ServerProcess, collect, free_port, read_clip, reference, send_audio, transcribe_clip, wer

pytest.importorskip("wyoming", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")
pytest.importorskip("prometheus_client", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.wake import Detect  # noqa: E402

from edge_sdk.serve.metrics import ServeMetrics  # noqa: E402

pytestmark = pytest.mark.slow

JFK = "public_domain/jfk.flac"
LIBRI = "librispeech/237-134500-0000.flac"


@pytest.fixture(scope="module")
def server(speech_bundle):
    port = free_port()
    proc = ServerProcess("--uri", f"tcp://127.0.0.1:{port}", "--wake-word", "hey_jarvis", "--metrics-port", "0")
    proc.port = port
    proc.metrics_url = re.search(r"metrics on (http://\S+/metrics)", proc.banner).group(1)  # port 0: the one it bound
    yield proc
    assert proc.stop() == 0, "".join(proc.stderr)[-2000:]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(page: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of a metrics page, parsed by prometheus_client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(page) for s in f.samples}


def test_two_servers_in_one_process_have_their_own_registries():
    a, b = ServeMetrics(), ServeMetrics()  # the global registry would refuse the second: duplicated timeseries
    a.utterances.inc()
    assert _samples(a.exposition().decode())[("edge_sdk_serve_utterances_total", ())] == 1
    assert _samples(b.exposition().decode())[("edge_sdk_serve_utterances_total", ())] == 0


def test_healthz_is_ok_while_serving(server):
    assert _get(server.metrics_url.replace("/metrics", "/healthz")) == (200, "ok\n")
    assert _get(server.metrics_url.replace("/metrics", "/nothing"))[0] == 404


def test_latency_histogram_counts_every_transcribed_utterance(server, data_dir):
    before = _samples(_get(server.metrics_url)[1])
    n0 = before[("edge_sdk_serve_transcript_latency_seconds_count", ())]
    for rel, bound in ((JFK, 10.0), (LIBRI, 20.0)):
        samples, rate = read_clip(data_dir / "speech" / rel)
        text = transcribe_clip(server.port, samples, rate)
        assert wer(reference(data_dir, rel), text) <= bound, text
    status, page = _get(server.metrics_url)
    assert status == 200
    after = _samples(page)
    assert after[("edge_sdk_serve_transcript_latency_seconds_count", ())] == n0 + 2
    assert after[("edge_sdk_serve_utterances_total", ())] == after[("edge_sdk_serve_transcript_latency_seconds_count", ())]
    assert after[("edge_sdk_serve_transcript_latency_seconds_bucket", (("le", "+Inf"),))] == n0 + 2
    assert 0 < after[("edge_sdk_serve_transcript_latency_seconds_sum", ())] < 60
    assert after[("edge_sdk_serve_open_sessions", ())] == 0
    assert after[("process_resident_memory_bytes", ())] > 50e6
    assert after[("edge_sdk_serve_peak_resident_memory_bytes", ())] >= after[("process_resident_memory_bytes", ())]


def test_the_info_metric_names_the_bundle_variant_and_providers(server):
    async def describe():
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(Describe().event())
            return Info.from_event(await asyncio.wait_for(client.read_event(), 30))

    variant = asyncio.run(describe()).asr[0].models[0].version
    (info,) = [
        dict(labels)
        for (name, labels), value in _samples(_get(server.metrics_url)[1]).items()
        if name == "edge_sdk_serve_model_info"
    ]
    assert info["bundle"] == "whisper-tiny.en" and info["variant"] == variant
    assert "CPUExecutionProvider" in info["providers"].split(",") and info["wake_words"] == "hey_jarvis"


def test_wake_detections_and_dropped_streams_are_counted(server, data_dir, tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng")
    path = tmp_path / "hey_jarvis.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(path), "hey jarvis"], check=True)
    speech, rate = read_clip(path)
    pad = np.zeros((rate, 1), np.int16)
    clip, clip_rate = read_clip(data_dir / "speech" / JFK)
    before = _samples(_get(server.metrics_url)[1])

    async def go():
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(Detect(names=["hey_jarvis"]).event())
            await send_audio(client, np.concatenate([pad, speech, pad]), rate)
            await collect(client, until=("detection", "not-detected"))
        client = AsyncTcpClient("127.0.0.1", server.port)
        await client.connect()
        await client.write_event(Transcribe().event())
        await send_audio(client, clip, clip_rate, frames=clip.shape[0] // 2, stop=False)
        client._writer.transport.abort()  # gone mid-utterance

    asyncio.run(go())
    key = ("edge_sdk_serve_dropped_streams_total", ())
    deadline = time.monotonic() + 30
    while (after := _samples(_get(server.metrics_url)[1]))[key] < before[key] + 1:
        assert time.monotonic() < deadline, "the dropped client was not counted"
        time.sleep(0.05)
    wake = ("edge_sdk_serve_wake_detections_total", (("wake_word", "hey_jarvis"),))
    assert after[wake] == before.get(wake, 0) + 1
    assert after[key] == before[key] + 1
    assert after[("edge_sdk_serve_errors_total", (("kind", "session"),))] == 0


def test_promtool_accepts_the_metrics_page(server):
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    status, page = _get(server.metrics_url)
    assert status == 200
    check = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_healthz_is_503_while_draining(speech_bundle, data_dir):
    port = free_port()
    proc = ServerProcess("--uri", f"tcp://127.0.0.1:{port}", "--no-wake", "--metrics-port", "0")
    url = re.search(r"metrics on (http://\S+)/metrics", proc.banner).group(1)
    samples, rate = read_clip(data_dir / "speech" / JFK)

    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Transcribe().event())
            half = samples.shape[0] // 2
            await send_audio(client, samples, rate, frames=half, stop=False)
            # over TCP the half clip may still sit in socket buffers: wait until the server has opened the utterance
            deadline = time.monotonic() + 30
            while (open_now := _samples(_get(url + "/metrics")[1])[("edge_sdk_serve_open_sessions", ())]) < 1:
                assert time.monotonic() < deadline, "the utterance was never opened"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            proc.terminate()
            deadline = time.monotonic() + 10
            while (health := _get(url + "/healthz")) == (200, "ok\n") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await send_audio(client, samples[half:], rate, start=False)
            return open_now, health, await collect(client)

    try:
        open_now, health, events = asyncio.run(go())
    finally:
        code = proc.stop()
    assert open_now == 1
    assert health == (503, "draining\n")
    text = next(Transcript.from_event(e).text for e, _ in events if Transcript.is_type(e.type))
    assert wer(reference(data_dir, JFK), text) <= 10.0, text
    assert code == 0
