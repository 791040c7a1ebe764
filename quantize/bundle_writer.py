"""Write a bundle folder: copy files in, hash them, and write ``bundle.json`` last.

``bundle.json`` is written atomically after every file is in place, so an interrupted build
never leaves a bundle that looks complete. When ``EDGE_SDK_SIGNING_KEY`` names a private key, every
write also signs the new ``bundle.json`` (``bundle.sig``, see :mod:`edge_sdk.signing`); without a key, a
signature left from before the change is removed, so the bundle reads as unsigned rather than as tampered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.bundle import FORMAT_VERSION, SIGNATURE_FILE, check_json_values, load_bundle, sha256_file

log = logging.getLogger(__name__)


def recipe_hash(recipe: dict) -> str:
    """Stable hash of a build recipe (sources, versions, options) for idempotent rebuilds."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]


def up_to_date(root: Path, recipe: dict) -> bool:
    """True when ``root`` holds a bundle built from the same recipe."""
    meta = root / "bundle.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("recipe_hash") == recipe_hash(recipe)
    except (OSError, json.JSONDecodeError):
        return False


def _write_json(root: Path, data: dict, **dump_options) -> None:
    """Replace ``bundle.json`` atomically, then sign it when a signing key is configured."""
    from edge_sdk.signing import configured_signing_key, sign_bundle

    meta = root / "bundle.json"
    check_json_values(data, f"{meta} (being written)")  # NaN or a duplicate would make it unloadable
    before = meta.read_bytes() if meta.is_file() else None
    tmp = root / "bundle.json.tmp"
    tmp.write_text(json.dumps(data, default=str, **dump_options))
    os.replace(tmp, meta)
    if key := configured_signing_key():
        sign_bundle(load_bundle(root), key, check_files=False)  # the files were hashed as they were added
    elif (root / SIGNATURE_FILE).exists() and meta.read_bytes() != before:
        (root / SIGNATURE_FILE).unlink()
        log.warning("%s: bundle.json changed and no signing key is set (EDGE_SDK_SIGNING_KEY); removed the stale %s",
                    root, SIGNATURE_FILE)


def file_entry(root: Path, rel: str) -> dict:
    path = root / rel
    return {"path": rel, "sha256": sha256_file(path), "size": path.stat().st_size}


@dataclass
class BundleWriter:
    """Accumulates a bundle in ``root``; :meth:`write` writes ``bundle.json``.

    Example:
        w = BundleWriter(root, name="whisper-tiny.en", task="speech", family="whisper", source={...})
        w.add_asset("tokenizer", tokenizer_path)
        w.add_variant("fp32", {"encoder": enc_path, "decoder": dec_path}, metrics={...}, recipe={...})
        w.write(recipe)
    """

    root: Path
    name: str
    task: str
    family: str
    source: dict
    preprocessing: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    assets: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _place(self, src: Path, rel: str) -> str:
        dst = self.root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if Path(src).resolve() != dst.resolve():
            shutil.copyfile(src, dst)
        return rel

    def add_asset(self, role: str, src: Path, rel: str | None = None) -> None:
        rel = self._place(Path(src), rel or Path(src).name)
        self.assets[role] = file_entry(self.root, rel)

    def add_variant(self, name: str, files: dict[str, Path], metrics: dict | None = None, recipe: dict | None = None,
                    preprocessing: dict | None = None) -> None:
        """Add a variant; each file is copied to ``<name>/<filename>`` unless already inside the bundle.
        ``preprocessing``: keys that override the bundle's for this variant (see :class:`edge_sdk.bundle.Variant`)."""
        entries = {}
        for role, src in files.items():
            src = Path(src)
            inside = src.resolve().is_relative_to(self.root.resolve())
            rel = str(src.resolve().relative_to(self.root.resolve())) if inside else self._place(src, f"{name}/{src.name}")
            entries[role] = file_entry(self.root, rel)
        self.variants[name] = {"files": entries, "metrics": metrics or {}, "recipe": recipe or {},
                               **({"preprocessing": preprocessing} if preprocessing else {})}

    def set_metrics(self, name: str, metrics: dict) -> None:
        self.variants[name]["metrics"].update(metrics)

    def to_json(self, recipe: dict | None = None) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "task": self.task,
            "family": self.family,
            "source": self.source,
            "preprocessing": self.preprocessing,
            "assets": self.assets,
            "variants": self.variants,
            "recipe_hash": recipe_hash(recipe or {}),
            **self.extra,
        }

    def write(self, recipe: dict | None = None) -> Path:
        """Write ``bundle.json`` atomically (signed when ``EDGE_SDK_SIGNING_KEY`` is set) and return the bundle folder."""
        _write_json(self.root, self.to_json(recipe), indent=2, sort_keys=False)
        return self.root


def add_variant(root: Path, name: str, files: dict[str, Path], metrics: dict | None = None, recipe: dict | None = None,
                preprocessing: dict | None = None) -> Path:
    """Add (or replace) one variant of an existing bundle, e.g. a distilled student.

    Files are copied to ``<root>/<name>/``; ``bundle.json`` is rewritten atomically and keeps its
    ``recipe_hash`` so ``prepare`` does not rebuild over the added variant.
    """
    root = Path(root)
    data = json.loads((root / "bundle.json").read_text())
    w = BundleWriter(root, data["name"], data["task"], data["family"], data["source"], data.get("preprocessing", {}))
    w.assets, w.variants = data.get("assets", {}), data["variants"]
    w.extra = {k: v for k, v in data.items() if k not in w.to_json() or k == "recipe_hash"}
    w.add_variant(name, files, metrics, recipe, preprocessing)
    out = w.to_json()
    out["recipe_hash"] = data.get("recipe_hash", "")
    _write_json(root, out, indent=2)
    return root


def scratch_copy(bundle_root: Path, root: Path, variants: dict[str, dict[str, Path]], preprocessing: dict | None = None) -> Path:
    """A fresh copy of a bundle's fp32 variant and assets in ``root``, plus ``variants`` (e.g. students
    to measure before they are allowed into the real bundle), each with ``preprocessing`` overrides."""
    bundle_root, root = Path(bundle_root), Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    data = json.loads((bundle_root / "bundle.json").read_text())
    data["variants"] = {"fp32": data["variants"]["fp32"]}
    for entry in [*data.get("assets", {}).values(), *data["variants"]["fp32"]["files"].values()]:
        (root / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle_root / entry["path"], root / entry["path"])
    (root / "bundle.json").write_text(json.dumps(data))
    for name, files in variants.items():
        add_variant(root, name, files, preprocessing=preprocessing)
    return root
