"""Word timestamps from Whisper's cross-attention, as Whisper does it (``whisper/timing.py``).

The decoder reads the text tokens once more; the cross-attention weights of the model's alignment heads
say which audio frames each token attends to. The weights are softmax-normalised per token, standardised
per frame, median-filtered along time and averaged over the heads; dynamic time warping through that
matrix gives a monotonic token-to-frame path, and each word starts where the path reaches its first token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENCODER_FRAMES_PER_S = 50  # encoder frames: 20 ms each
MEDIAN_WIDTH = 7
PREPEND_PUNCTUATION = "\"'\u201c\u00bf([{-"
APPEND_PUNCTUATION = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001"


@dataclass(frozen=True)
class Word:
    """A word with its times in seconds from the start of the input audio.

    ``text`` keeps Whisper's leading space, so ``"".join(w.text for w in words)`` is the segment's text.
    """

    text: str
    start_s: float
    end_s: float


def median_filter(x: np.ndarray, width: int = MEDIAN_WIDTH) -> np.ndarray:
    """Median over a sliding window along the last axis, reflect-padded (as Whisper's)."""
    if width <= 1 or x.shape[-1] <= width // 2:
        return x
    pad = width // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.median(windows, axis=-1)


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest monotonic path through ``cost`` (tokens x frames): ``(token_indices, frame_indices)``."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    step = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0: diagonal, 1: from above (token), 2: from the left (frame)
    for i in range(1, n + 1):
        row = cost[i - 1]
        for j in range(1, m + 1):
            c0, c1, c2 = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
            if c0 < c1 and c0 < c2:  # Whisper's order of preference on ties
                acc[i, j], step[i, j] = c0 + row[j - 1], 0
            elif c1 < c0 and c1 < c2:
                acc[i, j], step[i, j] = c1 + row[j - 1], 1
            else:
                acc[i, j], step[i, j] = c2 + row[j - 1], 2
    i, j, path = n, m, []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            s = step[i, j]
            i, j = (i - 1, j - 1) if s == 0 else ((i - 1, j) if s == 1 else (i, j - 1))
    path.reverse()
    tokens, frames = np.array(path).T
    return tokens, frames


def split_words(tokens: list[int], decode) -> tuple[list[str], list[list[int]]]:
    """Group text tokens into words: a word starts at a leading space or a punctuation mark
    (Whisper's rule for space-separated languages); tokens that only make a character together stay together."""
    pieces: list[tuple[str, list[int]]] = []
    pending: list[int] = []
    for t in tokens:
        pending.append(t)
        text = decode(pending)
        if "\ufffd" not in text:
            pieces.append((text, pending))
            pending = []
    words: list[str] = []
    groups: list[list[int]] = []
    for text, toks in pieces:
        if not words or text.startswith(" ") or text.strip() in APPEND_PUNCTUATION + PREPEND_PUNCTUATION:
            words.append(text)
            groups.append(list(toks))
        else:
            words[-1] += text
            groups[-1].extend(toks)
    return words, groups


def merge_punctuation(words: list[Word]) -> list[Word]:
    """Attach opening punctuation to the next word and closing punctuation to the previous one."""
    out: list[Word] = []
    carry = ""
    for w in words:
        bare = w.text.strip()
        if bare and all(c in PREPEND_PUNCTUATION for c in bare):
            carry += w.text
            continue
        if out and bare and all(c in APPEND_PUNCTUATION for c in bare):
            last = out[-1]
            out[-1] = Word(last.text + w.text.strip(), last.start_s, last.end_s)
            continue
        text = w.text
        if carry:
            lead = " " if carry.startswith(" ") or text.startswith(" ") else ""
            text, carry = lead + carry.strip() + text.lstrip(), ""
        out.append(Word(text, w.start_s, w.end_s))
    return out


def align_words(weights: np.ndarray, heads: list[list[int]], text_tokens: list[int], prefix: int, frames: int,
                decode, offset_s: float = 0.0) -> list[Word]:
    """Words of ``text_tokens`` with start and end times.

    Args:
        weights: Cross-attention ``(layers, heads, prefix + len(text_tokens) + 1, enc_len)`` of one decoder
            pass over ``prompt + text_tokens + [eot]``.
        heads: The model's alignment heads as ``[layer, head]`` pairs.
        text_tokens: The decoded text tokens (no timestamps, no special tokens).
        prefix: Number of tokens before the text (start of transcript, no-timestamps...).
        frames: Encoder frames that hold audio (the rest is padding).
        decode: Token ids -> text.
        offset_s: Added to every time (the window's start in the input).
    """
    if not text_tokens or frames < 2:
        return []
    w = np.stack([weights[layer, head] for layer, head in heads])[:, :, :frames].astype(np.float64)
    w /= np.maximum(w.sum(axis=-1, keepdims=True), 1e-20)  # the softmax over the audio frames only
    mean, std = w.mean(axis=1, keepdims=True), w.std(axis=1, keepdims=True)
    w = median_filter((w - mean) / np.maximum(std, 1e-10))
    matrix = w.mean(axis=0)[prefix - 1 : prefix + len(text_tokens)]  # the token before the text, then the text
    token_idx, frame_idx = dtw(-matrix)
    words, groups = split_words(text_tokens, decode)
    bounds = np.concatenate([[0], np.cumsum([len(g) for g in groups])])
    jumps = np.concatenate([[True], np.diff(token_idx) > 0])
    jump_times = frame_idx[jumps] / ENCODER_FRAMES_PER_S  # when the path enters each row; row r predicts text token r
    out = [
        Word(text, round(offset_s + float(jump_times[bounds[k]]), 3), round(offset_s + float(jump_times[bounds[k + 1]]), 3))
        for k, text in enumerate(words)
    ]
    return merge_punctuation(out)
