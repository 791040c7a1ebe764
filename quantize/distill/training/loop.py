"""A small, resumable training loop shared by every student (nanoGPT-sized).

The loop draws batch ``i`` from a function of ``i`` alone, so a run resumed from a checkpoint sees
exactly the batches an uninterrupted run would have seen. A checkpoint holds the student, the
optimizer, the step and the metrics history; it is written atomically every ``checkpoint_every``
steps and at the end, and reused only when its recipe hash matches the current recipe. Devices and
processes are Accelerate's (:mod:`edge_sdk.quantize.distill.training.engine`): the same loop runs on the CPU, one GPU,
or several processes under ``torchrun``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edge_sdk.errors import InvalidInputError
from edge_sdk.quantize.distill.training.engine import Engine, WorkerFinished

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
METRICS_LOG = "metrics.jsonl"


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings of one distillation run.

    Attributes:
        steps: Optimizer steps in total.
        batch_size: Examples per step.
        lr: Peak learning rate (AdamW), reached after ``warmup_steps`` and decayed on a cosine to 10 %.
        warmup_steps: Linear warm-up length.
        weight_decay: AdamW weight decay.
        eval_every: Evaluate (and log metrics) every this many steps, and at the end.
        checkpoint_every: Save a resumable checkpoint every this many steps, and at the end.
        seed: Seeds python, numpy and torch; also orders the data.
        grad_clip: Clip the global gradient norm to this value (0 disables).
        ema_decay: Keep an exponential moving average of the trained weights with this decay (0 disables;
            e.g. 0.998 averages over about the last 500 steps). Evaluations use the average, and the student
            returned is the average: smoother than the last step's weights when data is scarce.
    """

    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-4
    warmup_steps: int = 30
    weight_decay: float = 0.01
    eval_every: int = 100
    checkpoint_every: int = 100
    seed: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"Schedule.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise InvalidInputError(f"Schedule.warmup_steps must be in [0, steps={self.steps}], got {self.warmup_steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidInputError(f"Schedule.lr must be a positive number, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise InvalidInputError(f"Schedule.ema_decay must be in [0, 1), got {self.ema_decay}")

    def ema_decay_at(self, step: int) -> float:
        """Decay of the weight average after 0-based ``step``: ``ema_decay``, lower over the first steps
        (``(1 + step) / (10 + step)``) so the average does not stay near the starting weights."""
        return min(self.ema_decay, (1 + step) / (10 + step))

    def lr_at(self, step: int) -> float:
        """Learning rate of 0-based ``step``: linear warm-up, then cosine decay to 10 % of the peak."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))


@dataclass
class RunResult:
    """What a run did: the final step, loss history, evaluations, time spent in optimisation steps (all
    stages of a resumed run; evaluations and checkpoints excluded) and where it ran."""

    step: int
    losses: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    train_time_s: float = 0.0
    resumed_from: int = 0
    where: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The report's ``training`` entry: steps, time, evaluations, first and last loss, device and processes."""
        return {"steps": self.step, "train_time_s": round(self.train_time_s, 1), "resumed_from": self.resumed_from,
                "s_per_step": round(self.train_time_s / max(1, self.step), 3), "evals": self.evals,
                "first_loss": self.losses[0] if self.losses else None,
                "last_loss": float(np.mean(self.losses[-20:])) if self.losses else None, **self.where}


def seed_everything(seed: int) -> None:
    """Fix python, numpy and torch seeds (and make torch pick deterministic kernels where it can)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def bucketed_batch(lengths: list[int], step: int, batch_size: int, seed: int) -> np.ndarray:
    """Indices of batch ``step`` when examples of similar length are batched together (less padding).

    Examples are sorted by length and cut into fixed batches; each epoch visits every batch once in a
    seeded order. Like :func:`~edge_sdk.quantize.sampling.epoch_order`, the batch depends on ``step`` alone.
    """
    if not lengths:
        raise InvalidInputError("no training examples: give a data folder with at least one usable file")
    order = np.argsort(np.asarray(lengths), kind="stable")
    n_batches = max(1, len(order) // batch_size)
    epoch, k = divmod(step, n_batches)
    b = int(np.random.default_rng((seed, epoch)).permutation(n_batches)[k])
    return order[b * batch_size : (b + 1) * batch_size]


def resume_key(recipe: dict, ship_only: tuple[str, ...] = ()) -> str:
    """Hash of what a checkpoint depends on: the recipe without ship-only settings and without the
    step count and cadence, so a run can be resumed with more (or fewer) ``--steps``."""
    from edge_sdk.quantize.bundle_writer import recipe_hash

    config = {k: v for k, v in recipe.get("config", {}).items() if k not in ship_only}
    if isinstance(config.get("schedule"), dict):
        config["schedule"] = {k: v for k, v in config["schedule"].items() if k not in ("steps", "eval_every", "checkpoint_every")}
    return recipe_hash({**recipe, "config": config})


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def cached(path: Path, compute: Callable[[], dict]) -> dict:
    """The dict of tensors, lists and strings saved at ``path`` (loaded with ``weights_only``: nothing is
    unpickled), or ``compute()``'s, saved there first (atomically: an interrupted run leaves no half cache)."""
    if path.is_file():
        return torch.load(path, weights_only=True)
    out = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(path, out)
    return out


@contextmanager
def _weights(params: list[torch.nn.Parameter], values: list[torch.Tensor] | None):
    """Run the block with ``values`` in ``params`` (the weight average), then put the trained weights back."""
    if values is None:
        yield
        return
    trained = [p.detach().clone() for p in params]
    with torch.no_grad():
        torch._foreach_copy_([p.data for p in params], values)
    try:
        yield
    finally:
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in params], trained)


class _Objective(torch.nn.Module):
    """The student with its loss as ``forward(step)``: what DistributedDataParallel wraps, so gradients
    are averaged across processes however the loss reaches into the student's submodules."""

    def __init__(self, model: torch.nn.Module, loss_of_batch: Callable[[int], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.loss_of_batch = loss_of_batch

    def forward(self, step: int) -> torch.Tensor:
        return self.loss_of_batch(step)


def _resume(ckpt_path: Path, recipe_hash: str, model: torch.nn.Module, opt: torch.optim.Optimizer,
            average: list[torch.Tensor] | None, device, desc: str) -> tuple[RunResult, list[torch.Tensor] | None]:
    """The run so far and its weight average: loaded into ``model`` and ``opt`` from a checkpoint written for
    ``recipe_hash``, else a fresh run (and ``average`` unchanged)."""
    if not ckpt_path.is_file():
        return RunResult(step=0), average
    ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
    if ckpt.get("recipe_hash") != recipe_hash:
        log.info("ignoring %s: it was written for another recipe", ckpt_path)
        return RunResult(step=0), average
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    if average is not None:
        average = [t.to(device) for t in ckpt["ema"]]
    result = RunResult(**ckpt["result"])
    result.resumed_from = result.step
    log.info("resuming %s from step %d (%s)", desc, result.step, ckpt_path)
    return result, average


def _optimise_step(objective: torch.nn.Module, opt, acc, params: list[torch.nn.Parameter], average: list[torch.Tensor] | None,
                   schedule: Schedule, step: int, desc: str) -> float:
    """One optimiser step on batch ``step`` (and the weight average's update); returns the whole batch's mean loss.

    Raises:
        FloatingPointError: The loss stopped being finite.
    """
    for group in opt.param_groups:
        group["lr"] = schedule.lr_at(step)
    loss = objective(step)
    mean_loss = float(acc.reduce(loss.detach(), "mean"))  # the whole batch's, the same in every process
    if not math.isfinite(mean_loss):
        raise FloatingPointError(f"{desc}: loss became {mean_loss} at step {step}; lower --lr")
    opt.zero_grad(set_to_none=True)
    acc.backward(loss)
    if schedule.grad_clip:
        acc.clip_grad_norm_(params, schedule.grad_clip)
    opt.step()
    if average is not None:
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in params], 1 - schedule.ema_decay_at(step))
    return mean_loss


@dataclass
class _Run:
    """One run's state, threaded through the steps of :func:`train`."""

    model: torch.nn.Module
    params: list[torch.nn.Parameter]
    opt: torch.optim.Optimizer
    objective: torch.nn.Module
    average: list[torch.Tensor] | None
    result: RunResult
    engine: Engine
    schedule: Schedule
    workdir: Path
    recipe_hash: str
    evaluate: Callable[[], dict]
    desc: str


def _start_run(model: torch.nn.Module, loss_of_batch: Callable[[int], torch.Tensor], evaluate: Callable[[], dict],
               schedule: Schedule, workdir: Path, recipe_hash: str, desc: str, params: list[torch.nn.Parameter] | None,
               engine: Engine) -> _Run:
    """Seed, move ``model`` to the engine's device, build the optimizer and resume from ``workdir`` when possible."""
    acc = engine.accelerator
    workdir.mkdir(parents=True, exist_ok=True)
    seed_everything(schedule.seed)
    model.to(engine.device)
    params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    average = [p.detach().clone() for p in params] if schedule.ema_decay else None
    result, average = _resume(workdir / CHECKPOINT, recipe_hash, model, opt, average, engine.device, desc)
    result.where = engine.describe()
    objective, opt = acc.prepare(_Objective(model, loss_of_batch), opt)
    if result.step == 0 and engine.is_main:
        (workdir / METRICS_LOG).write_text("")  # a fresh run starts a fresh log; a resumed one appends
    return _Run(model, params, opt, objective, average, result, engine, schedule, workdir, recipe_hash, evaluate, desc)


def _checkpoint(run: _Run) -> None:
    """Save the student, optimizer, results and weight average (process 0), then wait for every process."""
    if run.engine.is_main:
        _save(run.workdir / CHECKPOINT, {"recipe_hash": run.recipe_hash, "model": run.model.state_dict(),
                                         "optimizer": run.opt.state_dict(), "result": asdict(run.result),
                                         "schedule": asdict(run.schedule), "ema": run.average})
    run.engine.accelerator.wait_for_everyone()


def _run_eval(run: _Run) -> None:
    """Evaluate (process 0 only, with the weight average when kept) and append the metrics to the log."""
    if not run.engine.is_main:
        return
    run.model.eval()
    with torch.no_grad(), _weights(run.params, run.average):
        metrics = {"step": run.result.step, **run.evaluate()}
    run.result.evals.append(metrics)
    with open(run.workdir / METRICS_LOG, "a") as f:
        f.write(json.dumps(metrics) + "\n")
    log.info("%s step %d: %s", run.desc, run.result.step,
             {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})


def _take_step(run: _Run, bar: tqdm) -> float:
    """One timed optimisation step, recorded in the results and on the progress bar; returns the mean loss."""
    result, schedule = run.result, run.schedule
    t0 = time.perf_counter()
    run.model.train()
    mean_loss = _optimise_step(run.objective, run.opt, run.engine.accelerator, run.params, run.average, schedule,
                               result.step, run.desc)
    result.train_time_s += time.perf_counter() - t0  # optimisation only: evaluations and checkpoints are not counted
    result.step += 1
    result.losses.append(mean_loss)
    bar.update(1)
    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{schedule.lr_at(result.step - 1):.1e}")
    return mean_loss


def _finish(run: _Run) -> RunResult:
    """Hand on the weight average (when kept), move the student back to the CPU; process 0 returns the results.

    Raises:
        WorkerFinished: In every process but process 0.
    """
    if run.average is not None:  # the student handed on is the weight average
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in run.params], run.average)
    run.model.to("cpu")
    if not run.engine.is_main:
        raise WorkerFinished(f"{run.desc}: process {run.engine.rank} of {run.engine.processes} is done")
    return run.result


def train(
    model: torch.nn.Module,
    loss_of_batch: Callable[[int], torch.Tensor],
    evaluate: Callable[[], dict],
    schedule: Schedule,
    workdir: Path,
    recipe_hash: str,
    desc: str = "distill",
    params: list[torch.nn.Parameter] | None = None,
    engine: Engine | None = None,
) -> RunResult:
    """Optimise ``model`` for ``schedule.steps`` steps, resuming from ``workdir`` when possible.

    Args:
        model: The student; only parameters with ``requires_grad`` (or ``params``) are trained. It is moved
            to the engine's device for training and back to the CPU at the end.
        loss_of_batch: Loss of batch ``i`` (a function of ``i`` alone, for exact resumption); under several
            processes, the loss of this process's :meth:`Engine.shard` of the batch, on :attr:`Engine.device`.
        evaluate: Metrics on held-out data (called in ``torch.no_grad`` with the model in eval mode, in process 0).
        schedule: Steps, batch size, learning rate, evaluation and checkpoint cadence.
        workdir: Folder for ``checkpoint.pt`` and ``metrics.jsonl``.
        recipe_hash: A checkpoint with another hash is ignored (different data or settings).
        desc: Progress-bar label.
        params: Parameters to optimise; default every trainable parameter of ``model``.
        engine: Device and processes (default: this CPU, one process).

    Returns:
        The :class:`RunResult`, whose ``evals`` hold every evaluation with its step.

    Raises:
        WorkerFinished: In every process but process 0, once the last step is taken.
        FloatingPointError: The loss stopped being finite.
    """
    run = _start_run(model, loss_of_batch, evaluate, schedule, workdir, recipe_hash, desc, params,
                     engine or Engine.create("cpu"))
    result = run.result
    if result.step == 0 and not result.evals:
        _run_eval(run)  # the starting point, so every run reports "before" and "after"
    bar = tqdm(total=schedule.steps, initial=result.step, desc=desc, unit="step", dynamic_ncols=True,
               disable=not run.engine.is_main)
    while result.step < schedule.steps:
        mean_loss = _take_step(run, bar)
        last = result.step == schedule.steps
        if result.step % schedule.eval_every == 0 or last:
            _run_eval(run)
            if result.evals:
                bar.set_postfix(loss=f"{mean_loss:.4f}", **{k: f"{v:.4f}" for k, v in result.evals[-1].items() if isinstance(v, float)})
        if result.step % schedule.checkpoint_every == 0 or last:
            _checkpoint(run)
    bar.close()
    return _finish(run)
