"""Frame classification: :class:`FrameClassifierOptions` -> :class:`FrameClassifier` -> results.

Running modes follow MediaPipe Tasks: fixed at creation, one method per mode, and the wrong
method raises ``ValueError``:

- ``image``: :meth:`FrameClassifier.classify` (and :meth:`classify_file`), independent images;
- ``video``: :meth:`FrameClassifier.classify_for_video` with strictly increasing timestamps;
- ``live_stream``: :meth:`FrameClassifier.classify_async`; results go to ``result_callback`` on a
  dispatcher thread. When frames arrive faster than inference, only the newest waiting frame is
  kept (the others are counted in :attr:`FrameClassifier.dropped_frames`). Exceptions raised by
  the callback are caught, logged and counted, never propagated into the dispatcher.

Smoothing (``smoothing_factor``) keeps an exponential moving average of the scores in video and
live-stream modes; a :class:`LabelChange` is attached to the result (and passed to
``on_label_change``) when the smoothed top label changes.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.errors import BundleError, InvalidInputError
from edge_sdk.task import Provenance, Task
from edge_sdk.vision.image_io import check_max_pixels, load_image
from edge_sdk.vision.preprocess import COLOR_ORDERS, PreprocessConfig, preprocess
from edge_sdk.vision.results import Category, ClassificationResult, LabelChange

log = logging.getLogger(__name__)


class RunningMode(str, enum.Enum):
    """How frames reach the classifier; fixed at creation."""

    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


@dataclass(frozen=True)
class FrameClassifierOptions:
    """Options of a :class:`FrameClassifier`.

    Args:
        bundle: Bundle store name or folder path.
        variant: ``fp32``, ``int8``, ``fp16``; None lets the device profile choose.
        device: Device profile name or ``"auto"``.
        running_mode: ``image``, ``video`` or ``live_stream`` (a :class:`RunningMode` or its value).
        top_k: Number of categories per result (1..1000).
        score_threshold: Categories scoring below this are left out (0 keeps all top_k).
        smoothing_factor: Weight of the newest frame in the score EMA, in (0, 1]; None disables
            smoothing. Applies to video and live-stream modes.
        color_order: ``"bgr"`` (OpenCV frames, default) or ``"rgb"`` for arrays you pass in.
        result_callback: ``callback(result, frame)`` for live-stream mode (required there).
        on_label_change: Optional ``callback(LabelChange)`` when the smoothed top label changes.
        max_image_pixels: Largest width x height :meth:`FrameClassifier.classify_file` decodes; the size is read
            from the file's header, so a larger image is refused before any memory is spent on it. None uses
            ``$EDGE_SDK_MAX_IMAGE_PIXELS``, else 50 megapixels.
    """

    bundle: str = "efficientnet-lite0"
    variant: str | None = None
    device: str = "auto"
    running_mode: RunningMode | str = RunningMode.IMAGE
    top_k: int = 5
    score_threshold: float = 0.0
    smoothing_factor: float | None = None
    color_order: str = "bgr"
    result_callback: Callable[[ClassificationResult, np.ndarray], None] | None = None
    on_label_change: Callable[[LabelChange], None] | None = None
    max_image_pixels: int | None = None
    allow_refused: bool = False  # load a variant its own quality gate refused (for inspection)

    def __post_init__(self) -> None:
        check_max_pixels(self.max_image_pixels, "FrameClassifierOptions.max_image_pixels")
        try:
            object.__setattr__(self, "running_mode", RunningMode(self.running_mode))
        except ValueError:
            raise InvalidInputError(
                f"running_mode={self.running_mode!r} is not one of {[m.value for m in RunningMode]}"
            ) from None
        if not isinstance(self.top_k, int) or not 1 <= self.top_k <= 1000:
            raise InvalidInputError(f"top_k={self.top_k!r}: use an integer from 1 to 1000")
        if not 0.0 <= self.score_threshold < 1.0:
            raise InvalidInputError(f"score_threshold={self.score_threshold!r}: use a value in [0, 1)")
        if self.smoothing_factor is not None and not 0.0 < self.smoothing_factor <= 1.0:
            raise InvalidInputError(f"smoothing_factor={self.smoothing_factor!r}: use a value in (0, 1], or None to disable")
        if self.color_order not in COLOR_ORDERS:
            raise InvalidInputError(f"color_order={self.color_order!r} is not one of {COLOR_ORDERS}")
        live = self.running_mode is RunningMode.LIVE_STREAM
        if live and self.result_callback is None:
            raise InvalidInputError("running_mode='live_stream' needs result_callback=callable(result, frame)")
        if not live and self.result_callback is not None:
            raise InvalidInputError(f"result_callback is only used in live_stream mode, not {self.running_mode.value!r}")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    e = np.exp(z)
    return e / e.sum()


class FrameClassifier(Task):
    """An image classifier over a vision bundle. Create with ``create(FrameClassifierOptions(...))``, the one
    constructor (:meth:`share` makes another over the same model); close with :meth:`close` or ``with``.

    The model is stateless and shared; the per-source state (last timestamp, smoothed scores,
    live-stream queue) lives in this object, so use one classifier per video source.
    """

    _reopen = "create a new one with FrameClassifier.create()"

    def __init__(self, options: FrameClassifierOptions, model) -> None:
        self._options = options
        self._model = model
        b = model.bundle
        # Provenance is read once: results and the properties keep it after close() drops the model.
        self._provenance = Provenance.of(model)
        self._session = model.sessions.get("model") or next(iter(model.sessions.values()))
        self._input = self._session.get_inputs()[0].name
        self._pre = PreprocessConfig.from_dict(b.preprocessing)
        labels = json.loads(b.read_asset("labels"))
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise BundleError(f"bundle {b.name!r}: labels.json must be a list of strings")
        self._labels = labels
        self._lock = threading.Lock()
        self._last_ts: int | None = None
        self._ema: np.ndarray | None = None
        self._ema_top: Category | None = None
        self.dropped_frames = 0
        self.callback_errors = 0
        self._pending: tuple[np.ndarray, int] | None = None
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        if options.running_mode is RunningMode.LIVE_STREAM:
            self._thread = threading.Thread(target=self._dispatch, name="frame-classifier-dispatch", daemon=True)
            self._thread.start()

    @classmethod
    def create(cls, options: FrameClassifierOptions | None = None) -> FrameClassifier:
        """Load the bundle (hashes verified) on the resolved device and build the classifier.

        Raises:
            BundleNotFoundError: No such bundle.
            BundleError: Not a vision bundle, or a file fails verification.
        """
        from edge_sdk.runtime import load_model

        options = options or FrameClassifierOptions()
        model = load_model(options.bundle, options.variant, options.device, task="vision", allow_refused=options.allow_refused)
        return cls(options, model)

    def share(self, **changes) -> FrameClassifier:
        """A new classifier over the same loaded model (sessions are shared, thread-safe), with its own
        running mode, timestamps and smoothing state: one per video source.

        Args:
            **changes: Option fields to change, e.g. ``running_mode="video"``; ``bundle``, ``variant``
                and ``device`` cannot change (the model is shared).

        Raises:
            InvalidInputError: A model-defining option was changed, or this classifier is closed.
        """
        fixed = {"bundle", "variant", "device"} & set(changes)
        if fixed:
            raise InvalidInputError(f"share() cannot change {sorted(fixed)}: the model is shared; use create() for another model")
        if self._model is None:
            raise InvalidInputError("share() on a closed classifier: its model was released; create a new one")
        return FrameClassifier(dataclasses.replace(self._options, **changes), self._model)

    # ------------------------------------------------------------------ properties

    @property
    def options(self) -> FrameClassifierOptions:
        return self._options

    @property
    def bundle(self) -> str:
        """Name of the bundle the model came from."""
        return self._provenance.bundle

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    @property
    def preprocessing(self) -> PreprocessConfig:
        return self._pre

    # ------------------------------------------------------------------ core

    def _require(self, mode: RunningMode, method: str) -> None:
        self._require_open()
        if self._options.running_mode is not mode:
            raise ValueError(
                f"{method}() needs running_mode={mode.value!r}, but this classifier was created with "
                f"{self._options.running_mode.value!r}; create one with the matching running_mode"
            )

    def _run(self, image: np.ndarray, timestamp_ms: int | None, smooth: bool) -> ClassificationResult:
        t0 = time.perf_counter()
        x = preprocess(image, self._pre, self._options.color_order)
        t1 = time.perf_counter()
        logits = self._session.run(None, {self._input: x})[0][0]
        t2 = time.perf_counter()
        probs = _softmax(logits)
        change = None
        if smooth and self._options.smoothing_factor is not None:
            with self._lock:
                a = self._options.smoothing_factor
                self._ema = probs if self._ema is None else (1 - a) * self._ema + a * probs
                probs = self._ema
                top = int(np.argmax(probs))
                if self._ema_top is None or self._ema_top.index != top:
                    current = Category(top, self._labels[top], float(probs[top]))
                    change = LabelChange(timestamp_ms, self._ema_top, current)
                    self._ema_top = current
        k = self._options.top_k
        idx = np.argpartition(-probs, k - 1)[:k] if k < len(probs) else np.arange(len(probs))
        idx = idx[np.argsort(-probs[idx], kind="stable")]
        cats = tuple(
            Category(int(i), self._labels[i] if i < len(self._labels) else str(i), float(probs[i]))
            for i in idx
            if probs[i] >= self._options.score_threshold
        )
        t3 = time.perf_counter()
        result = ClassificationResult(
            categories=cats,
            timestamp_ms=timestamp_ms,
            preprocess_ms=(t1 - t0) * 1e3,
            inference_ms=(t2 - t1) * 1e3,
            postprocess_ms=(t3 - t2) * 1e3,
            variant=self._provenance.variant,
            providers=self._provenance.providers,
            fallback=self._provenance.fallback,
            bundle=self._provenance.bundle,
            scores_sum=float(probs.sum()),
            smoothed=smooth and self._options.smoothing_factor is not None,
            label_change=change,
        )
        if change is not None and self._options.on_label_change is not None:
            try:
                self._options.on_label_change(change)
            except Exception:  # a user callback must not break the loop
                self.callback_errors += 1
                log.exception("on_label_change callback raised")
        return result

    def _check_ts(self, timestamp_ms: int) -> None:
        if not isinstance(timestamp_ms, (int, np.integer)):
            raise InvalidInputError(f"timestamp_ms={timestamp_ms!r} must be an integer number of milliseconds")
        with self._lock:
            if self._last_ts is not None and timestamp_ms <= self._last_ts:
                raise InvalidInputError(
                    f"timestamp_ms={timestamp_ms} is not after the previous frame's {self._last_ts}; "
                    f"timestamps must increase monotonically"
                )
            self._last_ts = int(timestamp_ms)

    # ------------------------------------------------------------------ public, one per mode

    def classify(self, image: np.ndarray) -> ClassificationResult:
        """Classify one image (``image`` mode).

        Raises:
            ValueError: The classifier is not in ``image`` mode.
            InvalidInputError: Zero-size, wrongly shaped or typed array.
        """
        self._require(RunningMode.IMAGE, "classify")
        return self._run(image, None, smooth=False)

    def classify_file(self, path: str | Path) -> ClassificationResult:
        """Decode (EXIF orientation applied) and classify an image file (``image`` mode).

        Raises:
            InputNotFoundError: The file does not exist (also a ``BundleNotFoundError`` and ``FileNotFoundError``).
            InputTooLargeError: Its header declares more than ``max_image_pixels`` pixels.
            InvalidInputError: The file is not a readable regular file, not a decodable image, or truncated.
        """
        self._require(RunningMode.IMAGE, "classify_file")
        return self._run(load_image(path, self._options.max_image_pixels), None, smooth=False)

    def classify_for_video(self, frame: np.ndarray, timestamp_ms: int) -> ClassificationResult:
        """Classify one decoded video frame (``video`` mode); timestamps must increase.

        Raises:
            ValueError: The classifier is not in ``video`` mode.
            InvalidInputError: Bad frame, or a timestamp not after the previous one.
        """
        self._require(RunningMode.VIDEO, "classify_for_video")
        self._check_ts(timestamp_ms)
        return self._run(frame, int(timestamp_ms), smooth=True)

    def classify_async(self, frame: np.ndarray, timestamp_ms: int) -> None:
        """Queue a frame (``live_stream`` mode); the result goes to ``result_callback``.

        Returns at once. If a previous frame is still waiting, it is replaced by this one and
        counted in :attr:`dropped_frames`.

        Raises:
            ValueError: The classifier is not in ``live_stream`` mode.
            InvalidInputError: Bad frame, or a timestamp not after the previous one.
        """
        self._require(RunningMode.LIVE_STREAM, "classify_async")
        if not isinstance(frame, np.ndarray) or frame.size == 0:
            raise InvalidInputError(f"frame must be a non-empty numpy array, got {getattr(frame, 'shape', type(frame).__name__)}")
        self._check_ts(timestamp_ms)
        with self._cv:
            if self._pending is not None:
                self.dropped_frames += 1
            self._pending = (frame, int(timestamp_ms))
            self._cv.notify()

    def _dispatch(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait()
                if self._pending is None:
                    self._release()  # closed, and the last waiting frame is done
                    return
                frame, ts = self._pending
                self._pending = None
            try:
                result = self._run(frame, ts, smooth=True)
                self._options.result_callback(result, frame)
            except Exception:  # keep the dispatcher alive whatever a frame or callback does
                self.callback_errors += 1
                log.exception("live-stream frame at %s ms failed", ts)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop using the model: later calls raise ``InvalidInputError``. Idempotent.

        In ``live_stream`` mode the dispatcher thread classifies a frame still waiting, then ends (waited
        for up to 10 s, unless called from the dispatcher itself). The classifier then drops its references
        to the onnxruntime session and the loaded model; the sessions are freed once nothing else holds
        them: classifiers made with :meth:`share` keep the model alive until they are closed too.
        """
        if self._closed:
            return
        with self._cv:
            super().close()
            self._cv.notify_all()
        if self._thread is None:
            self._release()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=10)  # the dispatcher releases the model when it ends

    def _release(self) -> None:
        self._session = None
        self._model = None
