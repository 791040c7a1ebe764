"""``python -m edge_sdk.quantize distill`` and ``edge-sdk distill``: one parser, arguments handed through unchanged."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from edge_sdk.quantize.distill.cli import _schedule, build_parser
from edge_sdk.quantize.distill.training.loop import Schedule


def test_edge_sdk_distill_hands_every_argument_to_the_quantize_parser():
    from edge_sdk.distill_cli import register

    parser = argparse.ArgumentParser(prog="edge-sdk")
    sub = parser.add_subparsers(dest="command")
    register(sub, None)
    args = parser.parse_args(["distill", "text", "--steps", "3", "--help"])
    assert args.distill_args == ["text", "--steps", "3", "--help"]


def test_distill_parser_knows_the_four_students_and_rejects_others():
    p = build_parser()
    assert p.parse_args(["vision", "--steps", "5", "--data", "a", "b"]).data == ["a", "b"]
    assert p.parse_args(["ctc", "--max-clips", "8", "--synthetic-clips", "4"]).max_clips == 8
    with pytest.raises(SystemExit):
        p.parse_args(["audio"])


def test_steps_override_keeps_eval_and_checkpoint_within_the_run():
    base = Schedule(steps=300, eval_every=50, checkpoint_every=10, warmup_steps=20)
    got = _schedule(base, build_parser().parse_args(["text", "--steps", "4", "--lr", "0.001"]))
    assert dataclasses.astuple(got) != dataclasses.astuple(base)
    assert got.steps == 4 and got.eval_every == 4 and got.checkpoint_every == 4 and got.lr == 0.001 and got.warmup_steps <= 4


def test_ctc_student_takes_the_speech_students_data_options():
    from edge_sdk.quantize.distill.cli import _speech_data
    from edge_sdk.quantize.distill.students.ctc import CTCDistillConfig

    base = CTCDistillConfig().data
    got = _speech_data(base, build_parser().parse_args(["ctc", "--synthetic-clips", "8", "--teacher", "t"]), ("extra.tsv",))
    assert (got.synthetic_clips, got.teacher, got.data) == (8, "t", ("extra.tsv",))
    assert got.real_copies == base.real_copies and got.max_pseudo_wer == base.max_pseudo_wer


def test_quantize_main_prints_usage_for_an_unknown_command(capsys):
    from edge_sdk.quantize.__main__ import main

    assert main(["nope"]) == 2
    assert "distill" in capsys.readouterr().err


def test_device_and_precision_are_checked_before_any_work(capsys, tmp_path):
    import torch

    from edge_sdk.quantize.distill.cli import main

    p = build_parser()
    assert (p.parse_args(["text"]).device, p.parse_args(["text"]).precision) == ("auto", "fp32")
    with pytest.raises(SystemExit):
        p.parse_args(["text", "--device", "tpu"])
    if not torch.cuda.is_available():
        assert main(["text", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
        assert "sees no CUDA device" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()  # nothing was started


def test_speech_student_layers_and_output_vocabulary_come_from_the_command_line():
    from edge_sdk.quantize.distill.cli import speech_config
    from edge_sdk.quantize.distill.students.speech import SpeechDistillConfig

    got = speech_config(build_parser().parse_args(["speech", "--keep-layers", "0", "2", "3", "--output-vocab-first", "16000",
                                                    "--spell-dropped-words", "--init-from", "runs/3l"]), ())
    assert (got.keep_layers, got.output_vocab_first, got.spell_dropped_words, got.init_from) == ((0, 2, 3), 16000, True, "runs/3l")
    default = speech_config(build_parser().parse_args(["speech"]), ())
    assert (default.keep_layers, default.output_vocab_first, default.init_from) == (
        SpeechDistillConfig().keep_layers, SpeechDistillConfig().output_vocab_first, "")
    plain = speech_config(build_parser().parse_args(["speech", "--no-spell-dropped-words", "--timestamp-share", "0"]), ())
    assert (default.spell_dropped_words, plain.spell_dropped_words, plain.timestamp_share) == (True, False, 0.0)


def test_text_student_loss_layers_and_stage_come_from_the_command_line():
    from edge_sdk.quantize.distill.cli import text_config
    from edge_sdk.quantize.distill.students.text import TextDistillConfig

    got = text_config(build_parser().parse_args(["text", "--loss", "cosine", "--keep-layers", "0", "2", "5",
                                                 "--init-from", "runs/a", "--train-data", "more", "--augment-share", "0",
                                                 "--freeze-embeddings"]), ())
    assert (got.loss, got.keep_layers, got.init_from, got.train_data, got.augment_share, got.freeze_embeddings) == (
        "cosine", (0, 2, 5), "runs/a", ("more",), 0.0, True)
    default = text_config(build_parser().parse_args(["text"]), ())
    assert (default.loss, default.keep_layers, default.init_from, default.augment_share, default.freeze_embeddings) == (
        TextDistillConfig().loss, TextDistillConfig().keep_layers, "", TextDistillConfig().augment_share, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["text", "--loss", "l1"])
