"""The int8 gate's statistics: Wilson intervals of top-1 agreement, the label-free estimate of the top-1 change
(fp32's probabilities as soft labels) and the paired labelled change, each against its budget."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.quantize.vision import int8


def test_the_wilson_interval_matches_the_textbook_values():
    # scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
    assert [round(v, 4) for v in int8.wilson_interval(950, 1000)] == [0.9347, 0.9619]
    assert [round(v, 4) for v in int8.wilson_interval(1000, 1000)] == [0.9962, 1.0]
    assert int8.wilson_interval(0, 0) == (0.0, 1.0)


def _photos(n: int, ties: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` fp32 logits over 10 classes: class 0 wins by 8 logits, except the first ``ties`` photos, where
    classes 0 and 1 tie within 0.01."""
    logits = rng.normal(size=(n, 10))
    logits[:, 0] += 8
    logits[:ties, 1] = logits[:ties, 0] - 0.01
    return logits


def _flip(logits: np.ndarray, rows: slice, to: int) -> np.ndarray:
    out = logits.copy()
    out[rows, to] = out[rows, 0] + 0.02
    return out


def _decide(fp32: np.ndarray, q: np.ndarray) -> tuple[bool, dict]:
    lab = slice(500, 1000)  # photos labelled with fp32's own top-1: what int8 changes there it loses
    return int8.gate(fp32, q, fp32[lab], q[lab], fp32[lab].argmax(1))


def test_the_gate_accepts_near_tie_changes_on_a_thousand_photos():
    fp32 = _photos(1000, 60, np.random.default_rng(0))
    ok, m = _decide(fp32, _flip(fp32, slice(0, 50), 1))  # 50 near-ties go to the runner-up: worth nothing either way
    assert ok, m
    assert m["holdout_top1_changed"] == 50 and m["holdout_top1_agreement_ci95"] == [0.9347, 0.9619]
    assert -0.0005 < m["top1_change_estimate"] < 0
    assert m["labelled_top1_change"] == 0.0 and m["labelled"]["n"] == 500


def test_the_gate_refuses_below_a_thousand_photos_or_below_the_agreement_bound():
    fp32 = _photos(1000, 200, np.random.default_rng(1))
    ok, m = _decide(fp32[:999], _flip(fp32, slice(0, 50), 1)[:999])
    assert not ok and m["holdout_n"] == 999
    ok, m = _decide(fp32, _flip(fp32, slice(0, 70), 1))  # 93.0 % agreed: its lower bound 0.913 is below 0.92
    assert not ok and m["holdout_top1_agreement"] == 0.93 and m["holdout_top1_agreement_ci95"][0] < int8.MIN_AGREEMENT


def test_the_gate_refuses_confident_photos_that_change_even_when_agreement_is_high():
    fp32 = _photos(1000, 0, np.random.default_rng(2))
    ok, m = _decide(fp32, _flip(fp32, slice(990, 1000), 5))  # 10 changed (99 % agreed), each a sure photo lost
    assert not ok
    assert m["holdout_top1_agreement_ci95"][0] > 0.98
    assert m["top1_change_estimate"] == pytest.approx(-0.01, abs=0.0005) and m["top1_change_estimate_ci95"][0] < -int8.MAX_TOP1_LOSS


def test_an_unknown_kernel_is_refused_with_the_choices_before_anything_runs(tmp_path):
    from edge_sdk.errors import InvalidInputError
    from edge_sdk.quantize.vision import kernel_check

    with pytest.raises(InvalidInputError, match=r"unknown kernels \['sparc'\]: choose from \['aarch64-dotprod', 'aarch64-neon', 'x86_64-avx2'\]"):
        kernel_check.check_kernels(tmp_path / "none.onnx", tmp_path / "none.onnx", np.zeros((1, 3, 8, 8), np.float32),
                                   (np.zeros(0, np.int64), np.zeros(0, np.int64)), ["x86_64-avx2", "sparc"])
