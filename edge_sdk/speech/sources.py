"""Audio sources for live transcription: microphone, file played as live, raw PCM on stdin.

Every source is a plain iterator of :class:`AudioChunk` and a context manager with an idempotent
``close()``. Chunks carry the samples as captured (any rate, channels and sample type; the stream
converts them) and ``timestamp_s``, the ``time.monotonic()`` at which their last sample was captured,
so a stream can measure latency and lag from capture rather than from when it got the chunk.

:class:`MicrophoneSource` captures on PortAudio's own thread into a :class:`CaptureBuffer` bounded in
seconds, so inference never blocks capture. When even that buffer fills, its ``overflow`` policy decides
(``"drop_oldest"`` keeps the newest audio, ``"stop"`` ends capture with an error) and the loss is counted.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from edge_sdk.audio import check_audio_path
from edge_sdk.errors import DeviceError, InvalidInputError, require

log = logging.getLogger(__name__)

OVERFLOW_POLICIES = ("drop_oldest", "stop")


@dataclass(frozen=True)
class AudioChunk:
    """A block of captured audio.

    Attributes:
        samples: ``(frames,)`` or ``(frames, channels)`` samples as captured (int16 or float32).
        sample_rate: Their rate in Hz.
        timestamp_s: ``time.monotonic()`` when the last sample was captured (or, for a file played
            as live, when it would have been).
        gap_s: Seconds of outage (device lost, then reconnected) just before this chunk; audio of the
            outage was never captured.
    """

    samples: np.ndarray
    sample_rate: int
    timestamp_s: float
    gap_s: float = 0.0


@dataclass
class CaptureStats:
    """What a source captured and lost. ``samples_dropped`` is audio the buffer policy discarded."""

    samples_captured: int = 0
    samples_dropped: int = 0
    portaudio_overflows: int = 0
    max_buffered_s: float = 0.0
    reconnects: int = 0
    outages_s: list[float] = field(default_factory=list)


class CaptureBuffer:
    """Thread-safe FIFO of chunks bounded by total duration in seconds.

    Args:
        max_s: Most audio held, in seconds.
        sample_rate: Rate of the chunks put in.
        overflow: ``"drop_oldest"`` (discard the oldest chunks, count them) or ``"stop"`` (refuse the
            chunk and mark the buffer overflowed, which ends capture with an error).
    """

    def __init__(self, max_s: float, sample_rate: int, overflow: str = "drop_oldest", stats: CaptureStats | None = None) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise InvalidInputError(f"overflow={overflow!r} is not one of {OVERFLOW_POLICIES}")
        self.max_samples = int(max_s * sample_rate)
        self.sample_rate = sample_rate
        self.overflow = overflow
        self.stats = stats or CaptureStats()
        self.overflowed = False
        self._chunks: collections.deque[AudioChunk] = collections.deque()
        self._held = 0
        self._cond = threading.Condition()

    @property
    def buffered_s(self) -> float:
        return self._held / self.sample_rate

    def put(self, chunk: AudioChunk) -> None:
        """Add a chunk without ever blocking (called from the capture thread)."""
        n = chunk.samples.shape[0]
        with self._cond:
            self.stats.samples_captured += n
            if self._held + n > self.max_samples:
                if self.overflow == "stop":
                    self.overflowed = True
                    self.stats.samples_dropped += n
                    self._cond.notify_all()
                    return
                while self._chunks and self._held + n > self.max_samples:
                    old = self._chunks.popleft()
                    self._held -= old.samples.shape[0]
                    self.stats.samples_dropped += old.samples.shape[0]
            self._chunks.append(chunk)
            self._held += n
            self.stats.max_buffered_s = max(self.stats.max_buffered_s, self._held / self.sample_rate)
            self._cond.notify_all()

    def get(self, timeout: float) -> AudioChunk | None:
        """The oldest chunk, waiting up to ``timeout`` seconds; None if none came."""
        with self._cond:
            if not self._chunks:
                self._cond.wait(timeout)
            if not self._chunks:
                return None
            chunk = self._chunks.popleft()
            self._held -= chunk.samples.shape[0]
            return chunk

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def list_input_devices() -> list[dict]:
    """Input devices PortAudio offers: ``index``, ``name``, ``channels``, ``default_rate``."""
    sd = require("sounddevice", "mic")
    return [
        {"index": i, "name": d["name"], "channels": d["max_input_channels"], "default_rate": d["default_samplerate"]}
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def find_input_device(device: str | int | None) -> int | None:
    """Resolve a device index or (part of a) name to a PortAudio input device index.

    Raises:
        DeviceError: No input device matches; the message lists the ones there are.
    """
    if device is None or device == "":
        return None
    devices = list_input_devices()
    available = ", ".join(f"{d['index']}: {d['name']!r}" for d in devices) or "none"
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        index = int(device)
        if any(d["index"] == index for d in devices):
            return index
        raise DeviceError(f"audio input device {index} does not exist or has no input channels; input devices: {available}")
    exact = [d for d in devices if d["name"] == device]
    partial = [d for d in devices if str(device).lower() in d["name"].lower()]
    match = exact or partial
    if not match:
        raise DeviceError(f"no audio input device named {device!r}; input devices: {available}")
    if len(match) > 1 and not exact:
        log.info("device %r matches %s; using the first", device, [d["name"] for d in match])
    return match[0]["index"]


class MicrophoneSource:
    """Live capture from a PortAudio input device (sounddevice).

    Capture runs on PortAudio's callback thread into a :class:`CaptureBuffer`, so a slow consumer never
    blocks it. A PortAudio error, a device that disappears, or ``stall_timeout_s`` without audio ends the
    iteration with :class:`~edge_sdk.errors.DeviceError` after every captured chunk has been handed out;
    with ``reconnect=True`` the source instead reopens the device with exponential backoff.

    Args:
        device: Input device index or (part of) its name; None for the system default.
        sample_rate: Rate to open the device at; None tries 16000 then the device's default.
        channels: Channels to capture (the stream averages them).
        block_ms: Block size in ms; None takes ``capture.audio_block_ms`` from the device profile.
        max_buffer_s: Most unconsumed audio kept, in seconds.
        overflow: Policy when the buffer is full: ``"drop_oldest"`` or ``"stop"``.
        dtype: Sample type to capture: ``"int16"`` or ``"float32"``.
        reconnect: Reopen the device after a failure instead of ending.
        max_reconnects: Attempts per outage before giving up.
        backoff_s: First wait between attempts; doubled each time up to 8 s.
        stall_timeout_s: No audio for this long counts as a lost device.
        profile: Device profile for the block size (``"auto"`` detects).

    Raises:
        DeviceError: The device does not exist or cannot be opened.
        InvalidInputError: A bad option value.
    """

    def __init__(
        self,
        device: str | int | None = None,
        sample_rate: int | None = None,
        channels: int = 1,
        block_ms: int | None = None,
        max_buffer_s: float = 60.0,
        overflow: str = "drop_oldest",
        dtype: str = "int16",
        reconnect: bool = False,
        max_reconnects: int = 5,
        backoff_s: float = 0.5,
        stall_timeout_s: float = 2.0,
        profile: str = "auto",
    ) -> None:
        if block_ms is None:
            from edge_sdk.devices.resolve import resolve_device

            block_ms = resolve_device(profile).capture.audio_block_ms
        if not isinstance(block_ms, int) or not 5 <= block_ms <= 1000:
            raise InvalidInputError(f"block_ms={block_ms!r} must be a whole number of ms from 5 to 1000; 100 is typical")
        if not max_buffer_s > 0:
            raise InvalidInputError(f"max_buffer_s={max_buffer_s!r} must be positive seconds; 60 keeps a minute of audio")
        if overflow not in OVERFLOW_POLICIES:
            raise InvalidInputError(f"overflow={overflow!r} is not one of {OVERFLOW_POLICIES}")
        if dtype not in ("int16", "float32"):
            raise InvalidInputError(f"dtype={dtype!r} must be 'int16' or 'float32'")
        if not isinstance(channels, int) or not 1 <= channels <= 32:
            raise InvalidInputError(f"channels={channels!r} must be from 1 to 32")
        self._sd = require("sounddevice", "mic")
        self.device = find_input_device(device)
        self.device_name = self._sd.query_devices(self.device, "input")["name"]
        self.channels, self.block_ms, self.dtype = channels, block_ms, dtype
        self.reconnect, self.max_reconnects, self.backoff_s = reconnect, max_reconnects, backoff_s
        self.stall_timeout_s = stall_timeout_s
        self.stats = CaptureStats()
        self.sample_rate = self._pick_rate(sample_rate)
        self.buffer = CaptureBuffer(max_buffer_s, self.sample_rate, overflow, self.stats)
        self._stream = None
        self._failed: str | None = None
        self._closed = False
        self._last_audio = time.monotonic()
        self._gap_s = 0.0
        self._open()

    def _pick_rate(self, requested: int | None) -> int:
        rates = [requested] if requested else [16000, int(self._sd.query_devices(self.device, "input")["default_samplerate"])]
        errors = []
        for rate in rates:
            try:
                self._sd.check_input_settings(device=self.device, channels=self.channels, samplerate=rate, dtype=self.dtype)
                return int(rate)
            except Exception as exc:  # sounddevice raises PortAudioError or ValueError
                errors.append(f"{rate} Hz: {exc}")
        raise DeviceError(f"audio input {self.device_name!r} cannot capture {self.channels} channel(s) of {self.dtype} at {' or '.join(errors)}")

    def _callback(self, indata, frames, time_info, status) -> None:
        if status and status.input_overflow:
            self.stats.portaudio_overflows += 1
        now = time.monotonic()
        self._last_audio = now
        self.buffer.put(AudioChunk(indata.copy(), self.sample_rate, now))

    def _finished(self) -> None:
        if not self._closed and self._failed is None:
            self._failed = f"audio input {self.device_name!r} stopped (PortAudio error or device gone)"
        self.buffer.wake()

    def _open(self) -> None:
        blocksize = int(self.sample_rate * self.block_ms / 1000)
        try:
            stream = self._sd.InputStream(
                device=self.device, samplerate=self.sample_rate, channels=self.channels, dtype=self.dtype,
                blocksize=blocksize, callback=self._callback, finished_callback=self._finished,
            )
            stream.start()
        except Exception as exc:  # PortAudioError; the device may be gone
            raise DeviceError(f"cannot open audio input {self.device_name!r}: {exc}") from exc
        self._stream, self._failed, self._last_audio = stream, None, time.monotonic()
        log.info("capturing from %r at %d Hz, %d ms blocks", self.device_name, self.sample_rate, self.block_ms)

    def _shut(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return

        def stop() -> None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception:  # closing a dead device can fail again; nothing left to do
                log.debug("closing the audio stream failed", exc_info=True)

        # A driver stuck in a blocking read can hang PortAudio's abort; never let that hang the caller.
        closer = threading.Thread(target=stop, daemon=True, name="edge-sdk-mic-close")
        closer.start()
        closer.join(timeout=2.0)
        if closer.is_alive():
            log.warning("audio input %r did not close within 2 s; abandoning it", self.device_name)

    def _recover(self, reason: str) -> None:
        """Reopen after a failure, with backoff; raise DeviceError when it cannot."""
        self._shut()
        if not self.reconnect:
            raise DeviceError(f"{reason}; {self.stats.samples_captured} samples were captured before it")
        t0, wait = time.monotonic(), self.backoff_s
        for attempt in range(1, self.max_reconnects + 1):
            if self._closed:
                raise StopIteration
            time.sleep(wait)
            try:
                self._open()
                self.stats.reconnects += 1
                self.stats.outages_s.append(time.monotonic() - t0)
                self._gap_s += time.monotonic() - t0
                log.warning("%s; reconnected after %d attempt(s)", reason, attempt)
                return
            except DeviceError as exc:
                log.info("reconnect attempt %d failed: %s", attempt, exc)
                wait = min(8.0, wait * 2)
        raise DeviceError(f"{reason}; gave up after {self.max_reconnects} reconnect attempts")

    def __iter__(self) -> MicrophoneSource:
        return self

    def __next__(self) -> AudioChunk:
        while True:
            chunk = self.buffer.get(timeout=0.05)
            if chunk is not None:
                if self._gap_s:
                    chunk, self._gap_s = AudioChunk(chunk.samples, chunk.sample_rate, chunk.timestamp_s, self._gap_s), 0.0
                return chunk
            if self._closed:
                raise StopIteration
            if self.buffer.overflowed:
                self._shut()
                raise DeviceError(
                    f"capture buffer of {self.buffer.max_samples / self.sample_rate:.0f} s overflowed (policy 'stop'); "
                    "consume faster or raise max_buffer_s"
                )
            if self._failed:
                self._recover(self._failed)
            elif time.monotonic() - self._last_audio > self.stall_timeout_s:
                self._recover(f"audio input {self.device_name!r} delivered nothing for {self.stall_timeout_s:.1f} s")

    def close(self) -> None:
        """Stop capture (idempotent). Chunks not yet consumed are discarded."""
        self._closed = True
        self._shut()
        self.buffer.wake()

    def __enter__(self) -> MicrophoneSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileSource:
    """An audio file played as a live source (how tests and benchmarks reproduce a live session).

    Args:
        path: Any file soundfile reads (WAV, FLAC, OGG, ...).
        realtime: Pace chunks at the file's own rate (times ``speed``); False yields as fast as consumed.
        block_ms: Chunk length in ms.
        speed: Playback speed factor when ``realtime`` (2.0 plays twice as fast).

    Raises:
        BundleNotFoundError: The file does not exist.
        InvalidInputError: The file is empty or not audio.
    """

    def __init__(self, path, realtime: bool = True, block_ms: int = 100, speed: float = 1.0) -> None:
        sf = require("soundfile", "mic")
        if not isinstance(block_ms, int) or not 5 <= block_ms <= 10000:
            raise InvalidInputError(f"block_ms={block_ms!r} must be a whole number of ms from 5 to 10000")
        if not speed > 0:
            raise InvalidInputError(f"speed={speed!r} must be positive (1.0 is real time)")
        p = check_audio_path(path)
        try:
            self._file = sf.SoundFile(str(p))
        except Exception as exc:  # LibsndfileError, RuntimeError
            raise InvalidInputError(f"cannot decode audio file {str(path)!r}: {exc}") from exc
        self.path, self.realtime, self.speed = p, realtime, speed
        self.sample_rate = int(self._file.samplerate)
        self._block = max(1, int(self.sample_rate * block_ms / 1000))
        self._sent = 0
        self._t0: float | None = None

    def __iter__(self) -> FileSource:
        return self

    def __next__(self) -> AudioChunk:
        if self._file.closed:
            raise StopIteration
        data = self._file.read(self._block, dtype="float32", always_2d=True)
        if data.shape[0] == 0:
            self.close()
            raise StopIteration
        if self._t0 is None:
            self._t0 = time.monotonic()
        self._sent += data.shape[0]
        due = self._t0 + self._sent / self.sample_rate / self.speed
        if self.realtime:
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        else:
            due = time.monotonic()
        samples = data[:, 0] if data.shape[1] == 1 else data
        return AudioChunk(samples, self.sample_rate, due)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StdinSource:
    """Raw little-endian signed 16-bit PCM (``s16le``) from stdin or any binary stream.

    Example: ``arecord -f S16_LE -r 16000 -c 1 | edge-sdk transcribe --stdin --rate 16000``.

    Args:
        sample_rate: Rate of the PCM in Hz.
        channels: Interleaved channels.
        block_ms: Chunk length in ms.
        stream: Binary file object; default ``sys.stdin.buffer``.
    """

    def __init__(self, sample_rate: int, channels: int = 1, block_ms: int = 100, stream=None) -> None:
        if not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384000:
            raise InvalidInputError(f"sample_rate={sample_rate!r} must be the PCM rate in Hz (1000-384000), e.g. 16000")
        if not isinstance(channels, int) or not 1 <= channels <= 32:
            raise InvalidInputError(f"channels={channels!r} must be from 1 to 32")
        self.sample_rate, self.channels = sample_rate, channels
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._bytes = max(1, int(sample_rate * block_ms / 1000)) * 2 * channels
        self._rest = b""
        self._done = False

    def __iter__(self) -> StdinSource:
        return self

    def __next__(self) -> AudioChunk:
        if self._done:
            raise StopIteration
        data = self._rest
        while len(data) < self._bytes:
            more = self._stream.read(self._bytes - len(data))
            if not more:
                self._done = True
                break
            data += more
        frame = 2 * self.channels
        usable = len(data) - len(data) % frame
        self._rest = data[usable:]
        if self._done and self._rest:
            log.warning("stdin ended inside a frame: %d trailing bytes ignored", len(self._rest))
        if usable == 0:
            raise StopIteration
        samples = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, self.channels)
        return AudioChunk(samples[:, 0] if self.channels == 1 else samples, self.sample_rate, time.monotonic())

    def close(self) -> None:
        self._done = True

    def __enter__(self) -> StdinSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
