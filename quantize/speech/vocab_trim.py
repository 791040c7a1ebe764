"""A smaller output vocabulary for a Whisper decoder: the tokens English speech uses, and every special one.

Whisper's decoder ends in a (d_model x 51,864) projection tied to the token embedding; once the decoder
has 2 layers, reading that matrix is most of a decoding step. GPT-2's byte-level BPE numbers its tokens in
merge order, and merges were learned most-frequent first, so the first N ids are the common English
pieces. The trimmed graph keeps those, every token a training label uses, and every id from
``<|endoftext|>`` on (start, language, task, no-speech and timestamp tokens); it still returns logits
over the whole vocabulary, ``-inf`` for a dropped token, so the runtime's decoding rules do not change.
A dropped token given as input (a user's prompt) reads as the kept token whose embedding is closest.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

EOT = 50256  # <|endoftext|>: every id from here on is special or a timestamp


def kept_tokens(first: int, used: Iterable[int], vocab: int) -> torch.Tensor:
    """Sorted ids: ``[0, first)``, ``used`` and ``[EOT, vocab)``."""
    ids = set(range(min(first, vocab))) | {int(i) for i in used if 0 <= int(i) < vocab} | set(range(EOT, vocab))
    return torch.tensor(sorted(ids), dtype=torch.long)


def output_index(kept: torch.Tensor, vocab: int) -> torch.Tensor:
    """``(vocab,)``: a token's position in ``kept``, or ``len(kept)`` (the ``-inf`` column) when dropped."""
    index = torch.full((vocab,), len(kept), dtype=torch.long)
    index[kept] = torch.arange(len(kept))
    return index


def input_remap(embedding: torch.Tensor, kept: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """``(vocab,)``: a token's position in ``kept``; a dropped token maps to the kept one of highest cosine."""
    index = output_index(kept, embedding.shape[0])
    dropped = torch.nonzero(index == len(kept)).flatten()
    unit = torch.nn.functional.normalize(embedding.float(), dim=1)
    with torch.no_grad():
        for start in range(0, len(dropped), chunk):
            rows = dropped[start : start + chunk]
            index[rows] = (unit[rows] @ unit[kept].T).argmax(dim=1)
    return index
