"""edge-sdk: on-device speech, vision and text inference on ONNX Runtime."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

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
