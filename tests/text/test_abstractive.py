"""Abstractive path on a small randomly initialised BART: ONNX decoding equals torch decoding."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import EmptyInputError, InvalidInputError
from edge_sdk.text.abstractive import AbstractiveOptions, AbstractiveSummarizer
from edge_sdk.text.generate import GenerationOptions, banned_ngram_tokens

torch = pytest.importorskip("torch", reason="the torch reference needs edge-sdk-ondevice[quantize]")
transformers = pytest.importorskip("transformers", reason="the torch reference needs edge-sdk-ondevice[quantize]")

WORDS = [f"w{i}" for i in range(196)]
MAX_NEW = 24


def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    return tok.to_str()


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory):
    """(torch model, bundle folder) of a random BART with a word-level tokenizer."""
    from edge_sdk.quantize.text.seq2seq import build_seq2seq

    torch.manual_seed(0)
    cfg = transformers.BartConfig(
        vocab_size=200, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128, init_std=0.5,
    )
    model = transformers.BartForConditionalGeneration(cfg).eval()
    folder = tmp_path_factory.mktemp("tiny-bart")
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_text(_tokenizer_json())
    bundle = build_seq2seq(folder, tmp_path_factory.mktemp("store"), name="tiny-bart", int8_format="u8s8")
    return model, bundle


def _torch_generate(model, ids, **kwargs) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=MAX_NEW, **kwargs)
    return out[0].tolist()[1:]  # drop decoder_start_token_id


def _inputs(n: int = 4) -> list[list[int]]:
    rng = np.random.default_rng(1)
    return [[0, *rng.integers(4, 200, size=int(rng.integers(5, 30))).tolist(), 2] for _ in range(n)]


@pytest.fixture(scope="module")
def onnx_fp32(tiny_bart):
    return AbstractiveSummarizer.create(AbstractiveOptions(bundle=str(tiny_bart[1]), variant="fp32", device="x86_64-avx2"))


@pytest.mark.slow
def test_onnx_greedy_equals_torch_greedy_token_for_token(tiny_bart, onnx_fp32) -> None:
    model, _ = tiny_bart
    outputs = set()
    for ids in _inputs():
        for ngram in (0, 3):
            expected = _torch_generate(model, ids, num_beams=1, no_repeat_ngram_size=ngram, min_new_tokens=2)
            got = onnx_fp32.generate_ids(ids, GenerationOptions(max_new_tokens=MAX_NEW, no_repeat_ngram_size=ngram, min_new_tokens=2))
            assert got == expected
            outputs.add(tuple(got))
    assert len(outputs) > 2, "the random model must not give the same output for every input"


def test_onnx_beam_search_equals_torch_beam_search(tiny_bart, onnx_fp32) -> None:
    model, _ = tiny_bart
    for ids in _inputs(2):
        expected = _torch_generate(model, ids, num_beams=3, no_repeat_ngram_size=3, early_stopping=True)
        got = onnx_fp32.generate_ids(ids, GenerationOptions(max_new_tokens=MAX_NEW, num_beams=3, no_repeat_ngram_size=3))
        assert got == expected


def test_no_repeat_ngram_blocks_repeats(onnx_fp32) -> None:
    got = onnx_fp32.generate_ids(_inputs(1)[0], GenerationOptions(max_new_tokens=MAX_NEW, no_repeat_ngram_size=2))
    seq = [2, *got]
    pairs = list(zip(seq, seq[1:], strict=False))
    assert len(pairs) == len(set(pairs))
    assert banned_ngram_tokens([5, 6, 7, 5], 2) == {6}


def test_length_limits_hold(onnx_fp32) -> None:
    ids = _inputs(1)[0]
    assert len(onnx_fp32.generate_ids(ids, GenerationOptions(max_new_tokens=5))) <= 5
    with pytest.raises(InvalidInputError, match="min_new_tokens"):
        GenerationOptions(max_new_tokens=5, min_new_tokens=9)


def test_int8_variant_decodes_and_summarize_uses_the_bundle_tokenizer(tiny_bart) -> None:
    import onnx

    bundle = tiny_bart[1]
    ops = {n.op_type for n in onnx.load(str(bundle / "int8" / "decoder_with_past_model.onnx")).graph.node}
    assert "MatMulInteger" in ops
    with AbstractiveSummarizer.create(AbstractiveOptions(bundle=str(bundle), variant="int8", device="x86_64-avx2")) as s:
        out = s.summarize(" ".join(WORDS[10:40]), GenerationOptions(max_new_tokens=10))
        assert 0 < len(out.token_ids) <= 10 and out.variant == "int8"
        assert all(w.startswith("w") for w in out.text.split())
        with pytest.raises(EmptyInputError, match="no visible characters"):
            s.summarize("   ")
