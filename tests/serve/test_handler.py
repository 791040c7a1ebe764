"""The server in-process with a slow fake model: the event loop stays free, and a client that goes away frees its stream."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

import pytest
from serve_helpers import FakeModel, free_port, read_clip, send_audio

pytest.importorskip("wyoming", reason="needs the serve extra: pip install 'edge-sdk-ondevice[serve]'")

from wyoming.asr import Transcribe  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.info import Describe  # noqa: E402

from edge_sdk.errors import InvalidInputError  # noqa: E402
from edge_sdk.serve.server import ServeOptions, WyomingServer  # noqa: E402
from edge_sdk.serve.wake import WakeWordOptions  # noqa: E402

CLIP = "speech/public_domain/jfk.flac"


class SlowModel(FakeModel):
    """A fake transcriber with what ``info`` reads; every decode takes ``delay_s``."""

    bundle = SimpleNamespace(name="fake-bundle", family="fake", source={})
    variant = "fp32"
    providers = ("CPUExecutionProvider",)


async def _serving(model, **options):
    server = WyomingServer(ServeOptions(uri=f"tcp://127.0.0.1:{free_port()}", wake=None, **options), model, None)
    ready = asyncio.Event()
    task = asyncio.create_task(server.run(ready=lambda uri: ready.set()))
    await asyncio.wait_for(ready.wait(), 30)
    return server, task, server.options.uri.rsplit(":", 1)[1]


async def _wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_decoding_does_not_block_other_clients(data_dir):
    samples, rate = read_clip(data_dir / CLIP)
    model = SlowModel(delay_s=2.0, text="slow words")

    async def go():
        server, task, port = await _serving(model)
        async with AsyncTcpClient("127.0.0.1", int(port)) as busy, AsyncTcpClient("127.0.0.1", int(port)) as other:
            await busy.write_event(Transcribe().event())
            await send_audio(busy, samples, rate)
            await _wait_for(lambda: model.calls)  # a 2 s decode is running now
            t0 = time.perf_counter()
            await other.write_event(Describe().event())
            info = await asyncio.wait_for(other.read_event(), 10)
            answered_s = time.perf_counter() - t0
        server.request_stop()
        await task
        return info, answered_s

    info, answered_s = asyncio.run(go())
    assert info.type == "info" and answered_s < 1.0, answered_s


def test_a_client_that_disconnects_mid_utterance_frees_its_stream(data_dir):
    samples, rate = read_clip(data_dir / CLIP)
    model = SlowModel(delay_s=0.2, text="words")

    async def go():
        server, task, port = await _serving(model)
        client = AsyncTcpClient("127.0.0.1", int(port))
        await client.connect()
        await client.write_event(Transcribe().event())
        await send_audio(client, samples, rate, frames=samples.shape[0] // 2, stop=False)
        await _wait_for(lambda: server.open_sessions == 1)
        client._writer.transport.abort()
        await _wait_for(lambda: server.open_sessions == 0)
        server.request_stop()
        await task
        return server

    server = asyncio.run(go())
    assert server.open_sessions == 0


def test_options_name_the_bad_value():
    with pytest.raises(InvalidInputError, match="tcp://HOST:PORT"):
        ServeOptions(uri="http://127.0.0.1:10300")
    with pytest.raises(InvalidInputError, match="port"):
        ServeOptions(uri="tcp://127.0.0.1")
    with pytest.raises(InvalidInputError, match="queue_chunks"):
        ServeOptions(queue_chunks=0)
    with pytest.raises(InvalidInputError, match="hey_jarvis"):
        WakeWordOptions(models=("hey_siri",))
    with pytest.raises(InvalidInputError, match="threshold"):
        WakeWordOptions(threshold=1.5)


def test_an_address_in_use_is_refused_with_the_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WyomingServer(ServeOptions(uri=f"tcp://127.0.0.1:{port}", wake=None), SlowModel(), None)
        with pytest.raises(InvalidInputError, match="--uri"):
            asyncio.run(server.run())
