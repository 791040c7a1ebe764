"""Distil EfficientNet-Lite2 into EfficientNet-Lite0 on unlabelled photos and video frames.

from-teacher -> views of unlabelled images -> teacher soft targets (cached) -> soft-target KL into
the student (BatchNorm statistics frozen: a few hundred images cannot re-estimate them) -> export
and int8 (the vision engineer's :mod:`edge_sdk.quantize.vision`) -> measure -> ``distilled`` and
``distilled-int8`` variants of the student's bundle.

The labelled photos are held out: they are never trained on, and top-1 agreement with the teacher
and accuracy are measured on them before and after.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.bundle_writer import recipe_hash
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.distill.training.loop import Schedule, cached, resume_key, seed_everything, train
from edge_sdk.quantize.sampling import epoch_order
from edge_sdk.quantize.vision.images import (
    LabelledPhoto,
    collect_unlabelled,
    load_rgb,
    mixed_views,
    read_photo_labels,
    render_view,
    views,
)

log = logging.getLogger(__name__)


HEAD = ("conv_head", "classifier")  # the layers after the backbone that may train
STAGE = re.compile(r"blocks\.(\d+)")  # or a backbone stage, e.g. ``blocks.5``: it and every later stage run per step


@dataclass(frozen=True)
class VisionDistillConfig:
    """What to distil and how.

    Attributes:
        teacher: Teacher architecture with packaged weights (``efficientnet-lite2`` or ``-lite1``), or several
            joined by ``+`` whose mean logits teach (an ensemble: on the 77 labelled photos the mean logits
            of Lite0+Lite1+Lite2 are right on 79.2 % against 71.4 % for Lite2 alone).
        student: Student architecture (``efficientnet-lite0``); starts from its packaged weights.
        bundle: Bundle that receives the variants (the student's own bundle).
        data: Folders/files of photos and videos; empty means the shared ``images/calibration`` and ``video``.
        views_per_image: Crops per image (the first is the centre crop), teacher targets cached per view.
        mixup_views: Extra views, each two crops of different images blended (:func:`mixed_views`).
        video_every_n: Keep every n-th video frame (neighbouring frames are near-duplicates).
        temperature: Softmax temperature of the KL loss (loss scaled by T^2, as Hinton et al.).
        anchor_weight: L2-SP penalty (sum of squared change of the trained weights from Lite0's), which
            keeps a head trained on a few hundred photos from drifting off ImageNet (a first run
            without it lost 6.5 points of labelled top-1 while gaining agreement).
        trained: The layers that train (``conv_head``, ``classifier``, and backbone stages such as
            ``blocks.5``), on cached outputs of the frozen stages before the first trained one: on a
            shared 2-core CPU a full backward pass costs ~20 s per batch of 16, which leaves no room
            for enough steps. The default, the last stage (one block, 7x7) and ``conv_head``, fits the
            teacher on held-out photos better than ``conv_head`` alone (KL 0.42 against 0.45 with
            Lite2) and loses one labelled photo where ``conv_head`` alone lost two; adding ``blocks.5``
            overfits (KL 0.43, two lost). The classifier stays Lite0's: a few hundred unlabelled
            photos of a few scenes pull its class priors toward theirs (with it trained, labelled
            top-1 fell by 5 of 77 photos).
        max_top1_drop: Quality budget: refuse the student when its labelled top-1 falls more than this
            below Lite0's before distillation.
        gate: Apply the budget (a refused student is recorded, not shipped).
        qat_fallback: When every post-training int8 recipe fails the int8 gate, fine-tune the student for
            int8 (:mod:`edge_sdk.quantize.vision.qat`) and try once more.
        schedule: Steps, batch size, learning rate, cadence, seed.
    """

    teacher: str = "efficientnet-lite2"
    student: str = "efficientnet-lite0"
    bundle: str = "efficientnet-lite0"
    data: tuple[str, ...] = ()
    views_per_image: int = 4
    mixup_views: int = 0
    video_every_n: int = 5
    temperature: float = 2.0
    anchor_weight: float = 1e-2
    trained: tuple[str, ...] = ("blocks.6", "conv_head")
    max_top1_drop: float = 0.02
    gate: bool = True
    qat_fallback: bool = False
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=200, batch_size=64, lr=1e-4, warmup_steps=20,
                                                                 eval_every=50, checkpoint_every=50, weight_decay=0.0))

    def __post_init__(self) -> None:
        if self.views_per_image < 1:
            raise InvalidInputError(f"views_per_image must be >= 1, got {self.views_per_image}")
        if self.mixup_views < 0:
            raise InvalidInputError(f"mixup_views must be >= 0, got {self.mixup_views}")
        if self.video_every_n < 1:
            raise InvalidInputError(f"video_every_n must be >= 1, got {self.video_every_n}")
        if not self.temperature > 0:
            raise InvalidInputError(f"temperature must be > 0, got {self.temperature}")
        if not self.trained or not all(name in HEAD or STAGE.fullmatch(name) for name in self.trained):
            raise InvalidInputError(f"trained must name some of {HEAD} or backbone stages 'blocks.N', got {self.trained}")
        from edge_sdk.quantize.vision.weights import LITE_PACKAGES

        unknown = [a for a in teacher_members(self.teacher) if a not in LITE_PACKAGES]
        if unknown:
            raise InvalidInputError(f"teacher {self.teacher!r}: no packaged weights for {unknown}; packaged: {sorted(LITE_PACKAGES)}")


def teacher_members(teacher: str) -> tuple[str, ...]:
    """Architectures of a teacher: one name, or several joined by ``+`` (an ensemble of their mean logits)."""
    return tuple(teacher.split("+"))


class FrozenBatchNorm(nn.Module):
    """Wraps a network so ``train()`` never switches its BatchNorm layers out of eval mode."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def train(self, mode: bool = True) -> FrozenBatchNorm:
        super().train(mode)
        for m in self.net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton soft-target loss: T^2 * KL(softmax(teacher/T) || softmax(student/T)), batch mean."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits / t, -1),
                    log_target=True, reduction="batchmean") * t * t


def split_stage(model: nn.Module, trained: tuple[str, ...]) -> int:
    """Index of the first backbone stage that trains (the number of stages when none does).

    Raises:
        InvalidInputError: ``trained`` names a stage the network does not have.
    """
    n = len(model.blocks)
    stages = [int(m.group(1)) for m in map(STAGE.fullmatch, trained) if m]
    if any(i >= n for i in stages):
        raise InvalidInputError(f"trained {trained}: the student has backbone stages blocks.0 to blocks.{n - 1}")
    return min(stages, default=n)


def backbone(model: nn.Module, x: torch.Tensor, split: int) -> torch.Tensor:
    """EfficientNet-Lite stem and its stages before ``split`` (the frozen part of the student)."""
    return model.blocks[:split](F.relu6(model.bn1(model.conv_stem(x))))


def head(model: nn.Module, features: torch.Tensor, split: int) -> torch.Tensor:
    """The part that runs per step: stages from ``split``, 1x1 conv head, (frozen) BatchNorm, ReLU6,
    global pool, classifier."""
    x = model.blocks[split:](features)
    return model.classifier(F.relu6(model.bn2(model.conv_head(x))).mean(dim=(2, 3)))


def _spec(arch: str):
    from edge_sdk.quantize.vision.models import ARCHS

    return ARCHS[arch]


@torch.no_grad()
def logits_of(model, images: list[np.ndarray], boxes: list[tuple], arch: str, batch_size: int = 16,
              progress: str | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Outputs of ``model`` (a module or function, on ``device``) on views (see :func:`render_view`) rendered
    for ``arch``; returned on the CPU."""
    from tqdm import tqdm

    spec = _spec(arch)
    if isinstance(model, nn.Module):
        model.eval()
    out = []
    for start in tqdm(range(0, len(boxes), batch_size), desc=progress, disable=progress is None, leave=False):
        chunk = boxes[start : start + batch_size]
        x = torch.stack([render_view(images, view, spec.preprocess) for view in chunk])
        out.append(model(x.to(device)).float().cpu())
    return torch.cat(out)


def held_out_scores(student_logits: torch.Tensor, teacher_logits: torch.Tensor, photos: list[LabelledPhoto]) -> dict:
    """Top-1 agreement with the teacher and top-1 / top-5-acceptable accuracy of both, on held-out photos."""
    labels = torch.tensor([p.label for p in photos])
    s1, t1 = student_logits.argmax(-1), teacher_logits.argmax(-1)
    s5 = student_logits.topk(5, -1).indices
    return {
        "agreement_top1": round(float((s1 == t1).float().mean()), 4),
        "student_top1": round(float((s1 == labels).float().mean()), 4),
        "teacher_top1": round(float((t1 == labels).float().mean()), 4),
        "student_top5": round(float(np.mean([p.label in s5[i].tolist() for i, p in enumerate(photos)])), 4),
        "held_out_photos": len(photos),
    }


def _training_views(cfg: VisionDistillConfig, images: list[np.ndarray]) -> list[tuple]:
    """The crops the student trains on: ``cfg.views_per_image`` per image, then the mixup views."""
    shapes = [im.shape[:2] for im in images]
    train_views = views(len(images), shapes, cfg.views_per_image, cfg.schedule.seed)
    train_views += mixed_views(train_views, cfg.mixup_views, cfg.schedule.seed) if cfg.mixup_views else []
    return train_views


def _vision_recipe(cfg: VisionDistillConfig, data: list[Path], images: list[np.ndarray], train_views: list[tuple],
                   photos: list[LabelledPhoto]) -> dict:
    """The recipe written next to the variant: student, teacher, settings, data and objective."""
    return {
        "kind": "distillation", "student": cfg.student, "teacher": cfg.teacher, "config": asdict(cfg),
        "data": {"sources": [str(p) for p in data], "images_and_frames": len(images), "views": len(train_views),
                 "held_out": [str(p.path.name) for p in photos], "labels_used_for_training": False},
        "objective": f"KL(teacher || student) of softmax at T={cfg.temperature}, x T^2, + {cfg.anchor_weight} x L2-SP; BatchNorm frozen",
        "trained": f"{', '.join(cfg.trained)} on cached features of the frozen backbone",
    }


def _teacher_targets(cfg: VisionDistillConfig, workdir: Path, engine: Engine, views_key: str, images: list[np.ndarray],
                     train_views: list[tuple], held_images: list[np.ndarray], held_views: list[tuple]) -> dict:
    """The teacher's logits on the training views and held-out photos (an ensemble's mean), cached in ``workdir``."""
    from edge_sdk.quantize.vision.weights import load_lite

    def teach(arch: str) -> dict:
        teacher = load_lite(arch)[0].to(engine.device)
        log.info("teacher %s on %d views and %d held-out photos", arch, len(train_views), len(held_images))
        return {"train": logits_of(teacher, images, train_views, arch, progress=f"{arch} logits", device=engine.device),
                "held_out": logits_of(teacher, held_images, held_views, arch, device=engine.device)}
    # one cache per architecture, shared by every ensemble that has it
    members = [cached(workdir / f"teacher-logits-{recipe_hash({'teacher': arch, 'views': views_key})}.pt", partial(teach, arch))
               for arch in teacher_members(cfg.teacher)]
    return {part: torch.stack([m[part] for m in members]).mean(0) for part in ("train", "held_out")}


def _student_features(cfg: VisionDistillConfig, workdir: Path, engine: Engine, views_key: str, student: nn.Module,
                      split: int, images: list[np.ndarray], train_views: list[tuple], held_images: list[np.ndarray],
                      held_views: list[tuple]) -> dict:
    """The frozen backbone's features (fp16) of the training views and held-out photos, cached in ``workdir``."""
    def features() -> dict:
        log.info("student backbone on %d views", len(train_views))
        student.eval().to(engine.device)
        frozen = partial(backbone, student, split=split)
        out = {"train": logits_of(frozen, images, train_views, cfg.student, progress="student features", device=engine.device).half(),
               "held_out": logits_of(frozen, held_images, held_views, cfg.student, device=engine.device).half()}
        student.to("cpu")
        return out
    feats_key = {"student": cfg.student, "views": views_key, **({"split": split} if split < len(student.blocks) else {})}
    return cached(workdir / f"student-features-{recipe_hash(feats_key)}.pt", features)


def _unfreeze(student: nn.Module, trained: tuple[str, ...]) -> list[nn.Parameter]:
    """Freeze ``student`` but the submodules named in ``trained``; return their parameters."""
    for p in student.parameters():
        p.requires_grad_(False)
    params = [p for name in trained for p in student.get_submodule(name).parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def train_vision_student(cfg: VisionDistillConfig, workdir: Path, data_root: Path | None = None,
                         engine: Engine | None = None) -> tuple[nn.Module, dict]:
    """Train the student; return it (unwrapped, eval mode, on the CPU) and the training report.

    Args:
        cfg: The run's configuration.
        workdir: Checkpoints, metrics log, cached teacher targets.
        data_root: The shared data folder (labels, and default unlabelled data when ``cfg.data`` is empty).
        engine: Device and processes (default: this CPU). Process 0 fills the caches, the others read them.
    """
    from edge_sdk.quantize.vision.weights import load_lite

    workdir = Path(workdir)
    engine = engine or Engine.create("cpu")
    seed_everything(cfg.schedule.seed)
    student, _ = load_lite(cfg.student)
    split = split_stage(student, cfg.trained)
    root = Path(data_root or ".")
    photos = read_photo_labels(root / "images")
    data = [Path(p) for p in cfg.data] or [root / "images" / "calibration", root / "video"]
    images, names = collect_unlabelled(data, {p.path for p in photos}, cfg.video_every_n)
    if not images:
        raise InvalidInputError(f"no photos or video frames found in {[str(p) for p in data]}")
    train_views = _training_views(cfg, images)
    held_images = [load_rgb(p.path) for p in photos]
    held_views = [(i, None, False) for i in range(len(photos))]  # the runtime's preprocessing of each photo
    recipe = _vision_recipe(cfg, data, images, train_views, photos)
    rhash = resume_key(recipe, ("bundle", "max_top1_drop", "gate", "qat_fallback"))
    # caches keyed by what they depend on only, so changing training settings reuses them
    views_key = recipe_hash({"names": names, "views": train_views, "held": recipe["data"]["held_out"]})
    with engine.main_first():  # one process computes the caches, the others read them
        targets = _teacher_targets(cfg, workdir, engine, views_key, images, train_views, held_images, held_views)
        feats = _student_features(cfg, workdir, engine, views_key, student, split, images, train_views, held_images, held_views)
    params = _unfreeze(student, cfg.trained)
    wrapped = FrozenBatchNorm(student).to(engine.device)
    start = [p.detach().clone() for p in params]
    train_x, train_t, held_x, held_t = engine.put((feats["train"], targets["train"], feats["held_out"], targets["held_out"]))

    def loss_of_batch(step: int) -> torch.Tensor:
        idx = engine.shard(epoch_order(len(train_views), step, cfg.schedule.batch_size, cfg.schedule.seed))
        anchor = sum(((p - p0) ** 2).sum() for p, p0 in zip(params, start, strict=True))
        return kd_loss(head(student, train_x[idx].float(), split), train_t[idx], cfg.temperature) + cfg.anchor_weight * anchor

    def evaluate() -> dict:
        logits = torch.cat([head(student, x.float(), split) for x in held_x.split(64)])
        held = held_out_scores(logits.cpu(), targets["held_out"], photos)
        return {**held, "held_out_kl": round(float(kd_loss(logits, held_t, 1.0)), 4)}

    run = train(wrapped, loss_of_batch, evaluate, cfg.schedule, workdir, rhash, desc="distill vision", params=params, engine=engine)
    report = {"recipe": recipe, "training": run.summary()}
    return student.eval(), report
