"""Segment timestamps in a speech student's labels, placed by the teacher.

The runtime decodes with timestamps: each segment opens and closes with a ``<|t|>`` token, and a
window ends ``... <|t_end|> <|endoftext|>``. A student trained only on ``<|notimestamps|>`` labels meets
that mode first at run time; a 3-layer student then repeats its last sentence instead of closing
the window (held-out WER 6.1 % without timestamps, 20.2 % with them). distil-whisper trains half its
labels with timestamps; here every label has them by default (16 held-out word errors, 17 with half).
This module puts them into the cached pseudo-labels, which hold text only.

The teacher places them by forced decoding on the example's cached encoder states: it reads the
label's text tokens in order and, wherever its timestamp tokens together outweigh its best text token
(Whisper's own rule), a segment ends there at its most likely time and the next one starts.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from edge_sdk.quantize.distill.students.whisper_decoder import EOT, NO_TIMESTAMPS, SOT, decoder_logits
from edge_sdk.speech.tokenizer import TIME_PER_TIMESTAMP_S

TIMESTAMP_BEGIN = NO_TIMESTAMPS + 1  # <|0.00|>
MAX_SEGMENTS = 16  # forced passes per label; a 28 s window holds a handful of segments


def _row_logits(teacher: nn.Module, tokens: list[int], states: torch.Tensor) -> torch.Tensor:
    ids = torch.tensor([tokens])
    with torch.no_grad():
        return decoder_logits(teacher, ids, states[None].float(), torch.ones_like(ids))[0]


def timestamped(teacher: nn.Module, states: torch.Tensor, text: list[int], content_steps: int) -> list[int]:
    """``[SOT, <|0.00|>, text with the teacher's segment boundaries, <|t_end|>, EOT]``.

    Args:
        teacher: The Whisper teacher (HF model).
        states: Its encoder states of the example, ``(frames, d_model)``.
        text: The label's text tokens (no special tokens).
        content_steps: Latest timestamp allowed, in 20 ms steps (the audio's end, as the runtime's ``max_timestamp_s``).
    """
    seq, start, last = [SOT, TIMESTAMP_BEGIN], 0, 0
    for _ in range(MAX_SEGMENTS):
        logits = _row_logits(teacher, seq + text[start:], states)
        first_row = len(seq) - 1  # predicts text[start]
        later = slice(TIMESTAMP_BEGIN + last + 1, TIMESTAMP_BEGIN + content_steps + 1)
        for k in range(start + 1, len(text) + 1):  # a boundary before text[k]; k == len(text) is the window's end
            row = logits[first_row + k - start]
            if k < len(text) and torch.logsumexp(row[TIMESTAMP_BEGIN:], 0) <= row[:EOT].max():
                continue
            if later.start < later.stop:
                last += 1 + int(row[later].argmax())
            if k == len(text) or later.start >= later.stop:  # the end, or no later time left: one last segment
                return [*seq, *text[start:], TIMESTAMP_BEGIN + last, EOT]
            seq, start = [*seq, *text[start:k], TIMESTAMP_BEGIN + last, TIMESTAMP_BEGIN + last], k
            break
        else:  # no text: an empty window
            break
    return [*seq, *text[start:], TIMESTAMP_BEGIN + min(last + 1, content_steps), EOT]


def with_timestamps(teacher: nn.Module, examples: list, share: float, seed: int, margin_s: float) -> list[list[int]]:
    """Each example's tokens (``[SOT, <|notimestamps|>, text, EOT]``), with the teacher's timestamps in a
    seeded ``share`` of them.

    An example's window is its audio's whole seconds plus ``margin_s``; its timestamps stay within those seconds.
    """
    from tqdm import tqdm

    chosen = set(random.Random(seed).sample(range(len(examples)), round(share * len(examples))))
    margin_steps = round(margin_s / TIME_PER_TIMESTAMP_S)
    out = []
    for i, e in enumerate(tqdm(examples, desc="timestamps", unit="label", dynamic_ncols=True, disable=not chosen)):
        if i not in chosen:
            out.append(list(e.tokens))
            continue
        content = max(1, e.states.shape[0] - margin_steps)
        out.append(timestamped(teacher, e.states, list(e.tokens[2:-1]), content))
    return out
