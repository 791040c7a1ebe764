"""One audio stream of one Wyoming client: speech recognition and wake word spotting on the same samples.

Everything here is synchronous and runs on the server's decode executor, never on the event loop. The model is
the server's shared :class:`~edge_sdk.speech.transcriber.Transcriber`; the session owns its
:class:`~edge_sdk.speech.stream.SpeechStream` and :class:`~edge_sdk.serve.wake.WakeStream`, and a client that goes
away simply drops its session.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from edge_sdk.serve.wake import WakeDetection, WakeStream

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

# Partial hypotheses are revised as audio arrives, while a Wyoming ``transcript-chunk`` is a piece of the final
# transcript (the chunks concatenate to it), so a session streams each closed utterance and decodes no partials.
NO_PARTIALS_S = 1e9


@dataclass(frozen=True)
class SessionUpdate:
    """What one batch of audio produced.

    Attributes:
        finals: Texts of utterances the VAD closed (stable pieces of the transcript), in order.
        detections: Wake words heard.
        decode_ms: Wall time spent in this batch.
    """

    finals: tuple[str, ...] = ()
    detections: tuple[WakeDetection, ...] = ()
    decode_ms: float = 0.0


class AudioSession:
    """ASR and/or wake word state of one ``audio-start`` .. ``audio-stop`` run.

    Args:
        transcriber: The shared transcriber, or None when the client asked for no transcript.
        wake: The session's wake word stream, or None when the client asked for no detection.
        stream_options: Fields of :class:`~edge_sdk.speech.stream.StreamOptions` for the speech stream.
        on_close: Called once when the session is closed (the server counts open sessions with it).
    """

    def __init__(self, transcriber, wake: WakeStream | None, stream_options: dict | None = None, on_close=None) -> None:
        options = {"partial_interval_s": NO_PARTIALS_S, **(stream_options or {})}
        self._speech = transcriber.create_stream(**options) if transcriber is not None else None
        self.transcribing = transcriber is not None
        self._wake = wake
        self._finals: list[str] = []
        from wyoming.audio import AudioChunkConverter

        self._converter = AudioChunkConverter(rate=SAMPLE_RATE, width=2, channels=1)
        # accept/finish run on executor threads while close may come from a disconnect: one at a time
        self._lock = threading.Lock()
        self._closed = False
        self._on_close = on_close
        self.samples = 0

    @property
    def text(self) -> str:
        """The transcript so far: the closed utterances joined by spaces."""
        return " ".join(t for t in self._finals if t).strip()

    def accept(self, chunks: list) -> SessionUpdate:
        """Feed Wyoming audio chunks of any rate, width and channel count (converted to 16 kHz mono int16 here,
        with wyoming's converter, so the conversion runs off the event loop too)."""
        t0 = time.perf_counter()
        with self._lock:
            if self._closed or not chunks:
                return SessionUpdate()
            pcm = b"".join(self._converter.convert(c).audio for c in chunks)
            samples = np.frombuffer(pcm, np.int16)
            self.samples += samples.shape[0]
            finals = self._finals_of(self._speech.accept_waveform(samples, SAMPLE_RATE)) if self._speech else ()
            detections = tuple(self._wake.accept(samples)) if self._wake else ()
        return SessionUpdate(finals, detections, (time.perf_counter() - t0) * 1000)

    def finish(self) -> SessionUpdate:
        """End of audio: close the open utterance and free the wake word interpreters."""
        t0 = time.perf_counter()
        with self._lock:
            finals = self._finals_of(self._speech.input_finished()) if self._speech and not self._closed else ()
        self.close()
        return SessionUpdate(finals, (), (time.perf_counter() - t0) * 1000)

    def close(self) -> None:
        """Free the wake word interpreters (waiting for a batch in progress); idempotent. The speech stream holds
        only arrays and goes with the session."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._speech = None  # its audio buffer goes now, not when the handler does
            if self._wake is not None:
                self._wake.close()
                self._wake = None
        if self._on_close is not None:
            self._on_close()

    def _finals_of(self, events) -> tuple[str, ...]:
        out = []
        for e in events:
            if e.kind == "final" and e.text.strip():
                out.append(e.text.strip())
            elif e.kind in ("lag", "error"):
                log.info("speech stream %s: %s", e.kind, e.text)
        self._finals += out
        return tuple(out)
