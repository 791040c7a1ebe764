"""Real photos for calibration, the held-out agreement gate and labelled accuracy.

Every third photo of ``images/calibration/`` (sorted by name) calibrates; the gate decides on everything
else: the other calibration-folder photos, ``images/holdout/`` (870 photos from other sources) and the shared
photos of ``images/``, 1,033 in the project's data. Labelled accuracy is measured on the gate's photos
that have an ImageNet label, never on a calibration photo.
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

CALIBRATE_EVERY = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


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
            "split": f"sorted calibration/*.jpg, every {CALIBRATE_EVERY}rd calibrates; the rest, holdout/ and the shared photos are held out",
        }


    def labelled_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The positions in ``holdout`` of the labelled photos, and their classes."""
        where = {p: i for i, p in enumerate(self.holdout)}
        return np.asarray([where[p] for p, _ in self.labelled], dtype=np.int64), np.asarray([c for _, c in self.labelled], dtype=np.int64)


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


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def photo_sets(images: Path | None = None) -> PhotoSets:
    """The split of the shared photos used by the int8 build (see the module docstring)."""
    images = Path(images) if images else shared_images_dir()
    cal_dir, holdout_dir = images / "calibration", images / "holdout"
    in_folder = _photos(cal_dir)
    calib = tuple(in_folder[CALIBRATE_EVERY - 1 :: CALIBRATE_EVERY])
    holdout = tuple(p for p in in_folder if p not in calib) + tuple(_photos(holdout_dir)) + tuple(_photos(images))
    labelled = read_labels(images / "labels.tsv") + read_labels(cal_dir / "labels.tsv", "imagenet_index")
    if (holdout_dir / "labels.tsv").is_file():
        labelled += read_labels(holdout_dir / "labels.tsv", "imagenet_index")
    held = set(holdout)
    video_dir = images.parent / "video"
    videos = tuple(sorted(p for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)) if video_dir.is_dir() else ()
    return PhotoSets(calib, holdout, tuple((p, c) for p, c in labelled if p in held), videos)


def batch(paths: list[Path] | tuple[Path, ...], config: PreprocessConfig) -> np.ndarray:
    """Preprocessed ``(N, 3, S, S)`` float32 inputs, exactly as the runtime prepares them."""
    return np.concatenate([preprocess(load_image(p), config) for p in paths])
