"""Unlabelled training views and labelled held-out photos for the vision student.

A *view* is a crop box on a source image (a photo or a video frame) plus a horizontal flip. The
same box is resized to the teacher's and the student's input sizes, so both see the same pixels at
their own resolution. View 0 of an image is the whole image as the runtime prepares it (box None:
resize, centre crop); the others are random resized crops drawn from a seeded generator, so teacher
targets can be computed once and cached. Every view goes through the runtime's own resampling
(:func:`edge_sdk.vision.preprocess.preprocess`): views cropped first and resized second sit a sub-pixel
shift away from what the runtime feeds, enough to change Lite0's answer on 5 of the 77 labelled photos.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from edge_sdk.errors import BundleNotFoundError
from edge_sdk.vision.preprocess import PreprocessConfig, preprocess

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass(frozen=True)
class LabelledPhoto:
    """A held-out photo: path, ImageNet-1k class index and acceptable top-5 indices."""

    path: Path
    label: int
    acceptable: tuple[int, ...]


def read_photo_labels(image_root: Path) -> list[LabelledPhoto]:
    """Labelled photos under ``image_root``: ``labels.tsv`` (and ``calibration/labels.tsv``).

    Rows with class -1 (no ImageNet class) or without an index are skipped.
    """
    out = []
    for tsv in (image_root / "labels.tsv", image_root / "calibration" / "labels.tsv"):
        if not tsv.is_file():
            continue
        with open(tsv, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                raw = row.get("class_index") or row.get("imagenet_index") or ""
                if not raw.strip().lstrip("-").isdigit() or int(raw) < 0:
                    continue
                extra = row.get("acceptable_top5_class_indices") or ""
                ok = tuple(int(x) for x in extra.split(",") if x.strip().isdigit()) or (int(raw),)
                out.append(LabelledPhoto(tsv.parent / row["filename"], int(raw), ok))
    return out


def load_rgb(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array (H, W, 3)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def video_frames(path: Path, every_n: int) -> list[np.ndarray]:
    """Every ``every_n``-th frame of a video file, RGB uint8 (OpenCV decodes)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, i = [], 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every_n == 0:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    return frames


def collect_unlabelled(paths: list[Path], exclude: set[Path], video_every_n: int) -> tuple[list[np.ndarray], list[str]]:
    """Photos and video frames under ``paths``, minus the held-out photos in ``exclude``.

    Raises:
        BundleNotFoundError: A path does not exist.
    """
    images, names = [], []
    excluded = {p.resolve() for p in exclude}
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise BundleNotFoundError(f"image data {root} does not exist; give folders of photos or videos with --data")
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.resolve() in excluded or not f.is_file():
                continue
            if f.suffix.lower() in IMAGE_SUFFIXES:
                images.append(load_rgb(f))
                names.append(str(f))
            elif f.suffix.lower() in VIDEO_SUFFIXES:
                frames = video_frames(f, video_every_n)
                images += frames
                names += [f"{f}#frame{i * video_every_n}" for i in range(len(frames))]
    return images, names


def random_box(h: int, w: int, rng: np.random.Generator, scale: tuple[float, float] = (0.3, 1.0)) -> tuple[int, int, int, int]:
    """A random square-ish crop covering ``scale`` of the image area (RandomResizedCrop-like)."""
    area = h * w * rng.uniform(*scale)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = int(min(h, round(np.sqrt(area / ratio))))
    cw = int(min(w, round(np.sqrt(area * ratio))))
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw


def render(image: np.ndarray, box: tuple[int, int, int, int] | None, flip: bool, config: PreprocessConfig) -> torch.Tensor:
    """The runtime's preprocessing of the whole RGB ``image`` (box None) or of its crop ``box`` (top, left,
    height, width; its shorter side resized to the input size, then centre-cropped), flipped; CHW float."""
    if box is not None:
        top, left, ch, cw = box
        image, config = np.ascontiguousarray(image[top : top + ch, left : left + cw]), replace(config, resize_size=config.image_size)
    x = torch.from_numpy(preprocess(image, config, "rgb")[0])
    return x.flip(-1) if flip else x


def views(n_images: int, shapes: list[tuple[int, int]], per_image: int, seed: int) -> list[tuple]:
    """``per_image`` views of each image: (image index, box, flip); view 0 is the whole image (box None)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        h, w = shapes[i]
        out.append((i, None, False))
        for _ in range(per_image - 1):
            out.append((i, random_box(h, w, rng), bool(rng.integers(0, 2))))
    return out


def mixed_views(plain: list[tuple], count: int, seed: int) -> list[tuple]:
    """``count`` mixup views ``(view a, view b, weight of a)``: two of ``plain``'s views of different images
    blended with a weight drawn uniformly from [0, 1] ("function matching", Beyer et al. 2022: the teacher
    labels inputs between the photos, which a few hundred photos alone never show the student)."""
    rng = np.random.default_rng((seed, 1))
    out = []
    while len(out) < count:
        a, b = (plain[int(k)] for k in rng.integers(0, len(plain), 2))
        if a[0] != b[0]:
            out.append((a, b, round(float(rng.uniform(0, 1)), 3)))
    return out


def render_view(images: list[np.ndarray], view: tuple, config: PreprocessConfig) -> torch.Tensor:
    """One view rendered for a network: ``(image index, box, flip)`` or a mixup ``(view a, view b, weight of a)``."""
    if isinstance(view[0], int):
        i, box, flip = view
        return render(images[i], box, flip, config)
    a, b, weight = view  # normalisation is affine, so blending normalised crops blends the photos
    return weight * render_view(images, a, config) + (1 - weight) * render_view(images, b, config)
