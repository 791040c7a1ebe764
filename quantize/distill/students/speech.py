"""Distil Whisper tiny.en into a student with the teacher's frozen encoder and 3 of its 4 decoder layers.

distil-whisper style: the student's decoder keeps teacher layers ``keep_layers`` (the first and last, and layer 2),
the encoder and the token embeddings stay frozen, and the decoder is trained on the teacher's
pseudo-labels (cross-entropy) and the teacher's logits on them (KL), on real clips that are not
held out (the shared ones, and packaged recordings: :mod:`edge_sdk.quantize.distill.data.speech_data`), their
reverberated, noisy, speed-perturbed copies, and espeak-ng and flite speech with car/kitchen acoustics.
Pseudo-labels and their WER filter are :mod:`edge_sdk.quantize.distill.data.pseudo_labels`; the teacher puts segment
timestamps back into them (:mod:`edge_sdk.quantize.distill.students.speech_timestamps`), as the runtime decodes with
timestamps. Once the decoder has fewer layers, its 51,864-token output projection is most of a step,
so the student also projects onto a smaller vocabulary (:mod:`edge_sdk.quantize.speech.vocab_trim`).

Export and int8 use the speech engineer's :mod:`edge_sdk.quantize.speech`; WER and speed are measured
with the runtime's transcriber on held-out shared clips, teacher and student side by side.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_sdk.errors import InvalidInputError, QualityGateError
from edge_sdk.quantize.bundle_writer import add_variant, recipe_hash, scratch_copy
from edge_sdk.quantize.distill.data.audio_corpus import (
    TTS_ENGINES,
    Clip,
    augment,
    load_clip,
    long_form_clips,
    speed_perturb,
    split_manifest,
    synthetic_clips,
    validation_indices,
    write_manifest,
)
from edge_sdk.quantize.distill.data.pseudo_labels import pseudo_labels
from edge_sdk.quantize.distill.ship.refusal import write_or_refuse
from edge_sdk.quantize.distill.students.speech_timestamps import with_timestamps
from edge_sdk.quantize.distill.students.whisper_decoder import EOT, NO_TIMESTAMPS, SOT, decoder_logits
from edge_sdk.quantize.distill.training.engine import Engine
from edge_sdk.quantize.distill.training.loop import (
    CHECKPOINT,
    Schedule,
    bucketed_batch,
    cached,
    resume_key,
    seed_everything,
    train,
)
from edge_sdk.quantize.speech.vocab_trim import kept_tokens, output_index, respell, spelling

log = logging.getLogger(__name__)

VOCAB = 51864
WER_BUDGET_POINTS = 1.5  # a student may lose this many WER points to the fp32 teacher on held-out speech
# the settings that decide which clips are gathered, and which of them the pseudo-label filter keeps
DATA_FIELDS = ("teacher", "data", "held_out_percent", "eval_data", "real_copies", "real_speed", "long_form_passes", "synthetic_clips", "tts_engines", "max_pseudo_wer")


@dataclass(frozen=True)
class SpeechDistillConfig:
    """What to distil and how.

    Attributes:
        teacher: The speech bundle (its fp32 variant transcribes pseudo-labels; variants go into it).
        data: Extra ``transcripts.tsv`` manifests (or folders holding one) whose clips are all used for training,
            e.g. the packaged recordings :mod:`edge_sdk.quantize.distill.data.speech_data` fetches.
        keep_layers: Teacher decoder layers the student keeps. (0, 2, 3) starts closest to the teacher (validation
            loss 2.25 before training, against 2.44 for (0, 1, 3) and 4.54 for distil-whisper's first and last,
            (0, 3)). Two layers stay 7-8 word errors behind the teacher on the held-out clips (20-21 against 13).
        output_vocab_first: The student's output vocabulary: the first this many BPE tokens, every special
            and timestamp token, and (unless dropped words are spelled) every token a label uses
            (:mod:`edge_sdk.quantize.speech.vocab_trim`); 0 keeps all 51,864. With 24,000 (25,608 outputs) the 3-layer
            student makes the same held-out errors as with 32,000 (16 word errors) and its all-int8 decoder step
            is 1.53x the teacher's int8 against 1.28x.
        spell_dropped_words: Keep only the first ``output_vocab_first`` tokens (and the special ones), and write
            every label word whose token is dropped in kept pieces (``Ġrest`` + ``less``), so the student learns
            to spell a word it has no token for rather than write a kept neighbour ("rest" for "restless").
        timestamp_share: Share of the labels that carry segment timestamps, placed by the teacher
            (:mod:`edge_sdk.quantize.distill.students.speech_timestamps`); the runtime decodes with timestamps. The rest keep
            ``<|notimestamps|>``.
        held_out_percent: Share of the shared clips held out for evaluation (by a hash of the path).
        eval_data: More manifests (or folders holding one) held out for evaluation beside those shared clips;
            never trained on (e.g. the packaged LibriVox, pocketsphinx and MFA recordings).
        real_copies: Reverberated, noisy copies of each real training clip, next to the clean one.
        real_speed: Range of the speed factor each copy is played at (tempo and pitch).
        long_form_passes: Passes over the real training clips joining neighbours into 10-28 s windows
            (:func:`edge_sdk.quantize.distill.data.audio_corpus.long_form_clips`), each labelled by the teacher; half of
            them reverberated and noisy.
        synthetic_clips: Synthetic utterances to generate.
        tts_engines: Speech synthesizers, taking turns (:data:`edge_sdk.quantize.distill.data.audio_corpus.TTS_ENGINES`).
        max_pseudo_wer: Drop a clip when the teacher's transcript is further than this from its reference.
        kl_weight: Weight of KL(teacher || student) next to the pseudo-label cross-entropy.
        temperature: Softmax temperature of the KL term.
        dropout: Dropout on the student decoder layers' residual branches and MLP activations while training
            (Whisper's own is 0; the student otherwise fits its ~2,000 examples far closer than held-out ones).
        window_margin_s: Encoder window = clip seconds + this (as the runtime's transcriber). The variant carries it,
            so the runtime pads its windows as the training clips were (the teacher's bundle measured 3 s for itself).
        gate: Refuse (record, do not ship) a student whose held-out WER exceeds the teacher's by > 1.5 points.
        init_from: A previous speech run's work folder: each kept layer it trained (matched by teacher layer) and
            its final norm replace the teacher's, e.g. a 2-layer student cut from a trained 3-layer one.
        schedule: Steps, batch size, learning rate, cadence, seed.
    """

    teacher: str = "whisper-tiny.en"
    data: tuple[str, ...] = ()
    keep_layers: tuple[int, ...] = (0, 2, 3)
    output_vocab_first: int = 24000
    spell_dropped_words: bool = True
    timestamp_share: float = 1.0
    held_out_percent: int = 50
    eval_data: tuple[str, ...] = ()
    real_copies: int = 2
    real_speed: tuple[float, float] = (0.9, 1.1)
    long_form_passes: int = 0
    synthetic_clips: int = 500
    tts_engines: tuple[str, ...] = TTS_ENGINES
    max_pseudo_wer: float = 0.4
    kl_weight: float = 0.8
    temperature: float = 2.0
    dropout: float = 0.0
    window_margin_s: float = 1.0
    gate: bool = True
    init_from: str = ""
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=1500, batch_size=8, lr=1e-4, warmup_steps=20,
                                                                 eval_every=100, checkpoint_every=50))

    def __post_init__(self) -> None:
        if set(self.data) & set(self.eval_data):
            raise InvalidInputError(f"a manifest is both trained on and evaluated on: {sorted(set(self.data) & set(self.eval_data))}")
        if not 1 <= self.held_out_percent <= 90:
            raise InvalidInputError(f"held_out_percent must be in [1, 90], got {self.held_out_percent}")
        if not 0 <= self.dropout < 1:
            raise InvalidInputError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.kl_weight <= 1:
            raise InvalidInputError(f"kl_weight must be in [0, 1], got {self.kl_weight}")
        if not 0 <= self.timestamp_share <= 1:
            raise InvalidInputError(f"timestamp_share must be in [0, 1], got {self.timestamp_share}")
        if min(self.synthetic_clips, self.real_copies, self.output_vocab_first, self.long_form_passes) < 0:
            raise InvalidInputError("synthetic_clips, real_copies, output_vocab_first and long_form_passes must be >= 0, got "
                                    f"{self.synthetic_clips}, {self.real_copies}, {self.output_vocab_first}, {self.long_form_passes}")
        if not self.tts_engines or not set(self.tts_engines) <= set(TTS_ENGINES):
            raise InvalidInputError(f"tts_engines must be a non-empty subset of {TTS_ENGINES}, got {self.tts_engines}")


def encoder_states(model: nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """Whisper encoder over any even number of frames (HF's forward insists on 3000)."""
    enc = model.model.encoder
    x = F.gelu(enc.conv1(mel))
    x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
    x = x + enc.embed_positions.weight[: x.shape[1]]
    for layer in enc.layers:
        x = layer(x, attention_mask=None, layer_head_mask=None)[0]
    return enc.layer_norm(x)


def make_student(teacher: nn.Module, keep_layers: tuple[int, ...], dropout: float = 0.0) -> nn.Module:
    """A copy of ``teacher`` whose decoder keeps only ``keep_layers``; only decoder layers and final norm train,
    with ``dropout`` in the kept layers (active in training mode only).

    Raises:
        InvalidInputError: A layer index is out of range or repeated.
    """
    n = len(teacher.model.decoder.layers)
    if not keep_layers or len(set(keep_layers)) != len(keep_layers) or not all(0 <= i < n for i in keep_layers):
        raise InvalidInputError(f"keep_layers must be distinct indices in [0, {n}), got {keep_layers}")
    student = copy.deepcopy(teacher)
    student.model.decoder.layers = nn.ModuleList([copy.deepcopy(teacher.model.decoder.layers[i]) for i in keep_layers])
    student.config.decoder_layers = len(keep_layers)
    for i, layer in enumerate(student.model.decoder.layers):
        layer.self_attn.layer_idx = i
        layer.encoder_attn.layer_idx = i
        layer.dropout = layer.activation_dropout = dropout
    for p in student.parameters():
        p.requires_grad_(False)
    for p in [*student.model.decoder.layers.parameters(), *student.model.decoder.layer_norm.parameters()]:
        p.requires_grad_(True)
    return student


def load_trained_layers(student: nn.Module, folder: Path, keep_layers: tuple[int, ...]) -> list[int]:
    """Copy a previous run's trained decoder layers into ``student`` where they stand for the same teacher layer,
    and its final norm; return the teacher layers taken from it (the others stay the teacher's).

    ``folder`` holds that run's ``checkpoint.pt`` and ``report.json`` (whose recipe names its layers).

    Raises:
        InvalidInputError: No finished run there, or it shares no layer with ``keep_layers``.
    """
    import json

    folder = Path(folder)
    if not (folder / CHECKPOINT).is_file() or not (folder / "report.json").is_file():
        raise InvalidInputError(f"init_from {folder}: expected a speech run's {CHECKPOINT} and report.json there")
    previous = json.loads((folder / "report.json").read_text())["recipe"]["config"]["keep_layers"]
    state = torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)["model"]
    prefix = "model.decoder.layers."
    picked = {k: v for k, v in state.items() if k.startswith("model.decoder.layer_norm.")}
    for key, value in state.items():
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            layer = previous[int(index)]  # the teacher layer it stands for
            if layer in keep_layers:
                picked[f"{prefix}{keep_layers.index(layer)}.{rest}"] = value
    taken = [layer for layer in keep_layers if layer in previous]
    if not taken:
        raise InvalidInputError(f"init_from {folder}: its layers {previous} share none with {list(keep_layers)}")
    student.load_state_dict(picked, strict=False)
    log.info("student layers %s from %s", taken, folder)
    return taken


@dataclass
class Example:
    """A training utterance: cached encoder states (fp16), pseudo-label tokens, and where it came from."""

    states: torch.Tensor
    tokens: list[int]
    origin: str


def build_examples(cfg: SpeechDistillConfig, teacher: nn.Module, clips: list[Clip], bundle_root: Path) -> tuple[list[Example], dict]:
    """Pseudo-label ``clips`` with the runtime's fp32 teacher and cache the frozen encoder's states."""
    from tokenizers import Tokenizer

    from edge_sdk.speech.features import log_mel
    from edge_sdk.speech.transcriber import window_frames

    tokenizer = Tokenizer.from_file(str(bundle_root / "tokenizer.json"))
    labelled, dropped = pseudo_labels(cfg.teacher, clips, cfg.max_pseudo_wer)
    examples = []
    for clip, text in labelled:
        tokens = [SOT, NO_TIMESTAMPS, *tokenizer.encode(" " + text, add_special_tokens=False).ids, EOT]
        if len(tokens) > 200:
            dropped += 1
            continue
        frames = window_frames(len(clip.audio), cfg.window_margin_s)
        mel = torch.from_numpy(log_mel(clip.audio, frames))[None]
        with torch.no_grad():
            examples.append(Example(encoder_states(teacher, mel)[0].half(), tokens, clip.origin))
    return examples, {"examples": len(examples), "dropped_by_pseudo_label_filter": dropped}


def output_vocabulary(cfg: SpeechDistillConfig, examples: list[Example]) -> torch.Tensor | None:
    """The student's output tokens (None: all): the first ``output_vocab_first``, the special ones, and every
    token the labels use unless dropped words are spelled in pieces."""
    if not cfg.output_vocab_first:
        return None
    used = () if cfg.spell_dropped_words else {t for e in examples for t in e.tokens}
    return kept_tokens(cfg.output_vocab_first, used, VOCAB)


def token_strings(bundle_root: Path) -> list[str]:
    """Every token's byte-level BPE string, by id, from the bundle's ``tokenizer.json``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(bundle_root) / "tokenizer.json"))
    return [tok.id_to_token(i) or "" for i in range(tok.get_vocab_size())]


def _collate(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t_max = max(e.states.shape[0] for e in examples)
    n_max = max(len(e.tokens) for e in examples)
    states = torch.zeros(len(examples), t_max, examples[0].states.shape[1])
    tokens = torch.full((len(examples), n_max), EOT, dtype=torch.long)
    mask = torch.zeros(len(examples), n_max, dtype=torch.long)
    for i, e in enumerate(examples):
        # pad the encoder states with the states of silence would be exact; zeros after the window
        # are close enough because the runtime's window already ends in at least margin_s of padding
        states[i, : e.states.shape[0]] = e.states.float()
        tokens[i, : len(e.tokens)] = torch.tensor(e.tokens)
        mask[i, : len(e.tokens)] = 1
    return states, tokens, mask


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                 kl_weight: float, temperature: float) -> torch.Tensor:
    """``(1 - w) * CE(pseudo-labels) + w * T^2 * KL(teacher || student)`` over valid target positions."""
    v = valid.bool()
    s, t, y = student_logits[v], teacher_logits[v], targets[v]
    ce = F.cross_entropy(s, y)
    kl = F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(t / temperature, -1), log_target=True,
                  reduction="batchmean") * temperature**2
    return (1 - kl_weight) * ce + kl_weight * kl


def manifest_rows(path: str | Path) -> list[tuple[Path, str]]:
    """``(audio, reference)`` rows of a manifest, or of the ``transcripts.tsv`` in a folder."""
    from edge_sdk.speech.evaluate import read_manifest

    path = Path(path)
    return read_manifest(path / "transcripts.tsv" if path.is_dir() else path)


def held_out_rows(cfg: SpeechDistillConfig, data_root: Path) -> list[tuple[Path, str]]:
    """The evaluation clips: the shared held-out share, then every ``eval_data`` row."""
    _, held = split_manifest(data_root / "speech" / "transcripts.tsv", cfg.held_out_percent)
    return held + [row for extra in cfg.eval_data for row in manifest_rows(extra)]


def gather_clips(cfg: SpeechDistillConfig, data_root: Path, sentences: list[str]) -> tuple[list[Clip], list[tuple[Path, str]]]:
    """Training clips (real not held out, extra manifests, synthetic) and the held-out manifest rows."""
    train_rows, _ = split_manifest(data_root / "speech" / "transcripts.tsv", cfg.held_out_percent)
    for extra in cfg.data:
        train_rows += manifest_rows(extra)
    held = held_out_rows(cfg, data_root)
    clips = [load_clip(p, ref) for p, ref in train_rows]
    rng = np.random.default_rng(cfg.schedule.seed)
    for clip in list(clips):
        for k in range(cfg.real_copies):
            speed = float(rng.uniform(*cfg.real_speed))
            audio, what = augment(speed_perturb(clip.audio, speed), rng)
            clips.append(Clip(audio, clip.reference, f"{clip.origin}:x{speed:.2f}:{what}#{k}"))
    for k, window in enumerate(long_form_clips(clips[: len(train_rows)], cfg.long_form_passes, rng)):
        audio, what = augment(window.audio, rng) if k % 2 else (window.audio, "clean")
        clips.append(Clip(audio, window.reference, f"{window.origin}:{what}"))
    if cfg.synthetic_clips:
        clips += synthetic_clips(sentences, cfg.synthetic_clips, cfg.schedule.seed, engines=cfg.tts_engines)
    return clips, held


def spoken_sentences(sentences) -> list[str]:
    """The sentences a synthesizer reads well: 6-22 words, ASCII."""
    return [s for s in sentences if 6 <= len(s.split()) <= 22 and s.isascii()]


def training_sentences(data_root: Path) -> list[str]:
    from edge_sdk.quantize.distill.data.corpus import read_documents, sentence_split

    return spoken_sentences(sentence_split(read_documents([data_root / "text"])).train)


def _examples(cfg: SpeechDistillConfig, teacher: nn.Module, cache: Path, data_root: Path, bundle_root: Path) -> tuple[list[Example], dict]:
    """The pseudo-labelled training examples and their statistics, from ``cache`` when it exists."""

    def build() -> dict:
        clips, _ = gather_clips(cfg, data_root, training_sentences(data_root))
        log.info("speech: pseudo-labelling %d clips", len(clips))
        examples, stats = build_examples(cfg, teacher, clips, bundle_root)
        return {"states": [e.states for e in examples], "tokens": [e.tokens for e in examples],
                "origins": [e.origin for e in examples], "stats": stats}

    saved = cached(cache, build)
    return [Example(*row) for row in zip(saved["states"], saved["tokens"], saved["origins"], strict=True)], saved["stats"]


def _timestamped(cfg: SpeechDistillConfig, teacher: nn.Module, examples: list[Example], cache: Path) -> list[Example]:
    """``examples`` with the teacher's timestamps in ``cfg.timestamp_share`` of their labels, from ``cache`` when it exists."""

    saved = cached(cache, lambda: {"tokens": with_timestamps(teacher, examples, cfg.timestamp_share, cfg.schedule.seed,
                                                             cfg.window_margin_s)})
    return [Example(e.states, t, e.origin) for e, t in zip(examples, saved["tokens"], strict=True)]


def _speech_recipe(cfg: SpeechDistillConfig, bundle, data_root: Path, held: list[tuple[Path, str]]) -> dict:
    """The recipe written next to the variants: student, teacher, settings, data, objective and batching."""
    return {"kind": "distillation", "student": f"Whisper tiny.en, frozen encoder, decoder layers {list(cfg.keep_layers)} of 4",
            "teacher": {"bundle": bundle.name, "pseudo_labels": "runtime Transcriber, variant fp32"}, "config": asdict(cfg),
            "data": {"real": str(data_root / "speech" / "transcripts.tsv"), "extra": list(cfg.data),
                     "held_out": sorted(p.name for p, _ in held),
                     "synthetic": f"{cfg.synthetic_clips} utterances by {'/'.join(cfg.tts_engines)} "
                     "of training-split sentences, 80% reverberated + car/kitchen noise, seeded"},
            "objective": f"(1-{cfg.kl_weight}) CE(pseudo-labels) + {cfg.kl_weight} T^2 KL(teacher||student), T={cfg.temperature}",
            "batching": "examples of similar encoder length batched together, batches in a seeded order per epoch"}


def _kept_vocabulary(cfg: SpeechDistillConfig, examples: list[Example],
                     bundle_root: Path) -> tuple[torch.Tensor | None, list[Example]]:
    """The student's output vocabulary (None: all) and the examples, respelled in kept tokens when
    ``cfg.spell_dropped_words``."""
    kept = output_vocabulary(cfg, examples)
    if kept is not None and cfg.spell_dropped_words:
        spelled = spelling(token_strings(bundle_root), kept)
        examples = [Example(e.states, respell(e.tokens, spelled), e.origin) for e in examples]
    return kept, examples


def _hold_out_validation(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """The training examples and the validation ones (at most 64, spread over the origins)."""
    val_idx = validation_indices([e.origin for e in examples], at_most=64)
    val = [examples[i] for i in sorted(val_idx)]
    return [e for i, e in enumerate(examples) if i not in val_idx], val


def train_speech_student(cfg: SpeechDistillConfig, workdir: Path, data_root: Path,
                         engine: Engine) -> tuple[nn.Module, torch.Tensor | None, dict, list]:
    """Build the data (process 0 first, the others read its cache), train the student on ``engine``; return it,
    its output vocabulary (None: all), the training report and the held-out rows."""
    from edge_sdk.bundle import load_bundle
    from edge_sdk.quantize.speech.whisper_import import load_whisper

    workdir = Path(workdir)
    seed_everything(cfg.schedule.seed)
    bundle = load_bundle(cfg.teacher)
    teacher = load_whisper(bundle.source.get("path") or None).model.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    held = held_out_rows(cfg, data_root)
    recipe = _speech_recipe(cfg, bundle, data_root, held)
    rhash = resume_key(recipe, ("gate",))
    data_key = recipe_hash({k: getattr(cfg, k) for k in (*DATA_FIELDS, "window_margin_s")} | {"seed": cfg.schedule.seed})
    cache = workdir / f"examples-{data_key}.pt"
    with engine.main_first():
        examples, data_stats = _examples(cfg, teacher, cache, data_root, bundle.root)
        if cfg.timestamp_share:
            examples = _timestamped(cfg, teacher, examples, workdir / f"timestamps-{data_key}-{cfg.timestamp_share}.pt")
    teacher.to(engine.device)
    kept, examples = _kept_vocabulary(cfg, examples, bundle.root)
    train_ex, val = _hold_out_validation(examples)
    position = output_index(kept, VOCAB) if kept is not None else torch.arange(VOCAB)
    kept, position = engine.put((kept, position))
    student = make_student(teacher, cfg.keep_layers, cfg.dropout)
    if cfg.init_from:
        load_trained_layers(student, Path(cfg.init_from), cfg.keep_layers)
    params = [p for p in student.parameters() if p.requires_grad]

    def loss_on(batch: list[Example], model_train: bool = True) -> torch.Tensor:
        states, tokens, mask = engine.put(_collate(batch))
        with torch.no_grad():
            t_logits = decoder_logits(teacher, tokens[:, :-1], states, mask[:, :-1], kept)
        s_logits = decoder_logits(student, tokens[:, :-1], states, mask[:, :-1], kept)
        return distill_loss(s_logits, t_logits, position[tokens[:, 1:]], mask[:, 1:], cfg.kl_weight, cfg.temperature)

    lengths = [e.states.shape[0] for e in train_ex]

    def loss_of_batch(step: int) -> torch.Tensor:
        # clips of one length together: a 28 s window in a batch of 3 s prompts would pad all eight to 28 s
        idx = bucketed_batch(lengths, step, cfg.schedule.batch_size, cfg.schedule.seed)
        return loss_on([train_ex[i] for i in engine.shard(idx)])

    def evaluate() -> dict:
        losses = [float(loss_on(val[i : i + 8])) for i in range(0, len(val), 8)]
        return {"val_loss": float(np.mean(losses)), "val_examples": len(val)}

    run = train(student, loss_of_batch, evaluate, cfg.schedule, workdir, rhash, desc="distill speech", params=params, engine=engine)
    teacher.to("cpu")
    kept = kept.cpu() if kept is not None else None
    recipe["output_vocabulary"] = len(kept) if kept is not None else VOCAB
    report = {"recipe": recipe, "data": data_stats,
              "training": run.summary()}
    return student.eval(), kept, report, held


def decoder_step_ms(variant_files: dict[str, Path]) -> dict:
    """Median ms of one cached decoder step per graph, interleaved: 1 new token, 24 past tokens, 11 s of audio.

    Feeds are built from each graph's own input metadata, so any KV-cache layout the exporter uses works.
    """
    from edge_sdk.quantize.distill.ship import measure

    sizes = {"batch": 1, "steps": 1, "past": 24}
    rng = np.random.default_rng(0)
    runs = {}
    for name, path in variant_files.items():
        sess = measure.session(path)
        feeds = {}
        for inp in sess.get_inputs():
            shape = [d if isinstance(d, int) else sizes.get(d, 550) for d in inp.shape]
            if "int64" in inp.type:
                feeds[inp.name] = np.full(shape, 440, dtype=np.int64)
            else:
                feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
        runs[name] = lambda s=sess, f=feeds: s.run(None, f)
    return measure.side_by_side_ms(runs, repeats=30, warmup=3)


def distill_speech(cfg: SpeechDistillConfig, workdir: Path, data_root: Path | None = None, write: bool = True,
                   engine: Engine | None = None) -> dict:
    """Train (on ``engine``, default this CPU), export, int8, measure WER and speed on held-out clips, and write the variants.

    Returns:
        The report: recipe, data, training and per-variant metrics.
    """
    import json

    from edge_sdk.bundle import load_bundle
    from edge_sdk.quantize.speech.export import export_onnx
    from edge_sdk.quantize.speech.variants import INT8_ATTEMPTS
    from edge_sdk.speech.evaluate import evaluate
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    root = Path(data_root or ".")
    workdir = Path(workdir)
    student, kept, report, held = train_speech_student(cfg, workdir, root, engine or Engine.create("cpu"))
    bundle = load_bundle(cfg.teacher)
    fp32 = export_onnx(student, workdir / "onnx" / "fp32", kept)
    int8_format = bundle.variants["int8"].recipe.get("int8_format", "u8s8") if "int8" in bundle.variants else "u8s8"

    teacher_fp32 = {r: bundle.path_of(f) for r, f in bundle.variants["fp32"].files.items()}
    # the teacher's int8 graphs, quantized the same way when the bundle has none (timing only)
    teacher_int8 = ({r: bundle.path_of(f) for r, f in bundle.variants["int8"].files.items()} if "int8" in bundle.variants
                    else _int8_of(teacher_fp32, workdir / "onnx" / "teacher-int8", INT8_ATTEMPTS[0][1], int8_format))
    # WER is measured through the runtime's transcriber on a scratch copy of the bundle holding the students
    own = student_preprocessing(bundle.preprocessing, cfg.keep_layers, cfg.window_margin_s)
    scratch = scratch_copy(bundle.root, workdir / "eval-bundle", {"distilled": fp32}, own)
    manifest = write_manifest(held, workdir / "held_out.tsv")
    shared = {str(Path(p).resolve()): ref for p, ref in split_manifest(root / "speech" / "transcripts.tsv", cfg.held_out_percent)[1]}

    def wer_of(variant: str) -> dict:
        r = evaluate(Transcriber.create(TranscriberOptions(bundle=str(scratch), variant=variant)), manifest)
        return {**r.to_dict(), "hypotheses": r.hypotheses}

    results = {v: wer_of(v) for v in ("fp32", "distilled")}
    tried, chosen = _int8_attempts(fp32, scratch, own, workdir, int8_format, wer_of, results["distilled"]["wer"])
    what, exclude, int8, results["distilled-int8"] = chosen
    recipes = {"distilled": report["recipe"],
               "distilled-int8": {**report["recipe"], "int8_format": int8_format, "attempt": what, "kept_fp32": exclude}}
    files = {"distilled": fp32, "distilled-int8": int8}
    (workdir / "wer.json").write_text(json.dumps(results, indent=1, default=str))
    steps = decoder_step_ms({"teacher-fp32": teacher_fp32["decoder"], "teacher-int8": teacher_int8["decoder"],
                             "distilled": fp32["decoder"], "distilled-int8": int8["decoder"]})
    metrics, refused = _speech_metrics(cfg, report, results, steps, files, teacher_fp32, teacher_int8, shared, tried)
    report["metrics"], report["refused"] = metrics, refused
    if write:
        report["variants"] = write_or_refuse(bundle.root, metrics, refused, files, recipes, own)
    return report


def _speech_metrics(cfg: SpeechDistillConfig, report: dict, results: dict, steps: dict, files: dict, teacher_fp32: dict,
                    teacher_int8: dict, shared: dict[str, str], tried: list) -> tuple[dict, dict]:
    """Each student variant's metrics beside the teacher's, with its goals; and the variants that missed the WER budget."""
    from edge_sdk.quantize.distill.ship import measure

    metrics, refused = {}, {}
    for name, teacher_v in (("distilled", "teacher-fp32"), ("distilled-int8", "teacher-int8")):
        s, t = results[name], results["fp32"]
        metrics[name] = {
            "wer": s["wer"], "teacher_fp32_wer": t["wer"], "wer_delta_points": round(s["wer"] - t["wer"], 3), "n": s["n"],
            "rtf": s["rtf"], "teacher_fp32_rtf": t["rtf"],
            "decoder_step_ms": steps[name]["median_ms"], "teacher_decoder_step_ms": steps[teacher_v]["median_ms"],
            "decoder_step_speedup": measure.speedup(steps, teacher_v, name), "speedup_against": teacher_v,
            "decoder_step_flops_ratio": decode_speedup_bound(len(cfg.keep_layers), kept_vocab=report["recipe"]["output_vocabulary"]),
            "size_mb": round(sum(measure.file_mb(p) for p in files[name].values()), 3),
            "teacher_size_mb": round(sum(measure.file_mb(p) for p in (teacher_fp32 if name == "distilled" else teacher_int8).values()), 3),
            "eval_data": f"held-out clips ({s['n']}: shared, plus {list(cfg.eval_data)}), never trained on",
            "hypotheses": s.get("hypotheses"),
        }
        if cfg.eval_data:  # the shared clips alone, as earlier runs were measured
            metrics[name]["shared_only"] = {v: _subset_wer(results[v], shared) for v in ("fp32", name)}
        if name == "distilled-int8":
            metrics[name]["int8_attempts"] = [f"{label}: WER {r['wer']:.2f}%" for label, _, _, r in tried]
        metrics[name]["goals"] = goals = {"wer<=teacher+1.5": metrics[name]["wer_delta_points"] <= WER_BUDGET_POINTS,
                                          "decode>=1.5x": metrics[name]["decoder_step_speedup"] >= 1.5}
        if cfg.gate and not goals["wer<=teacher+1.5"]:
            refused[name] = goals
    return metrics, refused


def _int8_of(files: dict[str, Path], out_dir: Path, exclude: dict[str, tuple[str, ...]], int8_format: str) -> dict[str, Path]:
    """Each graph of ``files`` quantized to int8 into ``out_dir``, the ``exclude`` node types of each role kept in float."""
    from edge_sdk.quantize.speech.variants import quantize_int8

    out_dir.mkdir(parents=True, exist_ok=True)
    out = {role: out_dir / p.name for role, p in files.items()}
    for role, p in files.items():
        quantize_int8(p, out[role], int8_format, tuple(exclude.get(role, ())))
    return out


def _int8_attempts(fp32: dict[str, Path], scratch: Path, own: dict, workdir: Path, int8_format: str, wer_of,
                   fp32_wer: float) -> tuple[list, tuple]:
    """The int8 attempts tried, each ``(label, exclude, files, wer result)``, and the one chosen.

    int8 is made as the teacher's is: the first attempt within the int8 budget of the fp32 student; when none is,
    the most accurate (the first, with the fewest graphs kept in fp32, among equals)."""
    from edge_sdk.quantize.speech.prepare import gate_int8
    from edge_sdk.quantize.speech.variants import INT8_ATTEMPTS

    tried = []

    def try_attempt(label: str, exclude: dict[str, tuple[str, ...]]) -> dict:
        name = f"int8-{len(tried)}"
        files = _int8_of(fp32, workdir / "onnx" / name, exclude, int8_format)
        add_variant(scratch, name, files, preprocessing=own)
        tried.append((label, exclude, files, wer_of(name)))
        return tried[-1][3]

    try:
        gate_int8(INT8_ATTEMPTS, try_attempt, fp32_wer)
        return tried, tried[-1]
    except QualityGateError as exc:
        log.warning("%s", exc)
        return tried, min(tried, key=lambda attempt: attempt[3]["wer"])


def student_preprocessing(teacher: dict, keep_layers: tuple[int, ...], window_margin_s: float) -> dict:
    """The student variant's own preprocessing: the teacher's alignment heads in the layers it kept,
    renumbered (tiny.en's 8 heads, layers 1-3, become the 5 of layer 3, the student's layer 1), and the
    window margin it was trained with (the runtime pads its windows as the training clips were)."""
    heads = [[keep_layers.index(layer), head] for layer, head in teacher.get("alignment_heads", []) if layer in keep_layers]
    return {"alignment_heads": heads, "window_margin_s": window_margin_s}


def _subset_wer(result: dict, refs: dict[str, str]) -> float:
    """Corpus WER of ``result``'s hypotheses on the clips in ``refs`` (absolute path -> reference)."""
    from edge_sdk.speech.evaluate import corpus_wer

    hyps = result["hypotheses"]
    paths = [p for p in refs if p in hyps]
    return round(corpus_wer([refs[p] for p in paths], [hyps[p] for p in paths]), 3)


def decode_speedup_bound(layers_kept: int, layers: int = 4, d_model: int = 384, vocab: int = VOCAB, kept_vocab: int = VOCAB) -> float:
    """Per-token decoder FLOP ratio teacher/student (weights only: 12 d^2 per layer, d x vocab for the projection)."""
    per_layer = 12 * d_model * d_model
    return round((layers * per_layer + d_model * vocab) / (layers_kept * per_layer + d_model * kept_vocab), 3) if layers else math.nan
