"""Exceptions raised by edge-sdk.

Every error is an :class:`EdgeSDKError` and also the matching built-in, so callers can
catch either ``edge_sdk.errors.BundleError`` or plain ``ValueError``.
"""

from __future__ import annotations


class EdgeSDKError(Exception):
    """Base class of every error raised by edge-sdk."""


class InvalidInputError(EdgeSDKError, ValueError):
    """Caller input (audio, image, text, option) cannot be used as given."""


class BundleError(EdgeSDKError, ValueError):
    """A model bundle is malformed, tampered with, or unsupported."""


class BundleNotFoundError(EdgeSDKError, FileNotFoundError):
    """A bundle, bundle file or input file does not exist."""


class ProviderUnavailableError(EdgeSDKError, RuntimeError):
    """A device profile requires an execution provider onnxruntime does not offer."""


class DeviceError(EdgeSDKError, RuntimeError):
    """A capture device (microphone, camera, stream) failed or disappeared."""


class MissingDependencyError(EdgeSDKError, ImportError):
    """An optional dependency is not installed; the message names the install command."""


class QualityGateError(EdgeSDKError, RuntimeError):
    """A prepared variant lost more accuracy than its budget and was refused."""


class InputNotFoundError(BundleNotFoundError, InvalidInputError):
    """An input file (audio, image, text) does not exist.

    Also a :class:`BundleNotFoundError`, which these files raised before, and a ``FileNotFoundError``.
    """


class InputTooLargeError(InvalidInputError):
    """An input is over a configured limit (image pixels, audio duration, text length).

    The message names the input's size, the limit, and the option that raises it.
    """


class EmptyInputError(InvalidInputError):
    """The input holds nothing to work on: no samples, or text with no visible characters."""


class RefusedVariantError(BundleError):
    """A variant that its own quality gate refused was asked for without allowing it."""


# Exit status of the command line by error class; README.md ("Command line errors") documents it.
EXIT_CODES = {"internal": 1, "input": 2, "bundle": 3, "device": 4}


def error_category(exc: BaseException) -> str:
    """``input``, ``bundle``, ``device`` or ``internal``: who can fix ``exc`` (see :data:`EXIT_CODES`).

    Input errors are checked first: a missing input file is also a ``BundleNotFoundError`` for old callers.
    """
    if isinstance(exc, InvalidInputError):
        return "input"
    if isinstance(exc, (BundleError, BundleNotFoundError, QualityGateError)):
        return "bundle"
    if isinstance(exc, (DeviceError, ProviderUnavailableError, MissingDependencyError)):
        return "device"
    return "internal"


def require(module: str, extra: str):
    """Import an optional dependency or raise with the install command.

    Args:
        module: Module name to import, e.g. ``"sounddevice"``.
        extra: The ``edge-sdk`` extra that provides it, e.g. ``"mic"``.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: When the module cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module!r} is not installed ({exc}); install it with: pip install 'edge-sdk-ondevice[{extra}]'"
        ) from exc
