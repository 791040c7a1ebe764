"""Greedy and beam-search decoding of an ONNX encoder/decoder with KV cache, in numpy.

Follows the Hugging Face ``generate`` conventions so that ONNX output matches torch output:
decoding starts from ``decoder_start_token_id``; ``forced_bos_token_id`` is the first generated
token; ``forced_eos_token_id`` is forced at the last allowed step; ``min_new_tokens`` suppresses
EOS; ``no_repeat_ngram_size`` bans any n-gram already generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_sdk.errors import BundleError, InvalidInputError


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding settings.

    Attributes:
        max_new_tokens: Hard cap on generated tokens (EOS included).
        min_new_tokens: EOS is not allowed before this many tokens.
        num_beams: 1 is greedy search; more is beam search.
        length_penalty: Beam scores are divided by ``length ** length_penalty``.
        no_repeat_ngram_size: Ban repeating any n-gram of this size (0 disables).
    """

    max_new_tokens: int = 64
    min_new_tokens: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "num_beams"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InvalidInputError(f"GenerationOptions.{name}={getattr(self, name)!r}: use an integer >= 1")
        for name in ("min_new_tokens", "no_repeat_ngram_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise InvalidInputError(f"GenerationOptions.{name}={getattr(self, name)!r}: use an integer >= 0")
        if self.min_new_tokens > self.max_new_tokens:
            raise InvalidInputError(f"min_new_tokens={self.min_new_tokens} exceeds max_new_tokens={self.max_new_tokens}; lower it")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def banned_ngram_tokens(tokens: list[int], n: int) -> set[int]:
    """Tokens that would complete an n-gram already present in ``tokens``."""
    if n <= 0 or len(tokens) + 1 < n:
        return set()
    prefix = tuple(tokens[len(tokens) - n + 1 :]) if n > 1 else ()
    return {tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i : i + n - 1]) == prefix}


class Seq2SeqDecoder:
    """Runs an encoder, a first-step decoder and a decoder with past, as exported by ``edge_sdk.quantize.text.seq2seq``.

    Args:
        sessions: ``{"encoder", "decoder", "decoder_with_past"}`` onnxruntime sessions.
        facts: The bundle's preprocessing (token ids, layer count).
    """

    def __init__(self, sessions: dict, facts: dict) -> None:
        missing = {"encoder", "decoder", "decoder_with_past"} - set(sessions)
        if missing:
            raise BundleError(f"seq2seq bundle lacks {sorted(missing)}; rebuild it with edge_sdk.quantize.text.seq2seq.build_seq2seq")
        self.enc, self.dec, self.dec_past = sessions["encoder"], sessions["decoder"], sessions["decoder_with_past"]
        self.facts = facts
        self.start = int(facts["decoder_start_token_id"])
        self.eos = facts.get("eos_token_id")
        self.forced_bos = facts.get("forced_bos_token_id")
        self.forced_eos = facts.get("forced_eos_token_id")
        self.past_names = [i.name for i in self.dec_past.get_inputs() if i.name.startswith("past_key_values")]
        self.present_names = [o.name for o in self.dec.get_outputs() if o.name.startswith("present")]
        self.past_out_names = [o.name for o in self.dec_past.get_outputs() if o.name.startswith("present")]

    def encode(self, input_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(encoder hidden states, attention mask) for one sequence, batch of 1."""
        ids = np.asarray(input_ids, dtype=np.int64).reshape(1, -1)
        mask = np.ones_like(ids)
        return self.enc.run(None, {"input_ids": ids, "attention_mask": mask})[0], mask

    def _first(self, hidden: np.ndarray, mask: np.ndarray, batch: int) -> tuple[np.ndarray, dict]:
        ids = np.full((batch, 1), self.start, dtype=np.int64)
        feeds = {"input_ids": ids, "encoder_hidden_states": hidden, "encoder_attention_mask": mask}
        outs = self.dec.run(None, {k: v for k, v in feeds.items() if k in {i.name for i in self.dec.get_inputs()}})
        names = [o.name for o in self.dec.get_outputs()]
        cache = {n.replace("present", "past_key_values"): v for n, v in zip(names, outs, strict=True) if n.startswith("present")}
        return outs[0][:, -1, :], cache

    def _step(self, tokens: np.ndarray, mask: np.ndarray, cache: dict) -> tuple[np.ndarray, dict]:
        feeds = {"input_ids": tokens.reshape(-1, 1).astype(np.int64), "encoder_attention_mask": mask, **cache}
        wanted = {i.name for i in self.dec_past.get_inputs()}
        outs = self.dec_past.run(None, {k: v for k, v in feeds.items() if k in wanted})
        names = [o.name for o in self.dec_past.get_outputs()]
        new = dict(cache)
        for n, v in zip(names, outs, strict=True):
            if n.startswith("present"):
                new[n.replace("present", "past_key_values")] = v
        return outs[0][:, -1, :], new

    def _constrain(self, logprobs: np.ndarray, seqs: list[list[int]], step: int, opts: GenerationOptions) -> np.ndarray:
        """Apply forced tokens, min length and n-gram bans (in place) to per-sequence log-probs."""
        for row, seq in enumerate(seqs):
            if step == 0 and self.forced_bos is not None:
                keep = logprobs[row, self.forced_bos]
                logprobs[row, :] = -np.inf
                logprobs[row, self.forced_bos] = keep if np.isfinite(keep) else 0.0
                continue
            if step == opts.max_new_tokens - 1 and self.forced_eos is not None:
                logprobs[row, :] = -np.inf
                logprobs[row, self.forced_eos] = 0.0
                continue
            if self.eos is not None and step < opts.min_new_tokens:
                logprobs[row, self.eos] = -np.inf
            for t in banned_ngram_tokens([self.start, *seq], opts.no_repeat_ngram_size):
                logprobs[row, t] = -np.inf
        return logprobs

    def greedy(self, input_ids, opts: GenerationOptions) -> list[int]:
        """Greedy decoding; returns generated token ids (EOS included when produced)."""
        hidden, mask = self.encode(input_ids)
        logits, cache = self._first(hidden, mask, 1)
        seq: list[int] = []
        for step in range(opts.max_new_tokens):
            if step:
                logits, cache = self._step(np.array([seq[-1]]), mask, cache)
            scores = self._constrain(logits.astype(np.float64).copy(), [seq], step, opts)
            token = int(np.argmax(scores[0]))
            seq.append(token)
            if token == self.eos:
                break
        return seq

    def beam(self, input_ids, opts: GenerationOptions) -> list[int]:
        """Beam search (``opts.num_beams`` beams); returns the best finished hypothesis."""
        k = opts.num_beams
        hidden, mask = self.encode(input_ids)
        hidden, mask = np.repeat(hidden, k, axis=0), np.repeat(mask, k, axis=0)
        logits, cache = self._first(hidden, mask, k)
        seqs: list[list[int]] = [[] for _ in range(k)]
        scores = np.full(k, -np.inf)
        scores[0] = 0.0  # identical beams at the start: let only one expand
        finished: list[tuple[float, list[int]]] = []
        for step in range(opts.max_new_tokens):
            if step:
                logits, cache = self._step(np.array([s[-1] for s in seqs]), mask, cache)
            logp = self._constrain(_log_softmax(logits), seqs, step, opts)
            total = (scores[:, None] + logp).reshape(-1)
            order = np.argsort(-total, kind="stable")[: 2 * k]
            vocab = logp.shape[1]
            next_seqs, next_scores, rows = [], [], []
            for flat in order:
                if not np.isfinite(total[flat]):
                    break
                row, token = divmod(int(flat), vocab)
                seq = [*seqs[row], token]
                if token == self.eos or step == opts.max_new_tokens - 1:
                    finished.append((float(total[flat]) / (len(seq) ** opts.length_penalty), seq))
                    if token == self.eos:
                        continue
                if len(next_seqs) < k:
                    next_seqs.append(seq)
                    next_scores.append(float(total[flat]))
                    rows.append(row)
            best_done = max((f[0] for f in finished), default=-np.inf)
            if not next_seqs or (len(finished) >= k and best_done >= max(next_scores) / ((step + 1) ** opts.length_penalty)):
                break
            while len(next_seqs) < k:  # pad with dead beams so shapes stay fixed
                next_seqs.append(list(next_seqs[0]))
                next_scores.append(-np.inf)
                rows.append(rows[0])
            seqs, scores = next_seqs, np.array(next_scores)
            idx = np.array(rows)
            cache = {n: (v[idx] if ".decoder." in n else v) for n, v in cache.items()}
        if not finished:
            return seqs[0]
        return max(finished, key=lambda f: f[0])[1]

    def generate(self, input_ids, opts: GenerationOptions) -> list[int]:
        """Greedy when ``opts.num_beams == 1``, else beam search."""
        return self.greedy(input_ids, opts) if opts.num_beams == 1 else self.beam(input_ids, opts)
