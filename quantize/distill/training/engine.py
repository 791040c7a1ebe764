"""Where a student trains: this CPU, one GPU, or several processes started by ``torchrun`` / ``accelerate launch``.

Hugging Face Accelerate does the work: it reads the launcher's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``), picks each process's device, starts the process group (NCCL between GPUs, gloo between
CPU processes) and wraps the student's objective in ``DistributedDataParallel``. Each process computes the
loss on its share of every batch (:meth:`Engine.shard`); DDP averages the gradients, so N processes take
the same steps as one process with the whole batch.

    edge-sdk distill text --device cuda ...                                  # one GPU
    torchrun --nproc-per-node 4 -m edge_sdk.quantize distill text --device cuda ...   # four GPUs, one node
    accelerate launch --multi_gpu --num_processes 4 -m edge_sdk.quantize distill text ...   # the same through accelerate

A device that is asked for and missing is an error, never a silent fall back to the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

from edge_sdk.errors import InvalidInputError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")


class WorkerFinished(Exception):
    """Raised by :func:`edge_sdk.quantize.distill.training.loop.train` in every process but the first once training ends:
    exporting, measuring and writing the bundle happen once, in process 0."""


@dataclass
class Engine:
    """One process's view of a training run (a thin layer over :class:`accelerate.Accelerator`)."""

    accelerator: Any

    @classmethod
    def create(cls, device: str = "auto", precision: str = "fp32") -> Engine:
        """The engine of this process.

        Args:
            device: ``cpu``, ``cuda`` (this process's GPU under a launcher) or ``auto`` (a GPU when torch sees
                one, else the CPU).
            precision: ``fp32``, or ``bf16`` / ``fp16`` autocast around the objective (master weights stay fp32).

        Raises:
            InvalidInputError: Unknown device or precision, or ``cuda`` asked for where torch sees no GPU.
        """
        from accelerate import Accelerator, DistributedDataParallelKwargs

        if device not in DEVICES:
            raise InvalidInputError(f"device {device!r} is not one of {DEVICES}")
        if precision not in PRECISIONS:
            raise InvalidInputError(f"precision {precision!r} is not one of {PRECISIONS}")
        if device == "cuda" and not torch.cuda.is_available():
            raise InvalidInputError(f"--device cuda: torch {torch.__version__} sees no CUDA device "
                                    f"(built with CUDA {torch.version.cuda}); use --device cpu")
        mixed = "no" if precision == "fp32" else precision
        # a student may hold parameters its loss never reaches (BERT's pooler): DDP must not wait for their gradients
        ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
        try:
            return cls(Accelerator(cpu=device == "cpu", mixed_precision=mixed, kwargs_handlers=[ddp]))
        except ValueError as exc:  # Accelerate keeps one device and precision per process
            raise InvalidInputError(f"this process already trains with another device or precision; start a new "
                                    f"process for device={device!r}, precision={precision!r} ({exc})") from exc

    @property
    def device(self) -> torch.device:
        """This process's device."""
        return self.accelerator.device

    @property
    def precision(self) -> str:
        """``fp32``, ``bf16`` or ``fp16`` (the autocast around the objective)."""
        mixed = self.accelerator.mixed_precision
        return "fp32" if mixed == "no" else mixed

    @property
    def rank(self) -> int:
        """This process's index among :attr:`processes`."""
        return self.accelerator.process_index

    @property
    def processes(self) -> int:
        """Processes training together (1 without a launcher)."""
        return self.accelerator.num_processes

    @property
    def is_main(self) -> bool:
        """Whether this is process 0, the one that evaluates, checkpoints and ships."""
        return self.accelerator.is_main_process

    def shard(self, items: Sequence) -> list:
        """This process's share of one batch: every ``processes``-th item from its rank on.

        Raises:
            InvalidInputError: The batch does not split evenly (the averaged gradients would weigh examples unevenly).
        """
        if len(items) % self.processes:
            raise InvalidInputError(f"a batch of {len(items)} does not split evenly over {self.processes} processes; "
                                    "give a --batch-size that is a multiple of the process count")
        return list(items[self.rank :: self.processes])

    def put(self, value):
        """``value`` (a tensor, or a tuple / list of them) on this process's device."""
        if isinstance(value, (tuple, list)):
            return type(value)(self.put(v) for v in value)
        return value.to(self.device) if isinstance(value, torch.Tensor) else value

    def main_first(self) -> AbstractContextManager:
        """Run the block in process 0 first, then in the others (one process fills a cache, the rest read it)."""
        return self.accelerator.main_process_first()

    def describe(self) -> dict:
        """Where the run happens, for the report: device kind and name, processes, precision, CPU threads."""
        dev = self.device
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        return {"device": dev.type, "device_name": name, "processes": self.processes, "precision": self.precision,
                "torch_threads": torch.get_num_threads()}
