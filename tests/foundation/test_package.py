"""Packaging contracts: the runtime imports without torch/transformers/optimum; errors are built-ins too."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap

import edge_sdk
from edge_sdk import errors

BLOCK = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('torch', 'transformers', 'optimum', 'timm', 'torchvision', 'torchaudio'):
                raise ImportError('blocked for this test: ' + name)
    sys.meta_path.insert(0, Block())
    import edge_sdk, edge_sdk.devices
    def walk(pkg):
        return [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.')]
    # the runtime and the device layer; edge_sdk.quantize (model preparation) may use torch
    mods = [m for m in walk(edge_sdk) if m != 'edge_sdk.__main__' and not m.startswith(('edge_sdk.quantize', 'edge_sdk.devices'))]
    mods += ['edge_sdk.devices', *walk(edge_sdk.devices)]
    for m in mods:
        importlib.import_module(m)
    heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'optimum')]
    assert not heavy, heavy
    print(' '.join(mods))
    """
)


def test_runtime_imports_every_module_without_torch():
    out = subprocess.run([sys.executable, "-c", BLOCK], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = set(out.stdout.split())
    runtime = {m.name for m in pkgutil.walk_packages(edge_sdk.__path__, "edge_sdk.") if not m.name.startswith("edge_sdk.quantize")}
    assert runtime - {"edge_sdk.__main__"} <= imported and {"edge_sdk.devices.kernels", "edge_sdk.devices.doctor"} <= imported


def test_errors_are_also_builtins():
    assert issubclass(errors.BundleError, ValueError)
    assert issubclass(errors.BundleNotFoundError, FileNotFoundError)
    assert issubclass(errors.ProviderUnavailableError, RuntimeError)
    assert issubclass(errors.InvalidInputError, ValueError)
    for cls in (errors.BundleError, errors.DeviceError, errors.QualityGateError, errors.MissingDependencyError):
        assert issubclass(cls, errors.EdgeSDKError)


def test_missing_optional_dependency_names_the_extra():
    try:
        errors.require("no_such_module_for_edge_sdk", "camera")
    except errors.MissingDependencyError as exc:
        assert "pip install 'edge-sdk-ondevice[camera]'" in str(exc)
    else:
        raise AssertionError("require() accepted a module that does not exist")


def test_the_public_names_load_lazily_from_the_top_level():
    """``from edge_sdk import Transcriber``: every name of ``__all__`` resolves, and ``import edge_sdk`` alone loads
    no capability (no onnxruntime session code, no PortAudio, no OpenCV)."""
    code = (
        "import sys, edge_sdk\n"
        "assert not [m for m in sys.modules if m.startswith(('edge_sdk.speech', 'edge_sdk.vision', 'edge_sdk.text', 'cv2'))]\n"
        "print(' '.join(n for n in edge_sdk.__all__ if getattr(edge_sdk, n).__name__ == n))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == edge_sdk.__all__ == sorted([
        "Transcriber", "TranscriberOptions", "DecodeOptions", "SpeechModel", "SpeechStream", "StreamOptions", "transcribe_live",
        "MicrophoneSource", "FileSource", "FrameClassifier", "FrameClassifierOptions", "CameraSource", "run_camera",
        "speech_events", "camera_results", "on_speech_events", "on_camera_results",
        "Summarizer", "SummarizerOptions", "RollingSummarizer", "RollingSummaryOptions", "TranscriptSegment",
        "resolve_device", "EdgeSDKError",
    ])  # a short list (issue 36 asks for about fifteen): one more needs a reason
    try:
        edge_sdk.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("an unknown public name resolved")
