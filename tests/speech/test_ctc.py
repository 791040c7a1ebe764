"""CTC path: the DeepSpeech-style model in torch vs ONNX, exact decoders, native streaming, the stream API."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from live_helpers import LONG

from edge_sdk.audio import load_audio
from edge_sdk.bundle import load_bundle
from edge_sdk.errors import BundleError, InvalidInputError
from edge_sdk.speech.ctc import CTCModel, CTCOptions, FeatureConfig, FeatureStream, greedy_decode, prefix_beam_search
from edge_sdk.speech.stream import StreamOptions

torch = pytest.importorskip("torch", reason="building the CTC bundle needs torch (pip install 'edge-sdk-ondevice[quantize]')")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::torch.jit.TracerWarning")


@pytest.fixture(scope="module", params=["gru", "lstm"])
def ctc_bundle(request, tmp_path_factory):
    from edge_sdk.quantize.speech.ctc import CTCConfig, write_bundle

    config = CTCConfig(rnn_type=request.param, rnn_hidden=64, rnn_layers=2)
    return write_bundle(tmp_path_factory.mktemp(f"ctc-{request.param}"), config, seed=3), config


@pytest.fixture(scope="module")
def speech(data_dir) -> np.ndarray:
    return load_audio(data_dir / f"{LONG}.flac")[0][: 20 * 16000]


def test_onnx_output_equals_torch_output(ctc_bundle):
    from edge_sdk.quantize.speech.ctc import build_model, initial_state

    root, config = ctc_bundle
    model = build_model(config, seed=3)
    ctc = CTCModel.create(CTCOptions(root, device="x86_64-avx2"))
    feats = np.random.default_rng(0).normal(0, 1, (1, config.context_frames + 57, config.n_mels)).astype(np.float32)
    state = tuple(np.random.default_rng(1).normal(0, 0.5, s.shape).astype(np.float32) for s in initial_state(config))
    with torch.no_grad():
        want = model(torch.from_numpy(feats), *(torch.from_numpy(s) for s in state))
    got_lp, got_state = ctc.run(feats[0], state)
    np.testing.assert_allclose(got_lp, want[0][0].numpy(), atol=1e-4)
    for g, w in zip(got_state, want[1:], strict=True):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5)


def test_chunked_streaming_equals_one_pass(ctc_bundle, speech):
    root, _ = ctc_bundle
    ctc = CTCModel.create(CTCOptions(root, device="x86_64-avx2"))
    clip = speech[: 3 * 16000]
    whole = ctc.log_probs(clip)
    utt = ctc.start_utterance()
    rng = np.random.default_rng(2)
    i = 0
    while i < clip.shape[0]:
        n = int(rng.integers(1, 4000))
        utt.accept(clip[i : i + n])
        i += n
    assert utt.log_probs.shape == whole.shape == ((clip.shape[0] - 400) // 160 + 1, 29)
    np.testing.assert_allclose(utt.log_probs, whole, atol=1e-4)
    assert utt.finish()[0].text == ctc.decode(clip)[0].text


def test_features_stream_exactly():
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    whole = FeatureStream(FeatureConfig()).accept(audio)
    fs = FeatureStream(FeatureConfig())
    parts = np.concatenate([fs.accept(audio[i : i + 333]) for i in range(0, 16000, 333)])
    np.testing.assert_allclose(parts, whole, atol=1e-5)


def _log_probs(rows: list[list[float]]) -> np.ndarray:
    p = np.array(rows, dtype=np.float64)
    return np.log(p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def test_greedy_decoder_is_exact_on_known_logits():
    # vocab: 0 blank, 1 'a', 2 'b'; best path a a _ a b b _ b -> "a a b b"
    path = [1, 1, 0, 1, 2, 2, 0, 2]
    lp = _log_probs([[0.9 if k == t else 0.05 for k in range(3)] for t in path])
    assert greedy_decode(lp) == [1, 1, 2, 2]
    assert prefix_beam_search(lp, beam_size=4) == [1, 1, 2, 2]


def test_prefix_beam_search_sums_paths_greedy_misses():
    # Two frames of blank 0.6 / 'a' 0.4: best path is blank blank (0.36) but "a" totals 0.64.
    lp = _log_probs([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(lp) == []
    assert prefix_beam_search(lp, beam_size=4) == [1]


def test_prefix_beam_search_probability_matches_brute_force():
    rng = np.random.default_rng(5)
    lp = _log_probs(rng.random((4, 3)).tolist())
    totals: dict[tuple[int, ...], float] = {}
    for path in np.ndindex(*(3,) * 4):
        labels, prev = [], -1
        for t in path:
            if t != prev and t != 0:
                labels.append(t)
            prev = t
        totals[tuple(labels)] = totals.get(tuple(labels), 0.0) + math.exp(sum(lp[i, t] for i, t in enumerate(path)))
    assert tuple(prefix_beam_search(lp, beam_size=27)) == max(totals, key=totals.get)


def test_stream_api_runs_ctc_natively(ctc_bundle, speech):
    root, _ = ctc_bundle
    ctc = CTCModel.create(CTCOptions(root, device="x86_64-avx2"))
    stream = ctc.create_stream(min_silence_ms=560)
    events = []
    for i in range(0, speech.shape[0], 1600):
        events += stream.accept_waveform(speech[i : i + 1600], 16000)
    events += stream.input_finished()
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 5  # the five utterances that start in the first 20 s
    assert all(a.end_s <= b.start_s for a, b in zip(finals, finals[1:], strict=False))
    assert stream.stats.partials > 0 and stream.stats.samples_lost == 0
    assert set("".join(e.text for e in finals)) <= set(ctc.vocab[1:]) | {" "}


def test_closed_ctc_model_and_stream_refuse_further_calls(ctc_bundle, speech):
    from edge_sdk.speech.model import SpeechModel

    root, _ = ctc_bundle
    with CTCModel.create(CTCOptions(root, device="x86_64-avx2")) as ctc, ctc.create_stream() as stream:
        assert isinstance(ctc, SpeechModel) and ctc.incremental
        stream.accept_waveform(speech[:16000], 16000)
    assert ctc.loaded is None and ctc._session is None
    for call in (
        lambda: ctc.decode(speech[:16000]),
        ctc.start_utterance,
        ctc.create_stream,
        lambda: stream.accept_waveform(speech[:1600], 16000),
        stream.input_finished,
    ):
        with pytest.raises(InvalidInputError, match="closed"):
            call()
    ctc.close()
    stream.close()  # both idempotent


def test_ctc_model_is_created_from_options_and_keeps_its_provenance_after_close(ctc_bundle, speech):
    root, _ = ctc_bundle
    clip = speech[: 3 * 16000]
    with CTCModel.create(CTCOptions(root, device="x86_64-avx2")) as ctc:
        want = [s.text for s in ctc.decode(clip)]
        with CTCModel.create(str(root), device="x86_64-avx2") as sugar:  # a bundle and keywords fill the options in
            assert [s.text for s in sugar.decode(clip)] == want
    assert ctc.closed and ctc.provenance.bundle == load_bundle(root).name and ctc.provenance.variant == ctc.variant
    assert ctc.provenance.to_dict()["providers"] == list(ctc.providers) == ["CPUExecutionProvider"]


def test_ctc_options_are_validated_and_not_mixed_with_fields(ctc_bundle):
    root, _ = ctc_bundle
    with pytest.raises(InvalidInputError, match="beam_size"):
        CTCOptions(root, beam_size=0)
    with pytest.raises(InvalidInputError, match="no other fields"):
        CTCModel.create(CTCOptions(root), beam_size=2)


def test_ctc_bundle_with_bad_vocab_is_refused(ctc_bundle, tmp_path):
    import shutil

    root, _ = ctc_bundle
    copy = tmp_path / "bad"
    shutil.copytree(root, copy)
    meta = json.loads((copy / "bundle.json").read_text())
    (copy / meta["assets"]["vocab"]["path"]).write_text('{"not": "a list"}')
    with pytest.raises(BundleError):
        CTCModel.create(CTCOptions(load_bundle(copy), device="x86_64-avx2"))


def test_stream_options_still_validate_for_ctc(ctc_bundle):
    with pytest.raises(ValueError, match="partial_interval_s"):
        StreamOptions(partial_interval_s=-1)


def test_transcriber_runs_a_ctc_bundle_offline_and_live(ctc_bundle, speech):
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    root, _ = ctc_bundle
    asr = Transcriber.create(TranscriberOptions(bundle=str(root), device="x86_64-avx2"))
    clip = speech[: 9 * 16000]
    direct = CTCModel.create(CTCOptions(root, device="x86_64-avx2"))
    assert [s.text for s in asr.decode(clip)] == [s.text for s in direct.decode(clip)]
    stream = asr.create_stream(min_silence_ms=560)
    events = stream.accept_waveform(clip, 16000) + stream.input_finished()
    assert stream._decoder.incremental  # the stream runs the CTC model natively, chunk by chunk
    assert len([e for e in events if e.kind == "final"]) == 2
