"""Whisper decoding on onnxruntime and numpy: KV cache, greedy or beam search, Whisper's logit rules.

The encoder graph returns every decoder layer's cross-attention k/v once per window; each decoder
step feeds one token per hypothesis plus the self-attention cache and gets the grown cache back.
Caches are lists of per-layer arrays ``[k_0, v_0, k_1, v_1, ...]``, each (batch, heads, time, head_dim).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from edge_sdk.speech.tokenizer import WhisperTokenizer

MAX_INITIAL_TIMESTAMP_S = 1.0


@dataclass(frozen=True)
class DecodeResult:
    """One decoded window: generated tokens (no prompt, no end token) and their scores."""

    tokens: tuple[int, ...]
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    truncated: bool = False  # stopped before the end token: at the token limit, or (greedy) once looping

    @property
    def looping(self) -> bool:
        """The tokens end in a short pattern repeated at least 4 times (a decoding loop)."""
        return has_loop(self.tokens)


def has_loop(tokens, max_period: int = 6, repeats: int = 4) -> bool:
    """True when ``tokens`` end with a pattern of up to ``max_period`` tokens repeated ``repeats`` times."""
    for period in range(1, max_period + 1):
        n = period * repeats
        if len(tokens) >= n:
            tail = list(tokens[-n:])
            if all(tail[i] == tail[i % period] for i in range(n)):
                return True
    return False


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression; high for repetition loops."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def repeated_ngram_tokens(seq: list[int], n: int, timestamp_begin: int) -> list[int]:
    """Text tokens that would repeat an ``n``-token run of ``seq``'s text (timestamps left out); none when ``n`` < 1."""
    if n < 1:  # the rule is off: nothing to scan at every step
        return []
    text = [s for s in seq if s < timestamp_begin]
    if len(text) < n - 1:
        return []
    tail = text[len(text) - n + 1 :]
    return [text[i + n - 1] for i in range(len(text) - n + 1) if text[i : i + n - 1] == tail]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    shifted = x - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


class WhisperDecoder:
    """Runs the exported encoder and decoder sessions. Stateless between calls; thread-compatible.

    Args:
        encoder: Session of the encoder graph (``mel`` -> ``cross_k_0, cross_v_0, ...``).
        decoder: Session of the decoder graph (``tokens, self_k_i/v_i, cross_k_i/v_i`` -> ``logits, new_self_k_i/v_i``);
            ``logits`` may hold only the last positions (from the start token's on), so rows are read from the end.
        tokenizer: The model's tokenizer.
        suppress_tokens: Token ids never generated.
        begin_suppress_tokens: Token ids not allowed as the first generated token.
        max_target_positions: Decoder context length (448 for Whisper).
    """

    def __init__(self, encoder, decoder, tokenizer: WhisperTokenizer, suppress_tokens, begin_suppress_tokens, max_target_positions: int = 448) -> None:
        self.encoder, self.decoder, self.tok = encoder, decoder, tokenizer
        inputs = decoder.get_inputs()
        self.self_names = [i.name for i in inputs if i.name.startswith("self_")]
        self.cross_names = [i.name for i in inputs if i.name.startswith("cross_")]
        shape = inputs[1].shape  # (batch, heads, past, head_dim)
        self.layers, self.heads, self.head_dim = len(self.self_names) // 2, int(shape[1]), int(shape[3])
        self.max_target_positions = max_target_positions
        outputs = [o.name for o in decoder.get_outputs()]
        self._step_outputs = [n for n in outputs if n != "cross_attn"]  # steps never need the attention weights
        self.has_cross_attention = "cross_attn" in outputs
        vocab = int(decoder.get_outputs()[0].shape[2]) if isinstance(decoder.get_outputs()[0].shape[2], int) else tokenizer.timestamp_begin + 1501
        self.vocab = vocab
        t = tokenizer
        specials = [t.sot, t.sot_prev, t.sot_lm, t.translate, t.transcribe, t.no_speech]
        if not t.multilingual:
            specials += list(range(t.sot, t.no_timestamps))  # language and task tokens never appear in .en output
        mask = np.zeros(vocab, dtype=bool)
        mask[[i for i in (*suppress_tokens, *specials) if 0 <= i < vocab]] = True
        self.suppress_mask = mask
        self.begin_suppress = np.array([i for i in begin_suppress_tokens if 0 <= i < vocab], dtype=np.int64)

    # -- graph calls -------------------------------------------------------------------------
    def encode(self, mel: np.ndarray) -> list[np.ndarray]:
        """Per-layer cross-attention k/v for a ``(n_mels, frames)`` window (frames even, at most 3000)."""
        return self.encoder.run(None, {"mel": mel[None].astype(np.float32, copy=False)})

    def _feeds(self, tokens: np.ndarray, self_kv: list[np.ndarray], cross_kv: list[np.ndarray]) -> dict:
        return {"tokens": tokens, **dict(zip(self.self_names, self_kv, strict=True)), **dict(zip(self.cross_names, cross_kv, strict=True))}

    def _step(self, tokens: np.ndarray, self_kv: list[np.ndarray], cross_kv: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        out = self.decoder.run(self._step_outputs, self._feeds(tokens, self_kv, cross_kv))
        return out[0], out[1:]

    def _empty_cache(self) -> list[np.ndarray]:
        return [np.zeros((1, self.heads, 0, self.head_dim), dtype=np.float32)] * (2 * self.layers)

    def cross_attention(self, tokens: list[int], cross_kv: list[np.ndarray]) -> np.ndarray:
        """Cross-attention weights ``(layers, heads, len(tokens), enc_len)`` of one pass over ``tokens``."""
        feeds = self._feeds(np.array([tokens], dtype=np.int64), self._empty_cache(), cross_kv)
        return self.decoder.run(["cross_attn"], feeds)[0][0]

    # -- logit rules -------------------------------------------------------------------------
    def _filter(self, logits: np.ndarray, seq: list[int], timestamps: bool, max_ts_token: int | None,
                no_repeat_ngram_size: int = 0) -> np.ndarray:
        """Apply suppression and timestamp rules to one hypothesis' logits (copy), as Whisper does, and
        forbid a text token that would repeat an n-gram of ``no_repeat_ngram_size`` (0: no such rule)."""
        x = logits.astype(np.float32, copy=True)
        x[self.suppress_mask] = -np.inf
        t = self.tok
        tb = t.timestamp_begin
        x[repeated_ngram_tokens(seq, no_repeat_ngram_size, tb)] = -np.inf
        if not seq:
            x[self.begin_suppress] = -np.inf
        if not timestamps:
            x[tb:] = -np.inf
            return x
        x[t.no_timestamps] = -np.inf
        last_ts = len(seq) >= 1 and seq[-1] >= tb
        penult_ts = len(seq) < 2 or seq[-2] >= tb
        if last_ts:
            if penult_ts:
                x[tb:] = -np.inf  # pairs of timestamps are closed: text (or end) comes next
            else:
                x[: t.eot] = -np.inf  # an open segment must be closed by a timestamp or end
        stamps = [s for s in seq if s >= tb]
        if stamps:
            floor = stamps[-1] if (last_ts and not penult_ts) else stamps[-1] + 1
            x[tb:floor] = -np.inf  # timestamps never go back
        if not seq:
            x[:tb] = -np.inf
            x[tb + round(MAX_INITIAL_TIMESTAMP_S / 0.02) + 1 :] = -np.inf
        if max_ts_token is not None:
            x[max_ts_token + 1 :] = -np.inf
        logp = _log_softmax(x)
        ts_logp = np.logaddexp.reduce(logp[tb:])
        if ts_logp > np.max(logp[:tb]):
            x[:tb] = -np.inf
        return x

    # -- search ------------------------------------------------------------------------------
    def generate(
        self,
        cross_kv: list[np.ndarray],
        prompt: list[int] | None = None,
        timestamps: bool = True,
        beam_size: int = 1,
        max_new_tokens: int | None = None,
        max_timestamp_s: float | None = None,
        no_speech_stop: float | None = None,
        no_repeat_ngram_size: int = 0,
    ) -> DecodeResult:
        """Decode one encoded window.

        Args:
            cross_kv: Output of :meth:`encode` (batch 1).
            prompt: Previous-text tokens (``<|startofprev|>`` is added here), or None.
            timestamps: Predict timestamp tokens (segment boundaries) or not.
            beam_size: 1 for greedy search, more for beam search.
            max_new_tokens: Cap on generated tokens (default: half the decoder context).
            max_timestamp_s: Latest timestamp allowed (the end of the window's audio).
            no_speech_stop: Return no tokens, without searching, when the no-speech probability
                is above this.
            no_repeat_ngram_size: Never repeat a run of this many text tokens (0: allowed).
        """
        t = self.tok
        head = [t.sot_prev, *prompt[-(self.max_target_positions // 2 - 1) :]] if prompt else []
        sot_index = len(head)
        initial = head + t.sot_sequence() + ([] if timestamps else [t.no_timestamps])
        limit = max_new_tokens or self.max_target_positions // 2
        limit = min(limit, self.max_target_positions - len(initial))
        max_ts = None
        if timestamps and max_timestamp_s is not None:
            max_ts = t.timestamp_begin + int(round(max_timestamp_s / 0.02))
        empty = self._empty_cache()
        logits, kv = self._step(np.array([initial], dtype=np.int64), empty, cross_kv)
        probs = np.exp(_log_softmax(logits[0, sot_index - len(initial)].astype(np.float64)))
        no_speech_prob = float(probs[t.no_speech])
        if no_speech_stop is not None and no_speech_prob > no_speech_stop:
            return DecodeResult((), "", 0.0, no_speech_prob, 0.0)
        last = logits[:, -1]
        if beam_size <= 1:
            tokens, sum_logp, ended = self._greedy(last[0], kv, cross_kv, timestamps, max_ts, limit, no_repeat_ngram_size)
        else:
            tokens, sum_logp, ended = self._beam(last[0], kv, cross_kv, timestamps, max_ts, limit, beam_size, no_repeat_ngram_size)
        text = t.decode(tokens)
        return DecodeResult(
            tokens=tuple(tokens),
            text=text,
            avg_logprob=sum_logp / (len(tokens) + 1),
            no_speech_prob=no_speech_prob,
            compression_ratio=compression_ratio(text),
            truncated=not ended,
        )

    def _greedy(self, logits, kv, cross_kv, timestamps, max_ts, limit, ngram) -> tuple[list[int], float, bool]:
        seq: list[int] = []
        total = 0.0
        for _ in range(limit):
            x = self._filter(logits, seq, timestamps, max_ts, ngram)
            token = int(np.argmax(x))
            total += float(_log_softmax(x)[token])
            if token == self.tok.eot:
                return seq, total, True
            seq.append(token)
            if has_loop(seq):  # the rest would repeat the loop up to the cap: the result is unreliable already
                return seq, total, False
            out, kv = self._step(np.array([[token]], dtype=np.int64), kv, cross_kv)
            logits = out[0, -1]
        return seq, total, False

    def _beam(self, logits, kv, cross_kv, timestamps, max_ts, limit, beam_size, ngram) -> tuple[list[int], float, bool]:
        eot = self.tok.eot
        beams: list[tuple[list[int], float]] = [([], 0.0)]
        all_logits = logits[None]
        finished: list[tuple[list[int], float]] = []
        cross = cross_kv
        for _ in range(limit):
            candidates = []
            for i, (seq, score) in enumerate(beams):
                logp = _log_softmax(self._filter(all_logits[i], seq, timestamps, max_ts, ngram))
                top = np.argpartition(-logp, beam_size)[: beam_size + 1]
                for tok in top:
                    if np.isfinite(logp[tok]):
                        candidates.append((score + float(logp[tok]), i, int(tok)))
            candidates.sort(key=lambda c: -c[0])
            nxt, sources = [], []
            # best first, until beam_size live hypotheses: an end only counts when it outscores one of
            # them (as Whisper does); ends further down would fill ``finished`` with short, weak hypotheses
            for score, i, tok in candidates:
                if tok != eot:
                    nxt.append((beams[i][0] + [tok], score))
                    sources.append(i)
                    if len(nxt) == beam_size:
                        break
                elif len(finished) < beam_size:
                    finished.append((beams[i][0], score))
            if len(finished) >= beam_size or not nxt:
                break
            beams = nxt
            kv = [a[sources] for a in kv]
            if cross[0].shape[0] != len(sources):
                cross = [np.repeat(a, len(sources), axis=0) for a in cross_kv]
            out, kv = self._step(np.array([[s[-1]] for s, _ in beams], dtype=np.int64), kv, cross)
            all_logits = out[:, -1]
        pool = finished or beams
        seq, score = max(pool, key=lambda b: b[1] / max(1, len(b[0]) + 1))
        return seq, score, bool(finished)
