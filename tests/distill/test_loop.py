"""The shared training loop: validated schedule, exact data order, resumption from a checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.training.loop import CHECKPOINT, METRICS_LOG, Schedule, train
from edge_sdk.quantize.sampling import epoch_order


def test_schedule_rejects_bad_values_with_the_field_name():
    with pytest.raises(InvalidInputError, match="steps"):
        Schedule(steps=0)
    with pytest.raises(InvalidInputError, match="warmup_steps"):
        Schedule(steps=10, warmup_steps=11)
    with pytest.raises(InvalidInputError, match="lr"):
        Schedule(lr=float("nan"))


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    s = Schedule(steps=100, lr=1.0, warmup_steps=10)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(9) == pytest.approx(1.0)
    assert s.lr_at(100) == pytest.approx(0.1)
    assert s.lr_at(50) < s.lr_at(20)


def test_epoch_order_is_seeded_and_visits_every_example_once_per_epoch():
    first = np.concatenate([epoch_order(10, i, 5, seed=3) for i in range(2)])
    assert sorted(first.tolist()) == list(range(10))
    assert np.array_equal(epoch_order(10, 1, 5, seed=3), epoch_order(10, 1, 5, seed=3))
    assert not np.array_equal(epoch_order(10, 0, 10, seed=3), epoch_order(10, 0, 10, seed=4))
    with pytest.raises(InvalidInputError):
        epoch_order(0, 0, 4, seed=0)


def _fit(workdir, steps, interrupt_at=None, ema_decay=0.0):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def loss_of_batch(step):
        if step == interrupt_at:
            raise KeyboardInterrupt
        idx = torch.from_numpy(epoch_order(32, step, 8, seed=0))
        return torch.nn.functional.mse_loss(model(x[idx]), y[idx])

    def evaluate():
        return {"mse": float(torch.nn.functional.mse_loss(model(x), y))}

    schedule = Schedule(steps=steps, batch_size=8, lr=0.3, warmup_steps=0, eval_every=5, checkpoint_every=5, ema_decay=ema_decay)
    return model, train(model, loss_of_batch, evaluate, schedule, workdir, recipe_hash="h")


def test_training_lowers_the_loss_and_logs_every_evaluation(tmp_path):
    _, run = _fit(tmp_path, 20)
    assert run.evals[-1]["mse"] < 0.5 * run.evals[0]["mse"]
    logged = [json.loads(line) for line in (tmp_path / METRICS_LOG).read_text().splitlines()]
    assert [e["step"] for e in logged] == [0, 5, 10, 15, 20]


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, ema_decay):
    straight, _ = _fit(tmp_path / "a", 20, ema_decay=ema_decay)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", 20, interrupt_at=12, ema_decay=ema_decay)  # the last checkpoint is at step 10
    resumed, run = _fit(tmp_path / "b", 20, ema_decay=ema_decay)
    assert run.resumed_from == 10 and run.step == 20
    assert torch.allclose(straight.weight, resumed.weight, atol=1e-6)


def test_the_weight_average_is_what_evaluations_see_and_what_is_returned(tmp_path):
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    raw, seen = [], []

    def loss_of_batch(step):  # a constant pull: the weight walks away from where it started
        raw.append(float(model.weight.detach()))  # the weights after step - 1
        return -model.weight.sum()

    def evaluate():
        seen.append(float(model.weight))
        return {"w": seen[-1]}

    schedule = Schedule(steps=30, batch_size=1, lr=0.1, warmup_steps=0, eval_every=30, checkpoint_every=30, ema_decay=0.9)
    train(model, loss_of_batch, evaluate, schedule, tmp_path, recipe_hash="h")
    last = float(torch.load(tmp_path / CHECKPOINT, weights_only=True)["model"]["weight"])
    expected = 0.0
    for step, w in enumerate([*raw[1:], last]):
        d = schedule.ema_decay_at(step)
        expected = d * expected + (1 - d) * w
    assert seen == [0.0, pytest.approx(expected, rel=1e-5)]
    assert expected < last - 0.02  # the average lags the walk
    assert float(model.weight.detach()) == pytest.approx(expected, rel=1e-5)


def test_a_weight_average_outside_0_1_is_refused():
    with pytest.raises(InvalidInputError, match="ema_decay"):
        Schedule(ema_decay=1.0)
