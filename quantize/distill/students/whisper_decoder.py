"""The Whisper decoder as both the speech student and its timestamp labelling read it: special token ids and
teacher-forced logits."""

from __future__ import annotations

import torch
from torch import nn

SOT, NO_TIMESTAMPS, EOT = 50257, 50362, 50256


def decoder_logits(model: nn.Module, tokens: torch.Tensor, states: torch.Tensor, pad_mask: torch.Tensor,
                   kept: torch.Tensor | None = None) -> torch.Tensor:
    """Teacher-forced logits (batch, steps, vocab) of ``model``'s decoder; only the ``kept`` tokens' when given."""
    out = model.model.decoder(input_ids=tokens, attention_mask=pad_mask, encoder_hidden_states=states, use_cache=False)
    weight = model.proj_out.weight if kept is None else model.proj_out.weight[kept]
    return out.last_hidden_state @ weight.T
