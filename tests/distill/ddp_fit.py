"""A small regression fit through the distillation loop; run by ``torchrun`` from test_engine.py (and in-test).

Usage: ``python ddp_fit.py OUT_DIR``. Process 0 writes the final weights and its process count to
``OUT_DIR/weights.pt``; every process writes how many examples it computed the loss on to ``OUT_DIR/seen-RANK``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from edge_sdk.quantize.distill.training.engine import Engine, WorkerFinished
from edge_sdk.quantize.distill.training.loop import Schedule, train
from edge_sdk.quantize.sampling import epoch_order

SEEN: list[int] = []


def fit(workdir: Path, engine: Engine) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def loss_of_batch(step):
        idx = torch.as_tensor(engine.shard(epoch_order(64, step, 8, seed=0)))
        SEEN.append(len(idx))
        return torch.nn.functional.mse_loss(model(engine.put(x[idx])), engine.put(y[idx]))

    def evaluate():
        return {"mse": float(torch.nn.functional.mse_loss(model(engine.put(x)), engine.put(y)))}

    schedule = Schedule(steps=12, batch_size=8, lr=0.05, warmup_steps=0, eval_every=4, checkpoint_every=4)
    run = train(model, loss_of_batch, evaluate, schedule, workdir, recipe_hash="h", engine=engine)
    return model, run.summary()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    engine = Engine.create("cpu")
    try:
        trained, summary = fit(out, engine)
    except WorkerFinished:
        sys.exit(0)
    finally:
        (out / f"seen-{engine.rank}").write_text(str(sum(SEEN)))
    torch.save({"state": trained.state_dict(), "processes": summary["processes"]}, out / "weights.pt")
