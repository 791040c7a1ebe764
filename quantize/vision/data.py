"""Real photos for calibration, the held-out agreement check and labelled accuracy.

The calibration folder is split deterministically by file name: every third photo (sorted) is
held out of calibration and used only to measure fp32-int8 top-1 agreement.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_sdk.datasets import data_dir
from edge_sdk.quantize.vision.images import VIDEO_SUFFIXES
from edge_sdk.vision.image_io import load_image
from edge_sdk.vision.preprocess import PreprocessConfig, preprocess

HOLDOUT_EVERY = 3


def shared_images_dir() -> Path:
    """``images/`` of the data folder (:func:`edge_sdk.datasets.data_dir`).

    Raises:
        FileNotFoundError: It has no ``images/calibration/``.
    """
    images = data_dir() / "images"
    if not (images / "calibration").is_dir():
        raise FileNotFoundError(f"no {images / 'calibration'}: set EDGE_SDK_DATA to a folder holding images/calibration/")
    return images


@dataclass(frozen=True)
class PhotoSets:
    """Calibration photos, held-out photos, labelled photos ``(path, imagenet index)``, and videos whose
    frames may train (quantization-aware fine-tuning), never evaluate."""

    calibration: tuple[Path, ...]
    holdout: tuple[Path, ...]
    labelled: tuple[tuple[Path, int], ...]
    videos: tuple[Path, ...] = ()

    def describe(self) -> dict:
        return {
            "calibration_photos": len(self.calibration),
            "holdout_photos": len(self.holdout),
            "labelled_photos": len(self.labelled),
            "videos": [p.name for p in self.videos],
            "split": f"sorted calibration/*.jpg, every {HOLDOUT_EVERY}rd held out",
        }


def read_labels(tsv: Path, column: str | int = 1) -> list[tuple[Path, int]]:
    """``(path, class index)`` rows of a TSV with a header; paths relative to the TSV; blanks and negatives skipped."""
    rows = []
    with open(tsv, newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        col = header.index(column) if isinstance(column, str) else column
        for row in reader:
            if len(row) > col and row[col].strip().lstrip("-").isdigit() and int(row[col]) >= 0:
                rows.append((tsv.parent / row[0], int(row[col])))
    return rows


def photo_sets(images: Path | None = None) -> PhotoSets:
    """The split of the shared photos used by the int8 build."""
    images = Path(images) if images else shared_images_dir()
    cal_dir = images / "calibration"
    photos = sorted(p for p in cal_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    holdout = tuple(p for i, p in enumerate(photos) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1)
    calib = tuple(p for p in photos if p not in holdout)
    labelled = read_labels(images / "labels.tsv") + read_labels(cal_dir / "labels.tsv", "imagenet_index")
    video_dir = images.parent / "video"
    videos = tuple(sorted(p for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)) if video_dir.is_dir() else ()
    return PhotoSets(calib, holdout, tuple(labelled), videos)


def batch(paths: list[Path] | tuple[Path, ...], config: PreprocessConfig) -> np.ndarray:
    """Preprocessed ``(N, 3, S, S)`` float32 inputs, exactly as the runtime prepares them."""
    return np.concatenate([preprocess(load_image(p), config) for p in paths])
