"""Record a student that missed its quality budget in the bundle, instead of shipping it.

A refused variant is not added to ``variants`` (a device profile that prefers ``distilled-int8``
would otherwise pick it by default); its measured metrics and recipe go under
``refused_variants`` in ``bundle.json``, so the numbers ship even when the weights do not.
:func:`write_or_refuse` is the tail every student shares: each measured variant is written or refused.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from edge_sdk.quantize.bundle_writer import add_variant

log = logging.getLogger(__name__)


def record_refusal(root: Path, name: str, metrics: dict, recipe: dict, reason: str) -> Path:
    """Add (or replace) ``refused_variants[name]`` in ``root/bundle.json``, written atomically."""
    root = Path(root)
    data = json.loads((root / "bundle.json").read_text())
    refused = data.get("refused_variants") if isinstance(data.get("refused_variants"), dict) else {}
    refused[name] = {"reason": reason, "metrics": metrics, "recipe": recipe}
    data["refused_variants"] = refused
    tmp = root / "bundle.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, root / "bundle.json")
    return root


def write_or_refuse(root: Path, metrics: dict[str, dict], refused: dict, files: dict[str, dict[str, Path]],
                    recipes: dict[str, dict], preprocessing: dict | None = None) -> list[str]:
    """Write each variant in ``metrics`` into the bundle at ``root``, or record it as refused when it is in ``refused``.

    Args:
        root: The teacher's bundle folder.
        metrics: Measured metrics by variant name (``distilled``, ``distilled-int8``).
        refused: The variants that missed their quality budget, by name, with the goals they missed.
        files: Each variant's files by role.
        recipes: Each variant's recipe.
        preprocessing: Keys that override the bundle's preprocessing for the written variants.

    Returns:
        The names of the variants written, in ``metrics`` order.
    """
    written = []
    for name in metrics:
        if name in refused:
            reason = f"missed the quality budget: {refused[name]}"
            log.warning("%s %s", name, reason)
            record_refusal(root, name, metrics[name], recipes[name], reason)
        else:
            add_variant(root, name, files[name], metrics[name], recipes[name], preprocessing)
            written.append(name)
    return written
