"""One Wyoming connection: events in, transcripts and wake word detections out.

Protocol, as Home Assistant and satellites use it:

- ``describe`` -> ``info``;
- ``transcribe`` (optional; audio without ``detect`` is transcribed too), ``audio-start``, ``audio-chunk``...,
  ``audio-stop`` -> ``transcript-start``, ``transcript-chunk`` for each utterance the VAD closes (while audio
  still arrives), then ``transcript`` (the whole text) and ``transcript-stop``. Clients that predate streaming
  read past the events they do not know to the ``transcript``.
- ``detect`` (names, optional) then audio -> ``detection`` (name, timestamp in ms of audio since
  ``audio-start``) when a wake word is heard, ``not-detected`` at ``audio-stop`` when none was.

Audio goes through a bounded queue to a worker task that runs the session on the server's executor, so a slow
decode never blocks the event loop; a full queue stops reading from that client's socket (TCP back-pressure)
and no other. A client that disconnects mid-utterance has its worker cancelled and its session closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from edge_sdk.serve.session import AudioSession, SessionUpdate

try:
    from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.info import Describe
    from wyoming.server import AsyncEventHandler
    from wyoming.wake import Detect, Detection, NotDetected
except ImportError:  # the module still imports without the serve extra (the packaging test imports every module);
    AsyncEventHandler = object  # WyomingServer.create raises MissingDependencyError, with the install command, first

if TYPE_CHECKING:
    from edge_sdk.serve.server import WyomingServer

log = logging.getLogger(__name__)

LANGUAGE = "en"


class WyomingHandler(AsyncEventHandler):
    """Handles the events of one client connection (created by :class:`~edge_sdk.serve.server.WyomingServer`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: WyomingServer) -> None:
        super().__init__(reader, writer)
        self._server = server
        self._transcribe: Transcribe | None = None
        self._detect: Detect | None = None
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._session: AudioSession | None = None
        self._started = False  # transcript-start sent
        self._chunks = 0
        self._detected = False

    @property
    def busy(self) -> bool:
        """True between ``audio-start`` and the reply to ``audio-stop`` (an open utterance)."""
        return self._queue is not None

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self._server.info().event())
        elif Transcribe.is_type(event.type):
            self._transcribe = Transcribe.from_event(event)
            if self._transcribe.language not in (None, LANGUAGE):
                log.warning("client asked for language %r; the model transcribes English only", self._transcribe.language)
        elif Detect.is_type(event.type):
            self._detect = Detect.from_event(event)
        elif AudioStart.is_type(event.type):
            return await self._open()
        elif AudioChunk.is_type(event.type):
            if self._queue is None and not await self._open():  # some clients send no audio-start
                return False
            await self._queue.put(AudioChunk.from_event(event))  # waits while the queue is full: back-pressure
        elif AudioStop.is_type(event.type):
            if self._queue is not None:
                await self._close()
        else:
            log.debug("ignoring event %s", event.type)
        return True

    async def disconnect(self) -> None:
        """The client went away: cancel its worker and close its session (after any batch in progress)."""
        self._server.forget(self)
        worker, session = self._worker, self._session
        self._worker = self._session = self._queue = None
        if worker is not None and not worker.done():
            worker.cancel()
            self._server.dropped()
            log.info("client disconnected mid-utterance; its stream is dropped")
        if session is not None:
            await asyncio.get_running_loop().run_in_executor(self._server.executor, session.close)

    async def _open(self) -> bool:
        if self._server.draining:
            self._server.failed("refused")
            await self.write_event(Error(text="server is shutting down", code="shutting-down").event())
            return False
        if self._queue is not None:  # audio-start inside an open utterance: finish that one first
            await self._close()
        want_asr = self._transcribe is not None or self._detect is None
        names = (self._detect.names or None) if self._detect is not None else None
        loop = asyncio.get_running_loop()
        self._session = await loop.run_in_executor(self._server.executor, self._server.new_session, want_asr, self._detect is not None, names)
        self._queue = asyncio.Queue(maxsize=self._server.options.queue_chunks)
        self._started, self._chunks, self._detected = False, 0, False
        self._worker = asyncio.create_task(self._work(self._queue, self._session), name="edge-sdk session")
        return True

    async def _close(self) -> None:
        queue, worker, session = self._queue, self._worker, self._session
        await queue.put(None)
        stopped_at = time.perf_counter()
        try:
            await worker
        except Exception:
            self._server.failed("session")
            raise
        self._queue = self._worker = self._session = None
        if session.transcribing:
            await self._start_transcript()
            await self.write_event(Transcript(text=session.text, language=LANGUAGE).event())
            await self.write_event(TranscriptStop().event())
            latency_s = time.perf_counter() - stopped_at
            log.info("transcript %.0f ms after audio-stop (%.2f s of audio): %r", latency_s * 1000, session.samples / 16000, session.text)
            self._server.transcribed(session.text, latency_s, session.samples / 16000)
            self._transcribe = None  # one transcribe request, one transcript
        if self._detect is not None and not self._detected:
            await self.write_event(NotDetected().event())

    async def _work(self, queue: asyncio.Queue, session: AudioSession) -> None:
        """Feed the session from the queue, batching what piled up, until the ``None`` that ends the audio."""
        loop, executor = asyncio.get_running_loop(), self._server.executor
        ended = False
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                ended = batch[-1] is None
                chunks = [c for c in batch if c is not None]
                if chunks:
                    await self._emit(await loop.run_in_executor(executor, session.accept, chunks))
                if ended:
                    await self._emit(await loop.run_in_executor(executor, session.finish))
                    return
        except Exception:
            # Keep draining so the reader, which may be waiting on a full queue, reaches audio-stop; _close re-raises.
            log.exception("session failed; discarding the rest of this utterance")
            while not ended:
                ended = (await queue.get()) is None
            raise

    async def _emit(self, update: SessionUpdate) -> None:
        for text in update.finals:
            await self._start_transcript()
            await self.write_event(TranscriptChunk(text=text if self._chunks == 0 else " " + text).event())
            self._chunks += 1
        for d in update.detections:
            self._detected = True
            log.info("wake word %s at %d ms (p=%.2f)", d.name, d.timestamp_ms, d.probability)
            self._server.wake_detected(d)
            await self.write_event(Detection(name=d.name, timestamp=d.timestamp_ms).event())

    async def _start_transcript(self) -> None:
        if not self._started:
            self._started = True
            await self.write_event(TranscriptStart(language=LANGUAGE).event())
