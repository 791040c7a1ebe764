"""Accuracy of a vision bundle on a labelled TSV (``filename``, ``class_index`` as the first two columns)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from edge_sdk.errors import BundleNotFoundError, InvalidInputError
from edge_sdk.manifest import read_utf8_lines
from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions

log = logging.getLogger(__name__)


def read_label_tsv(path: str | Path) -> list[tuple[Path, int]]:
    """Rows ``(image path, class index)``; paths relative to the TSV; rows with a negative or blank index are skipped.

    Raises:
        BundleNotFoundError: The TSV does not exist.
        InvalidInputError: No header, fewer than two columns, or a non-integer class index.
    """
    tsv = Path(path)
    if not tsv.is_file():
        raise BundleNotFoundError(f"labels file {str(tsv)!r} does not exist")
    rows = []
    reader = csv.reader(read_utf8_lines(tsv), delimiter="\t")
    header = next(reader, None)
    if not header or len(header) < 2:
        raise InvalidInputError(f"{tsv}: needs a header row and at least two tab-separated columns (filename, class_index)")
    # The class column is the second one, unless the header names it (calibration/labels.tsv: imagenet_index).
    names = [h.strip().lower() for h in header]
    col = next((names.index(n) for n in ("class_index", "imagenet_index") if n in names), 1)
    for line, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue
        if len(row) <= col:
            raise InvalidInputError(f"{tsv}:{line}: expected filename<TAB>class_index, got {row!r}")
        value = row[col].strip()
        if value in ("", "-"):
            continue
        try:
            index = int(value)
        except ValueError:
            raise InvalidInputError(f"{tsv}:{line}: class_index {value!r} is not an integer") from None
        if index >= 0:
            rows.append((tsv.parent / row[0].strip(), index))
    return rows


def evaluate_tsv(labels: str | Path, bundle: str = "efficientnet-lite0", variant: str | None = None) -> dict:
    """top-1 / top-5 over the labelled rows; unreadable images are skipped and counted.

    Returns:
        ``{"top1", "top5", "n", "skipped", "variant", "providers", "bundle"}``.
    """
    rows = read_label_tsv(labels)
    t1 = t5 = n = skipped = 0
    with FrameClassifier.create(FrameClassifierOptions(bundle=bundle, variant=variant, top_k=5)) as clf:
        for path, index in rows:
            try:
                result = clf.classify_file(path)
            except (InvalidInputError, FileNotFoundError) as exc:
                log.warning("skipped %s: %s", path, exc)
                skipped += 1
                continue
            top = [c.index for c in result.categories]
            n += 1
            t1 += bool(top) and top[0] == index
            t5 += index in top
        return {
            "top1": t1 / n if n else 0.0,
            "top5": t5 / n if n else 0.0,
            "n": n,
            "skipped": skipped,
            "variant": clf.variant,
            "providers": list(clf.providers),
            "bundle": bundle,
        }
