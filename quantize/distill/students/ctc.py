"""Train a DeepSpeech-style streaming CTC student (CNN + GRU + CTC) on the Whisper teacher's transcripts.

The student hears the same clips as the Whisper student (:func:`edge_sdk.quantize.distill.students.speech.gather_clips`:
real clips not held out, their noisy copies, espeak-ng and flite speech), labelled by the runtime's own
fp32 Whisper transcriber with the same WER filter, normalised to the character vocabulary by
:mod:`edge_sdk.quantize.distill.students.ctc_text`. Features are the runtime's (:class:`edge_sdk.speech.ctc.FeatureStream`),
with the zero left context the runtime starts an utterance with, so training and streaming see the same
numbers. The model (:mod:`edge_sdk.quantize.speech.ctc`) starts from random weights: with about an hour of audio
and a CPU, expect a high WER; the report states it, beside the teacher's on the same held-out clips.
Shipping (export, WER, timing, bundle) is in :mod:`edge_sdk.quantize.distill.ship.ctc_ship`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.bundle_writer import recipe_hash
from edge_sdk.quantize.distill.data.audio_corpus import Clip, validation_indices
from edge_sdk.quantize.distill.data.pseudo_labels import pseudo_labels
from edge_sdk.quantize.distill.students.ctc_text import encode, normalize_text
from edge_sdk.quantize.distill.students.speech import (
    DATA_FIELDS,
    SpeechDistillConfig,
    gather_clips,
    held_out_rows,
    training_sentences,
)
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.distill.training.loop import Schedule, bucketed_batch, cached, resume_key, seed_everything, train
from edge_sdk.quantize.speech.ctc import CTCConfig, DeepSpeechCTC, build_model, initial_state

log = logging.getLogger(__name__)

SILENCE = float(np.log(1e-6))  # the runtime's feature value of digital silence


@dataclass(frozen=True)
class CTCDistillConfig:
    """What to train and how.

    Attributes:
        data: The Whisper student's data settings; only :data:`DATA_FIELDS` and ``schedule.seed`` (which
            seeds the clips) are used, so by default both students hear the same clips.
        model: Architecture of the CTC student.
        max_clips: Label at most this many clips, spread over the list (0: all); for quick runs.
        freq_masks: SpecAugment frequency masks per training example, each up to ``freq_mask_bins`` mel bins.
        freq_mask_bins: Widest frequency mask.
        time_masks: SpecAugment time masks per training example, each up to ``time_mask_frames`` frames.
        time_mask_frames: Widest time mask (10 ms frames).
        bundle_name: Store name of the shipped ``ctc`` bundle.
        schedule: Steps, batch size, learning rate, cadence, seed (sized for about 20 minutes on 2 CPU cores).
    """

    data: SpeechDistillConfig = field(default_factory=SpeechDistillConfig)
    model: CTCConfig = field(default_factory=CTCConfig)
    max_clips: int = 0
    freq_masks: int = 2
    freq_mask_bins: int = 10
    time_masks: int = 2
    time_mask_frames: int = 20
    bundle_name: str = "deepspeech-ctc-student"
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=1200, batch_size=16, lr=1e-3, warmup_steps=60,
                                                                 eval_every=100, checkpoint_every=50, grad_clip=5.0))

    def __post_init__(self) -> None:
        counts = {k: getattr(self, k) for k in ("max_clips", "freq_masks", "freq_mask_bins", "time_masks", "time_mask_frames")}
        if any(v < 0 for v in counts.values()):
            raise InvalidInputError(f"max_clips and the SpecAugment settings must be >= 0, got {counts}")
        if self.freq_mask_bins >= self.model.n_mels:
            raise InvalidInputError(f"freq_mask_bins={self.freq_mask_bins} must be below n_mels={self.model.n_mels}")
        if not self.bundle_name or "/" in self.bundle_name or self.bundle_name.startswith("."):
            raise InvalidInputError(f"bundle_name {self.bundle_name!r} must be a plain folder name, e.g. 'deepspeech-ctc-student'")


@dataclass
class Example:
    """A labelled utterance: runtime log-mel features ``(frames, n_mels)``, label ids, text and origin."""

    features: torch.Tensor
    labels: list[int]
    text: str
    origin: str


def features_of(audio: np.ndarray, n_mels: int) -> np.ndarray:
    """Log-mel frames of a whole utterance, computed by the runtime's own feature code."""
    from edge_sdk.speech.ctc import FeatureConfig, FeatureStream

    return FeatureStream(FeatureConfig(n_mels=n_mels)).accept(audio)


def label_clips(cfg: CTCDistillConfig, clips: list[Clip]) -> tuple[list[Example], dict]:
    """Pseudo-label ``clips`` with the teacher's fp32 variant, drop those far from their reference, featurise."""
    t0 = time.perf_counter()
    labelled, dropped = pseudo_labels(cfg.data.teacher, clips, cfg.data.max_pseudo_wer)
    examples = []
    for clip, heard in labelled:
        text = normalize_text(heard)
        if not text:
            dropped += 1
            continue
        feats = torch.from_numpy(features_of(clip.audio, cfg.model.n_mels))
        examples.append(Example(feats, encode(text, cfg.model.vocab), text, clip.origin))
    seconds = time.perf_counter() - t0
    frames = sum(e.features.shape[0] for e in examples)
    return examples, {"clips": len(clips), "examples": len(examples), "dropped_by_pseudo_label_filter": dropped,
                      "audio_minutes": round(frames / 100 / 60, 1), "label_s_per_clip": round(seconds / max(1, len(clips)), 3)}


def load_examples(cfg: CTCDistillConfig, workdir: Path, data_root: Path) -> tuple[list[Example], dict]:
    """The labelled examples, from ``workdir``'s cache when one was written for the same data settings."""
    key = recipe_hash({**{k: getattr(cfg.data, k) for k in DATA_FIELDS}, "seed": cfg.data.schedule.seed, "max_clips": cfg.max_clips,
                       "n_mels": cfg.model.n_mels, "vocab": cfg.model.vocab, "normaliser": 1})

    def build() -> dict:
        clips, _ = gather_clips(cfg.data, data_root, training_sentences(data_root))
        if cfg.max_clips and len(clips) > cfg.max_clips:
            clips = clips[:: -(-len(clips) // cfg.max_clips)]  # spread over real, noisy and synthetic clips
        log.info("ctc: pseudo-labelling %d clips", len(clips))
        examples, stats = label_clips(cfg, clips)
        return {"features": [e.features for e in examples], "labels": [e.labels for e in examples],
                "texts": [e.text for e in examples], "origins": [e.origin for e in examples], "stats": stats}

    saved = cached(workdir / f"ctc-examples-{key}.pt", build)
    rows = zip(saved["features"], saved["labels"], saved["texts"], saved["origins"], strict=True)
    return [Example(*row) for row in rows], saved["stats"]


def mask_features(feats: torch.Tensor, cfg: CTCDistillConfig, gen: torch.Generator) -> torch.Tensor:
    """A copy of ``feats`` ``(frames, n_mels)`` with SpecAugment frequency and time masks (set to its mean)."""
    out, fill = feats.clone(), float(feats.mean())

    def span(widest: int, size: int) -> slice:
        width = int(torch.randint(0, widest + 1, (), generator=gen))
        start = int(torch.randint(0, size - width + 1, (), generator=gen))
        return slice(start, start + width)

    frames, bins = out.shape
    for _ in range(cfg.freq_masks):
        out[:, span(cfg.freq_mask_bins, bins)] = fill
    for _ in range(cfg.time_masks):
        out[span(min(cfg.time_mask_frames, frames // 5), frames), :] = fill  # a mask never hides more than a fifth
    return out


def collate(batch: list[Example], context_frames: int, masked=None) -> tuple[torch.Tensor, ...]:
    """``(features (B, context + T, n_mels), frames (B,), targets (B, L), target lengths (B,))``.

    The left context is zeros, as the runtime starts an utterance; padding on the right is the features of
    silence (the RNN is causal, so it only touches the batch-norm statistics).
    """
    feats = [masked(e.features) if masked else e.features for e in batch]
    frames = torch.tensor([f.shape[0] for f in feats])
    x = torch.full((len(batch), context_frames + int(frames.max()), feats[0].shape[1]), SILENCE)
    x[:, :context_frames] = 0.0
    for i, f in enumerate(feats):
        x[i, context_frames : context_frames + f.shape[0]] = f
    lengths = torch.tensor([len(e.labels) for e in batch])
    targets = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, e in enumerate(batch):
        targets[i, : len(e.labels)] = torch.tensor(e.labels)
    return x, frames, targets, lengths


def ctc_loss(model: DeepSpeechCTC, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean CTC loss (blank 0, per target length) of a collated batch, and the log-probs ``(B, T, V)``."""
    x, frames, targets, lengths = batch
    log_probs = model(x, *(s.to(x.device) for s in initial_state(model.config, x.shape[0])))[0]
    loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, frames, lengths, blank=0, zero_infinity=True)
    return loss, log_probs


def greedy_texts(log_probs: torch.Tensor, frames: torch.Tensor, vocab: tuple[str, ...]) -> list[str]:
    """Best-path transcripts, decoded by the runtime's greedy decoder."""
    from edge_sdk.speech.ctc import greedy_decode

    return ["".join(vocab[i] for i in greedy_decode(lp[:n].numpy())).strip() for lp, n in zip(log_probs, frames.tolist(), strict=True)]


def split_validation(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """``(train, validation)``: every 20th synthetic example (at most 32) is never trained on."""
    val_idx = validation_indices([e.origin for e in examples], at_most=32)
    return [e for i, e in enumerate(examples) if i not in val_idx], [examples[i] for i in sorted(val_idx)]


def train_ctc_student(cfg: CTCDistillConfig, workdir: Path, data_root: Path,
                      engine: Engine | None = None) -> tuple[DeepSpeechCTC, dict, list]:
    """Label the data (process 0 first, the others read its cache), train the student on ``engine`` (default this
    CPU); return it (eval mode, on the CPU), the training report and the held-out rows."""
    import jiwer

    workdir = Path(workdir)
    seed_everything(cfg.schedule.seed)
    manifest = data_root / "speech" / "transcripts.tsv"
    held = held_out_rows(cfg.data, data_root)
    config = {**asdict(cfg), "data": {**{k: getattr(cfg.data, k) for k in DATA_FIELDS}, "seed": cfg.data.schedule.seed}}
    recipe = {"kind": "distillation", "student": "DeepSpeech-style causal CNN + unidirectional RNN + CTC, random init",
              "teacher": {"bundle": cfg.data.teacher, "pseudo_labels": "runtime Transcriber, variant fp32, normalised to "
                          "the CTC vocabulary (lowercase a-z, apostrophe, space; numbers spelled out)"},
              "config": config, "features": "edge_sdk.speech.ctc.FeatureStream (the runtime's), zero left context",
              "data": {"real": str(manifest), "extra": list(cfg.data.data), "held_out": sorted(p.name for p, _ in held),
                       "synthetic": f"{cfg.data.synthetic_clips} utterances by {'/'.join(cfg.data.tts_engines)}, as the Whisper student's"},
              "objective": "CTC (blank 0, zero_infinity) on the teacher's transcripts, SpecAugment masks"}
    engine = engine or Engine.create("cpu")
    with engine.main_first():
        examples, data_stats = load_examples(cfg, workdir, data_root)
    train_ex, val = split_validation(examples)
    model = build_model(cfg.model, seed=cfg.schedule.seed)
    ctx = cfg.model.context_frames
    lengths = [e.features.shape[0] for e in train_ex]

    def loss_of_batch(step: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(cfg.schedule.seed * 1_000_003 + step)  # masks depend on the step alone
        batch = [train_ex[i] for i in bucketed_batch(lengths, step, cfg.schedule.batch_size, cfg.schedule.seed)]
        return ctc_loss(model, engine.put(collate(engine.shard(batch), ctx, lambda f: mask_features(f, cfg, gen))))[0]

    def evaluate() -> dict:
        losses, refs, hyps = [], [], []
        for i in range(0, len(val), 16):
            batch = collate(val[i : i + 16], ctx)
            loss, log_probs = ctc_loss(model, engine.put(batch))
            losses.append(float(loss) * len(val[i : i + 16]))
            refs += [e.text for e in val[i : i + 16]]
            hyps += greedy_texts(log_probs.cpu(), batch[1], cfg.model.vocab)
        return {"val_loss": sum(losses) / len(val), "val_cer": float(jiwer.cer(refs, hyps)), "val_examples": len(val)}

    run = train(model, loss_of_batch, evaluate, cfg.schedule, workdir, resume_key(recipe, ("bundle_name",)), desc="distill ctc",
                engine=engine)
    report = {"recipe": recipe, "data": {**data_stats, "train_examples": len(train_ex), "val_examples": len(val)},
              "training": run.summary()}
    return model.eval(), report, held
