"""Async and callback front ends over the synchronous live drivers (speech streams, camera loops).

``async for event in speech_events(stream=stream, source=source)`` and ``async for r in camera_results(classifier=clf,
camera=cam)`` run :func:`~edge_sdk.speech.stream.transcribe_live` / :func:`~edge_sdk.vision.loop.run_camera` on a
worker thread (decoding and inference release the GIL in onnxruntime, so the event loop stays responsive) and hand
their events to the loop through a bounded buffer:

- when the buffer is full, the oldest *droppable* event in it is dropped (speech: partials; camera: every result,
  a newer label supersedes it) and counted in :attr:`AsyncEvents.dropped`; an event that is not droppable (a
  final, an error) is never dropped: the worker waits for room instead (back-pressure on the source).
- leaving the ``async for`` (``break``, an exception, task cancellation) stops the worker at its next chunk or frame,
  closes the source on that thread and ends the thread; ``async with`` (or :meth:`AsyncEvents.aclose`) does it at
  once, a bare ``break`` when the loop finalises the iterator (at once in CPython, on the next loop iteration).
- an exception raised by the driver is raised from the ``async for`` after the events before it.

The source belongs to the events from the first iteration on: they close it when they end.

For apps that are not async, :func:`on_speech_events` and :func:`on_camera_results` call a function for each event
on the worker thread and return a :class:`EventThread` to :meth:`~EventThread.stop` and :meth:`~EventThread.join`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from edge_sdk.errors import InvalidInputError

log = logging.getLogger(__name__)

_END = object()


class _Stopped(Exception):
    """Raised inside the driver by the source wrapper when the consumer has gone: unwinds it without a flush."""


class _StoppableSource:
    """The source as the driver sees it: each ``next`` first checks the stop flag (so a silent microphone, which
    yields chunks but no events, still stops); other attributes (``stats``, ...) are the source's."""

    def __init__(self, source, stop: threading.Event) -> None:
        self._source, self._stop, self._it = source, stop, None

    def __iter__(self) -> _StoppableSource:
        return self

    def __next__(self):
        if self._stop.is_set():
            raise _Stopped
        if self._it is None:
            self._it = iter(self._source)
        return next(self._it)

    def __getattr__(self, name: str):
        return getattr(self._source, name)


class AsyncEvents:
    """An async iterator over a synchronous driver run on a worker thread, through a bounded buffer.

    Create with :func:`speech_events` or :func:`camera_results`. Iterate it once.

    Attributes:
        dropped: Droppable events dropped because the consumer fell ``max_queue`` events behind.
    """

    def __init__(self, run: Callable[[object], Iterator], source, droppable: Callable[[object], bool], max_queue: int,
                 name: str) -> None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise InvalidInputError(f"max_queue={max_queue!r} must be an int >= 1")
        self._run, self._source, self._droppable, self._max = run, source, droppable, max_queue
        self._name = name
        self._buf: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self.dropped = 0

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread once iteration has started."""
        return self._thread

    def __aiter__(self) -> AsyncIterator:
        if self._started:
            raise InvalidInputError(f"{self._name} events can be iterated once; create new ones")
        self._started = True
        # not kept on self: when the consumer drops the generator, it is finalised (and the worker stopped) at once
        return self._events(asyncio.get_running_loop())

    async def __aenter__(self) -> AsyncEvents:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the worker (at its next chunk or frame) and wait for its thread to end. Idempotent."""
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        while self._thread is not None and self._thread.is_alive():
            await asyncio.sleep(0.005)  # polling: joining through an executor would leave its thread behind

    async def _events(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator:
        ready = asyncio.Event()
        self._thread = threading.Thread(target=self._work, args=(loop, ready), name=f"edge-sdk-{self._name}", daemon=True)
        self._thread.start()
        try:
            while True:
                with self._cond:
                    item = self._buf.popleft() if self._buf else None
                    if item is not None:
                        self._cond.notify_all()  # room for a worker waiting to put a final
                    else:
                        ready.clear()
                if item is None:
                    await ready.wait()
                    continue
                kind, value = item
                if kind is _END:
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            await self.aclose()

    def _work(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Event) -> None:
        source = _StoppableSource(self._source, self._stop)
        try:
            for event in self._run(source):
                if self._stop.is_set() or not self._put(("event", event), self._droppable(event), loop, ready):
                    break
        except _Stopped:
            pass
        except BaseException as exc:  # the driver's failure is the consumer's to see
            self._put(("error", exc), False, loop, ready)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing the %s source failed", self._name)
            self._put((_END, None), False, loop, ready)

    def _put(self, item: tuple, droppable: bool, loop: asyncio.AbstractEventLoop, ready: asyncio.Event) -> bool:
        """Buffer ``item``; False when the consumer has gone."""
        with self._cond:
            while len(self._buf) >= self._max and not self._stop.is_set():
                oldest = next((i for i, (kind, v) in enumerate(self._buf) if kind == "event" and self._droppable(v)), None)
                if oldest is not None:
                    del self._buf[oldest]
                    self.dropped += 1
                elif droppable:
                    self.dropped += 1
                    return True
                else:
                    self._cond.wait(0.1)
            if self._stop.is_set() and item[0] is not _END:
                return False
            self._buf.append(item)
        try:
            loop.call_soon_threadsafe(ready.set)
        except RuntimeError:  # the loop has closed: nobody is reading
            return False
        return True


def speech_events(*, stream, source, max_queue: int = 64) -> AsyncEvents:
    """The events of ``stream`` fed from ``source`` (as :func:`~edge_sdk.speech.stream.transcribe_live`), async.

    Args:
        stream: A :class:`~edge_sdk.speech.stream.SpeechStream`.
        source: An iterator of audio chunks (``FileSource``, ``MicrophoneSource``, ...); closed when the events end.
        max_queue: Events buffered for a slow consumer; past it the oldest partials are dropped (never finals).

    Returns:
        :class:`AsyncEvents` of :class:`~edge_sdk.speech.stream.StreamEvent`.

    Raises:
        InvalidInputError: ``max_queue`` < 1.
    """
    from edge_sdk.speech.stream import transcribe_live

    return AsyncEvents(lambda src: transcribe_live(stream=stream, source=src), source,
                       lambda e: e.kind == "partial", max_queue, "speech")


def camera_results(*, classifier, camera, max_frames: int | None = None, max_queue: int = 8) -> AsyncEvents:
    """The results of :func:`~edge_sdk.vision.loop.run_camera` over ``camera``, async.

    Args:
        classifier: A :class:`~edge_sdk.vision.classifier.FrameClassifier` in video mode.
        camera: A :class:`~edge_sdk.vision.camera.CameraSource`; closed when the results end.
        max_frames: Stop after this many results (None: until the source ends).
        max_queue: Results buffered for a slow consumer; past it the oldest are dropped (a newer one supersedes it).

    Returns:
        :class:`AsyncEvents` of :class:`~edge_sdk.vision.loop.CameraResult`.

    Raises:
        InvalidInputError: ``max_queue`` < 1.
    """
    from edge_sdk.vision.loop import run_camera

    return AsyncEvents(lambda src: run_camera(classifier, src, max_frames=max_frames), camera, lambda r: True,
                       max_queue, "camera")


class EventThread:
    """A driver run on a worker thread that calls ``on_event`` for each event; made by :func:`on_speech_events` and
    :func:`on_camera_results`. An exception raised by ``on_event`` is logged and the run goes on (as MediaPipe's
    result callbacks); one raised by the driver ends the run and is kept in :attr:`error`.

    Attributes:
        error: The driver's exception, or None.
    """

    def __init__(self, run: Callable[[object], Iterator], source, on_event: Callable[[object], None], name: str) -> None:
        if not callable(on_event):
            raise InvalidInputError(f"on_event must be a function of one event, not {type(on_event).__name__}")
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(run, source, on_event), name=f"edge-sdk-{name}", daemon=True)
        self._thread.start()

    def _work(self, run, source, on_event) -> None:
        try:
            for event in run(_StoppableSource(source, self._stop)):
                if self._stop.is_set():
                    break
                try:
                    on_event(event)
                except Exception:
                    log.exception("on_event raised; the run goes on")
        except _Stopped:
            pass
        except BaseException as exc:
            self.error = exc
            log.error("the run ended with an error: %s", exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the run to end at its next chunk or frame (the open utterance is not flushed). Returns at once."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the run to end; True when it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def on_speech_events(*, stream, source, on_event: Callable[[object], None]) -> EventThread:
    """Run :func:`~edge_sdk.speech.stream.transcribe_live` on a thread, calling ``on_event`` with each event there.

    The source is closed when the run ends. Raises ``InvalidInputError`` when ``on_event`` is not callable.
    """
    from edge_sdk.speech.stream import transcribe_live

    return EventThread(lambda src: transcribe_live(stream=stream, source=src), source, on_event, "speech")


def on_camera_results(*, classifier, camera, on_event: Callable[[object], None], max_frames: int | None = None) -> EventThread:
    """Run :func:`~edge_sdk.vision.loop.run_camera` on a thread, calling ``on_event`` with each result there.

    The camera is closed when the run ends. Raises ``InvalidInputError`` when ``on_event`` is not callable.
    """
    from edge_sdk.vision.loop import run_camera

    return EventThread(lambda src: run_camera(classifier, src, max_frames=max_frames), camera, on_event, "camera")
