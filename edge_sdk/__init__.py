"""edge-sdk: on-device speech, vision and text inference on ONNX Runtime.

The public names are imported from here (``from edge_sdk import Transcriber``); each is loaded on first use, so
``import edge_sdk`` stays cheap and a capability's optional dependencies (PortAudio, OpenCV) are needed only by it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from edge_sdk.lazy import lazy_exports

# public name -> module that defines it
_PUBLIC = {
    "Transcriber": "edge_sdk.speech.transcriber",
    "TranscriberOptions": "edge_sdk.speech.transcriber",
    "SpeechStream": "edge_sdk.speech.stream",
    "StreamOptions": "edge_sdk.speech.stream",
    "DecodeOptions": "edge_sdk.speech.model",
    "SpeechModel": "edge_sdk.speech.model",
    "transcribe_live": "edge_sdk.speech.stream",
    "MicrophoneSource": "edge_sdk.speech.sources",
    "FileSource": "edge_sdk.speech.sources",
    "FrameClassifier": "edge_sdk.vision.classifier",
    "FrameClassifierOptions": "edge_sdk.vision.classifier",
    "CameraSource": "edge_sdk.vision.camera",
    "run_camera": "edge_sdk.vision.loop",
    "speech_events": "edge_sdk.aio",
    "camera_results": "edge_sdk.aio",
    "on_speech_events": "edge_sdk.aio",
    "on_camera_results": "edge_sdk.aio",
    "Summarizer": "edge_sdk.text.summarizer",
    "SummarizerOptions": "edge_sdk.text.summarizer",
    "RollingSummarizer": "edge_sdk.text.rolling",
    "RollingSummaryOptions": "edge_sdk.text.rolling",
    "TranscriptSegment": "edge_sdk.text.rolling",
    "resolve_device": "edge_sdk.devices.resolve",
    "EdgeSDKError": "edge_sdk.errors",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)

_CHECKOUT = Path(__file__).resolve().parent.parent


class _CheckoutFolders(importlib.abc.MetaPathFinder):
    """In a source checkout that is not installed (``python -m edge_sdk`` from the repository root, beside an
    environment that installed a wheel), the top-level folders ``devices/`` and ``quantize/`` are found as
    ``edge_sdk.devices`` and ``edge_sdk.quantize``, as an install maps them (pyproject.toml, package-dir)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or name not in ("devices", "quantize"):
            return None
        folder = _CHECKOUT / name
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])


if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "devices" / "__init__.py").is_file():
    sys.meta_path.append(_CheckoutFolders())
