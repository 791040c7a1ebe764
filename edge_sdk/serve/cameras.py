"""Camera pipelines of ``edge-sdk serve``: the vision camera loop in a thread, its top label to a callback.

Each pipeline is :func:`~edge_sdk.vision.loop.run_camera` over a latest-only
:class:`~edge_sdk.vision.camera.CameraSource`, classifying at most ``rate_hz`` frames a second; the callback
(the MQTT publisher) gets the top label when it changes. A video file plays once in real time; a camera or stream
runs until the server stops or the source gives up (its reconnect timeout), which is logged.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from edge_sdk.errors import InvalidInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraPipelineOptions:
    """One ``[[camera]]`` table of the serve config.

    Attributes:
        name: Shown in Home Assistant and in topic names.
        source: Device index, video file, stream URL or GStreamer pipeline (as ``edge-sdk camera`` takes).
        rate_hz: Frames classified per second, at most (the newest frame each time; the rest are dropped).
        bundle: Vision bundle name or folder.
        variant: Bundle variant; None lets the device profile choose.
    """

    name: str
    source: str
    rate_hz: float = 1.0
    bundle: str = "efficientnet-lite0"
    variant: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(f"camera name {self.name!r} must be a non-empty string")
        if isinstance(self.source, int) and not isinstance(self.source, bool):
            object.__setattr__(self, "source", str(self.source))
        if not isinstance(self.source, str) or not self.source.strip():
            raise InvalidInputError(f"camera {self.name!r}: source {self.source!r} must be a device index, file, URL or pipeline")
        if isinstance(self.rate_hz, bool) or not isinstance(self.rate_hz, (int, float)) or not self.rate_hz > 0:
            raise InvalidInputError(f"camera {self.name!r}: rate_hz={self.rate_hz!r} must be a number > 0")


class CameraPipeline:
    """A camera classified on its own thread. Create with :meth:`create` (loads the model), then :meth:`start`.

    Args:
        options: The camera.
        classifier: A video-mode :class:`~edge_sdk.vision.classifier.FrameClassifier`, owned by the pipeline.
        on_label: ``callback(options, category)`` when the top label changes (called on the pipeline's thread).
    """

    def __init__(self, options: CameraPipelineOptions, classifier, on_label) -> None:
        self.options = options
        self.classifier = classifier
        self._on_label = on_label
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"edge-sdk-camera-{options.name}", daemon=True)
        self.frames = 0
        self.label: str | None = None

    @classmethod
    def create(cls, options: CameraPipelineOptions, on_label) -> CameraPipeline:
        """Load the vision bundle.

        Raises:
            MissingDependencyError, BundleNotFoundError, BundleError: As :meth:`FrameClassifier.create`.
        """
        from edge_sdk.errors import require
        from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions

        require("cv2", "camera")
        clf = FrameClassifier.create(
            FrameClassifierOptions(bundle=options.bundle, variant=options.variant, top_k=1, running_mode="video")
        )
        return cls(options, clf, on_label)

    def start(self) -> None:
        """Open the source and classify on a daemon thread."""
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (after the frame in progress) and free the model; idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.classifier.close()

    def _run(self) -> None:
        from edge_sdk.devices.resolve import resolve_device
        from edge_sdk.vision.camera import CameraSource
        from edge_sdk.vision.loop import run_camera

        o = self.options
        try:
            backend = resolve_device("auto").capture.camera_backend
            with CameraSource(o.source, latest_only=True, realtime=True, backend=backend) as cam:
                for item in run_camera(self.classifier, cam):
                    self.frames += 1
                    top = item.result.categories[0]
                    if top.label != self.label:
                        self.label = top.label
                        self._on_label(o, top)
                    if self._stop.wait(1.0 / o.rate_hz):
                        return
                for ev in cam.events:
                    if ev.kind == "gave_up":
                        log.warning("camera %s gave up: %s", o.name, ev.detail)
                    elif ev.kind == "end":
                        log.info("camera %s: %s", o.name, ev.detail)
        except Exception:  # a camera that fails must not take the speech server with it
            log.exception("camera %s (%s) stopped", o.name, o.source)
