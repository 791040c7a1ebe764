"""Record a student that missed its quality budget in the bundle, instead of shipping it.

A refused variant is not added to ``variants`` (a device profile that prefers ``distilled-int8``
would otherwise pick it by default); its measured metrics and recipe go under
``refused_variants`` in ``bundle.json``, so the numbers ship even when the weights do not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


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
