"""A smaller output vocabulary for a Whisper decoder: the tokens English speech uses, and every special one.

Whisper's decoder ends in a (d_model x 51,864) projection tied to the token embedding; once the decoder
has fewer layers, reading that matrix is most of a decoding step. GPT-2's byte-level BPE numbers its tokens in
merge order, and merges were learned most-frequent first, so the first N ids are the common English
pieces. The trimmed graph keeps those, every token a training label uses, and every id from
``<|endoftext|>`` on (start, language, task, no-speech and timestamp tokens); it still returns logits
over the whole vocabulary, ``-inf`` for a dropped token, so the runtime's decoding rules do not change.
A dropped token given as input (a user's prompt) reads as the kept token whose embedding is closest.

A word whose token is dropped can still be written in pieces (" restless" as " rest" + "less"): a student
trained on labels spelled that way (:func:`spelling`) learns to do so, instead of writing a kept
neighbour (" rest") for a word it has no token for.
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


def spelling(pieces: list[str], kept: torch.Tensor) -> dict[int, tuple[int, ...]]:
    """Each dropped token below ``<|endoftext|>`` as kept tokens whose byte strings join to its own.

    Args:
        pieces: Every token's byte-level BPE string, by id (``Tokenizer.id_to_token``).
        kept: Sorted kept ids (:func:`kept_tokens`); every single-byte token (ids below 256) must be among them.

    Greedy longest prefix: ``Ġrestless`` -> ``Ġrest`` + ``less``.
    """
    ids = set(kept.tolist())
    if not ids >= set(range(256)):
        raise ValueError("the kept tokens must include every single-byte token (ids 0-255) to spell any word")
    by_string = {pieces[i]: i for i in ids if i < EOT}
    longest = max(map(len, by_string))
    out = {}
    for token in range(min(EOT, len(pieces))):
        if token in ids:
            continue
        text, parts, start = pieces[token], [], 0
        while start < len(text):
            end = min(len(text), start + longest)
            while text[start:end] not in by_string:
                end -= 1
            parts.append(by_string[text[start:end]])
            start = end
        out[token] = tuple(parts)
    return out


def respell(tokens: list[int], spelled: dict[int, tuple[int, ...]]) -> list[int]:
    """``tokens`` with every dropped token replaced by its pieces (see :func:`spelling`)."""
    return [piece for t in tokens for piece in spelled.get(t, (t,))]
