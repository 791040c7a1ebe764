"""Sentence embeddings on onnxruntime with the bundle's tokenizer.

The bundle's ONNX graph takes token ids and returns mean-pooled, L2-normalised sentence
embeddings. Batches are sorted by length and capped by a token budget, so memory per call is
bounded however many sentences come in.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from tokenizers import Tokenizer

from edge_sdk.errors import BundleError
from edge_sdk.runtime import LoadedModel
from edge_sdk.text.segment import Sentence

log = logging.getLogger(__name__)

TOKEN_BUDGET = 1024  # padded tokens per encoder call: bounds activation memory
OVERLONG_BATCH = 512  # sentences tokenized together when looking for overlong ones


class SentenceEncoder:
    """Embeds sentences with one onnxruntime session.

    Args:
        session: An ``onnxruntime.InferenceSession`` of the bundle's encoder (from :mod:`edge_sdk.runtime`).
        tokenizer_json: The bundle's ``tokenizer.json`` bytes.
        max_tokens: The model's context in tokens, special tokens included.
    """

    def __init__(self, session, tokenizer_json: bytes, max_tokens: int) -> None:
        self.session = session
        self.max_tokens = int(max_tokens)
        self.tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.input_names = {i.name for i in session.get_inputs()}

    @classmethod
    def from_model(cls, model: LoadedModel, role: str = "encoder") -> SentenceEncoder:
        """Build from a loaded text bundle (tokenizer asset, ``max_tokens`` preprocessing).

        Raises:
            BundleError: The bundle lacks the encoder role, the tokenizer asset or ``max_tokens``.
        """
        if role not in model.sessions:
            raise BundleError(f"bundle {model.bundle.name!r} variant {model.variant.name!r} has no {role!r} model")
        max_tokens = model.bundle.preprocessing.get("max_tokens")
        if not isinstance(max_tokens, int) or max_tokens < 8:
            raise BundleError(f"bundle {model.bundle.name!r}: preprocessing.max_tokens is {max_tokens!r}; rebuild the bundle")
        return cls(model.sessions[role], model.bundle.read_asset("tokenizer"), max_tokens)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per text, special tokens included."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def split_overlong(self, source: str, sentences: list[Sentence]) -> list[Sentence]:
        """Split sentences longer than the model's context into pieces that fit, at word starts.

        Args:
            source: The text the sentences' offsets point into.
            sentences: Sentences of ``source``.
        """
        out: list[Sentence] = []
        # Tokenized a batch at a time: the encodings of a whole long document would take gigabytes.
        for at in range(0, len(sentences), OVERLONG_BATCH):
            out.extend(self._split_overlong_batch(source, sentences[at : at + OVERLONG_BATCH]))
        return out

    def _split_overlong_batch(self, source: str, sentences: list[Sentence]) -> list[Sentence]:
        budget = self.max_tokens - 2
        out: list[Sentence] = []
        # Every token of ASCII text covers at least one character, so a short ASCII sentence cannot
        # be over the budget; tokenize the rest (normalisation may expand non-ASCII, e.g. Hangul).
        long = [s for s in sentences if len(s.text) > budget or not s.text.isascii()]
        encodings = dict(zip(map(id, long), self.tokenizer.encode_batch([s.text for s in long], add_special_tokens=False), strict=True))
        for sent in sentences:
            enc = encodings.get(id(sent))
            if enc is None or len(enc.ids) <= budget:
                out.append(sent)
                continue
            offsets, words = enc.offsets, enc.word_ids
            start_tok = 0
            while start_tok < len(offsets):
                end_tok = min(start_tok + budget, len(offsets))
                if end_tok < len(offsets):  # back off to the start of a word
                    cut = end_tok
                    while cut > start_tok + budget // 2 and words[cut] is not None and words[cut] == words[cut - 1]:
                        cut -= 1
                    end_tok = cut
                a = sent.start_char + offsets[start_tok][0]
                b = sent.start_char + offsets[end_tok - 1][1]
                text = source[a:b]
                strip_a = len(text) - len(text.lstrip())
                a, b = a + strip_a, b - (len(text) - len(text.rstrip()))
                if b > a:
                    out.append(replace(sent, text=source[a:b], start_char=a, end_char=b))
                start_tok = end_tok
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings, shape ``(len(texts), dim)``, float32, in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        limit = self.max_tokens
        lengths = np.array([min(len(e.ids), limit) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        i = 0
        while i < len(order):
            # the longest item in a sorted batch is its last; grow while the padded size fits
            j = i + 1
            while j < len(order) and (j + 1 - i) * lengths[order[j]] <= TOKEN_BUDGET:
                j += 1
            idx = order[i:j]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, k in enumerate(idx):
                seq = encodings[k].ids[:limit]
                if len(encodings[k].ids) > limit:  # keep the final [SEP]
                    seq = seq[:-1] + [encodings[k].ids[-1]]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            out[idx] = self.session.run(None, feed)[0].astype(np.float32)
            i = j
        return out

    @property
    def dim(self) -> int:
        shape = self.session.get_outputs()[0].shape
        return int(shape[-1]) if isinstance(shape[-1], int) else 384
