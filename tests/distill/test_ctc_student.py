"""CTC student: the text normaliser, the training batch, a few steps of CTC, and the bundle it ships."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from edge_sdk.quantize.distill.students.ctc import (
    CTCDistillConfig,
    Example,
    collate,
    ctc_loss,
    features_of,
    mask_features,
    split_validation,
)
from edge_sdk.quantize.distill.students.ctc_text import encode, normalize_text, spell_number
from edge_sdk.quantize.speech.ctc import DEFAULT_VOCAB, CTCConfig, build_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::torch.jit.TracerWarning")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
TEXTS = ("The kitchen light is on.", "Turn left at the next street.", "It's 42 Dr. Smith!", "Open the window.")
SMALL = CTCConfig(rnn_hidden=64, rnn_layers=1, conv_channels=(8, 8))


def test_normaliser_spells_numbers_expands_titles_and_keeps_only_the_vocabulary():
    assert normalize_text("It's 42 Dr. Smith!") == "it's forty two doctor smith"
    assert normalize_text("In 1990, 3.5% of 2nd-tier firms & 21st") == (
        "in nineteen ninety three point five percent of second tier firms and twenty first")
    assert normalize_text("\u2018Caf\u00e9\u2019 \u2014 rock \u2019n\u2019 roll, 007") == "cafe rock n roll zero zero seven"
    assert spell_number(1_000_215) == "one million two hundred fifteen"
    text = normalize_text("Mr. O'Brien paid $1,250 (approx.) on 3/4/2021?")
    assert set(text) <= set(DEFAULT_VOCAB[1:]) and "  " not in text and text == text.strip()
    assert encode("it's ab", DEFAULT_VOCAB) == [11, 22, 2, 21, 1, 3, 4]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="freq_mask_bins"):
        CTCDistillConfig(freq_mask_bins=80)
    with pytest.raises(ValueError, match=">= 0"):
        CTCDistillConfig(max_clips=-1)
    with pytest.raises(ValueError, match="bundle_name"):
        CTCDistillConfig(bundle_name="../elsewhere")


def test_masks_are_seeded_and_hide_at_most_a_fifth_of_the_time():
    feats = torch.randn(50, 80)
    cfg = CTCDistillConfig(time_masks=1, time_mask_frames=40, freq_masks=0)
    masked = [mask_features(feats, cfg, torch.Generator().manual_seed(s)) for s in range(20)]
    assert torch.equal(masked[1], mask_features(feats, cfg, torch.Generator().manual_seed(1)))
    hidden = [int((m != feats).any(dim=1).sum()) for m in masked]
    assert 0 < max(hidden) <= 10  # up to 50 // 5 frames, never the 40 allowed


def test_validation_takes_synthetic_examples_only_and_never_trains_on_them():
    ex = [Example(torch.zeros(3, 80), [3], "a", f"espeak-ng:en-us:clean#{i}") for i in range(41)]
    ex.insert(0, Example(torch.zeros(3, 80), [3], "a", "/data/real.flac"))
    train, val = split_validation(ex)
    assert [e.origin for e in val] == ["espeak-ng:en-us:clean#0", "espeak-ng:en-us:clean#20", "espeak-ng:en-us:clean#40"]
    assert not {id(e) for e in val} & {id(e) for e in train} and len(train) + len(val) == len(ex)


@pytest.fixture(scope="module")
def clips():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    from edge_sdk.quantize.distill.data.audio_corpus import espeak

    audio = [espeak(t, "en-us+m3", 170, 50) for t in TEXTS]
    examples = [Example(torch.from_numpy(features_of(a, SMALL.n_mels)), encode(normalize_text(t), SMALL.vocab), normalize_text(t), "espeak")
                for a, t in zip(audio, TEXTS, strict=True)]
    return audio, examples


@pytest.fixture(scope="module")
def trained(clips):
    torch.set_num_threads(1)
    _, examples = clips
    model = build_model(SMALL, seed=0).train()
    batch = collate(examples, SMALL.context_frames)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss_now() -> float:
        with torch.no_grad():
            return float(ctc_loss(model, batch)[0])

    before = loss_now()
    for _ in range(10):
        loss = ctc_loss(model, batch)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), before, loss_now()


@needs_espeak
def test_a_few_steps_lower_the_ctc_loss(trained):
    _, before, after = trained
    assert after < 0.9 * before, (before, after)


@needs_espeak
def test_written_bundle_matches_training_and_transcribes_in_vocabulary_characters(clips, trained, tmp_path):
    from edge_sdk.quantize.speech.ctc import write_bundle
    from edge_sdk.speech.ctc import CTCModel
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    audio, examples = clips
    model = trained[0]
    torch.save(model.state_dict(), tmp_path / "student.pt")
    root = write_bundle(tmp_path / "bundle", SMALL, weights=tmp_path / "student.pt", name="ctc-test")
    # the runtime's features and zero left context give what the model saw in training
    with torch.no_grad():
        want = ctc_loss(model, collate(examples[:1], SMALL.context_frames))[1][0].numpy()
    np.testing.assert_allclose(CTCModel.create(root, device="x86_64-avx2").log_probs(audio[0]), want, atol=1e-4)
    segments, info = Transcriber.create(TranscriberOptions(bundle=str(root))).transcribe(audio[2], sample_rate=16000)
    text = " ".join(s.text for s in segments)
    assert isinstance(text, str) and set(text) <= set(SMALL.vocab[1:]) and info.bundle == "ctc-test"
