"""edge_sdk.aio over speech streams: the same finals as the sync driver, drops of partials only, clean stops."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from live_helpers import LONG, FakeModel

from edge_sdk.aio import on_speech_events, speech_events
from edge_sdk.errors import InvalidInputError
from edge_sdk.speech.sources import FileSource
from edge_sdk.speech.stream import transcribe_live

CLIP = "speech/librispeech/237-134500-0000.flac"


def _finals(events) -> list[tuple[str, float, float]]:
    return [(e.text, e.start_s, e.end_s) for e in events if e.kind == "final"]


async def _collect(events) -> list:
    return [e async for e in events]


def test_async_for_gives_the_finals_of_the_sync_driver(speech_bundle, data_dir):
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    with Transcriber.create(TranscriberOptions(bundle=str(speech_bundle))) as asr:
        with FileSource(data_dir / CLIP, realtime=False) as src:
            want = _finals(transcribe_live(stream=asr.create_stream(), source=src))
        src = FileSource(data_dir / CLIP, realtime=False)
        events = speech_events(stream=asr.create_stream(), source=src)
        got = asyncio.run(_collect(events))
    assert want and _finals(got) == want
    assert "english" in " ".join(t for t, _, _ in want).lower()  # "FRANK READ ENGLISH SLOWLY AND ..."
    assert not events.thread.is_alive()
    with pytest.raises(InvalidInputError, match="iterated once"):
        aiter(events)


def test_cancelling_the_consumer_stops_the_thread(data_dir):
    async def cancel_midway() -> threading.Thread:
        events = speech_events(stream=FakeModel(delay_s=0.05).create_stream(), source=FileSource(data_dir / f"{LONG}.flac", realtime=False))

        async def consume() -> None:
            async for _ in events:
                pass

        task = asyncio.create_task(consume())
        while events.thread is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return events.thread  # the generator's finally has waited for the worker

    assert not asyncio.run(cancel_midway()).is_alive()


def test_break_stops_the_source_and_the_thread(data_dir):
    src = FileSource(data_dir / f"{LONG}.flac", realtime=False)

    async def first_then_break() -> tuple[object, threading.Thread]:
        events = speech_events(stream=FakeModel().create_stream(), source=src)
        first = None
        async for event in events:
            first = event
            break
        deadline = time.monotonic() + 10
        while events.thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the dropped iterator is finalised on the loop
        return first, events.thread

    event, thread = asyncio.run(first_then_break())
    assert event.kind in ("partial", "final")
    assert not thread.is_alive()
    assert src._file.closed  # the source is closed on the worker thread
    assert not [t for t in threading.enumerate() if t.name.startswith("edge-sdk-speech")]


def test_slow_consumer_drops_partials_never_finals(data_dir):
    path = data_dir / f"{LONG}.flac"
    with FileSource(path, realtime=False) as src:
        want = _finals(transcribe_live(stream=FakeModel().create_stream(min_silence_ms=560), source=src))

    async def slow() -> tuple[list, int]:
        events = speech_events(stream=FakeModel().create_stream(min_silence_ms=560), source=FileSource(path, realtime=False),
                               max_queue=2)
        got = []
        async with events:
            async for event in events:
                got.append(event)
                await asyncio.sleep(0.02)
        return got, events.dropped

    got, dropped = asyncio.run(slow())
    assert _finals(got) == want
    assert dropped > 0


def test_callbacks_get_every_final_on_a_thread(data_dir):
    path = data_dir / f"{LONG}.flac"
    with FileSource(path, realtime=False) as src:
        want = _finals(transcribe_live(stream=FakeModel().create_stream(), source=src))
    got, threads = [], set()

    def on_event(event) -> None:
        got.append(event)
        threads.add(threading.current_thread().name)
        if len(got) == 1:
            raise RuntimeError("a bad callback is logged, the run goes on")

    run = on_speech_events(stream=FakeModel().create_stream(), source=FileSource(path, realtime=False), on_event=on_event)
    assert run.join(60)
    assert _finals(got) == want and threads == {"edge-sdk-speech"} and run.error is None


def test_callbacks_stop_at_the_next_chunk(data_dir):
    run = on_speech_events(stream=FakeModel(delay_s=0.05).create_stream(),
                           source=FileSource(data_dir / f"{LONG}.flac", realtime=True), on_event=lambda e: None)
    run.stop()
    assert run.join(5) and run.error is None


def test_bad_arguments_raise():
    with pytest.raises(InvalidInputError, match="max_queue=0"):
        speech_events(stream=None, source=[], max_queue=0)
    with pytest.raises(InvalidInputError, match="on_event"):
        on_speech_events(stream=None, source=[], on_event="print")
