"""Seeded batch order shared by the training loops (distillation, quantization-aware training)."""

from __future__ import annotations

import numpy as np

from edge_sdk.errors import InvalidInputError


def epoch_order(n: int, step: int, batch_size: int, seed: int) -> np.ndarray:
    """Indices of the examples of batch ``step``: a fresh seeded permutation of ``range(n)`` per epoch."""
    if n < 1:
        raise InvalidInputError("no training examples: give a data folder with at least one usable file")
    out = []
    start = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        perm = np.random.default_rng((seed, epoch)).permutation(n)
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return np.asarray(out)
