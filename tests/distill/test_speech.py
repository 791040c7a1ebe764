"""Speech student: the audio recipe and a few decoder-only steps toward the Whisper teacher."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_sdk.quantize.distill.data.audio_corpus import (
    FLITE_VOICES,
    Clip,
    augment,
    espeak,
    long_form_clips,
    noise,
    synthetic_clips,
)
from edge_sdk.quantize.distill.students.speech import (
    EOT,
    NO_TIMESTAMPS,
    SOT,
    SpeechDistillConfig,
    decoder_logits,
    distill_loss,
    encoder_states,
    load_trained_layers,
    make_student,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")


def test_augmentation_keeps_the_length_and_adds_noise_at_the_drawn_snr():
    rng = np.random.default_rng(0)
    clean = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32) * 0.3
    out, what = augment(clean, rng)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert 5 <= what["snr_db"] <= 25 and what["noise"] in ("car", "kitchen")
    assert not np.allclose(out, clean)
    for kind in ("car", "kitchen"):
        assert np.std(noise(rng, 8000, kind)) == pytest.approx(1.0, rel=0.01)


def test_long_form_windows_join_neighbouring_clips_with_their_words_in_order():
    clips = [Clip(np.full(int(16000 * s), k + 1, np.float32), f"word{k}", f"c{k}") for k, s in enumerate([4, 6, 5, 9, 3, 31, 7, 2])]
    windows = long_form_clips(clips, passes=2, rng=np.random.default_rng(0), seconds=(10, 20))
    first = [w for w in windows if w.origin.startswith("long-form:p0:")]
    assert [w.reference for w in first] == ["word0 word1 word2", "word3 word4"]  # 31 s never fits, 9.5 s left is too short
    for w in windows:
        words = [int(x.removeprefix("word")) for x in w.reference.split()]
        assert len(words) >= 2 and 10 <= len(w.audio) / 16000 <= 20
        assert [int(v) - 1 for v in np.unique(w.audio[w.audio > 0])] == sorted(words)  # the words' own audio
        assert np.sum(w.audio > 0) == sum(len(clips[k].audio) for k in words)  # nothing cut, silence between
    assert any(w.origin.startswith("long-form:p1:") for w in windows)
    with pytest.raises(ValueError, match="long-form"):
        long_form_clips(clips, passes=-1, rng=np.random.default_rng(0))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="kl_weight"):
        SpeechDistillConfig(kl_weight=2.0)
    with pytest.raises(ValueError, match="timestamp_share"):
        SpeechDistillConfig(timestamp_share=1.5)
    with pytest.raises(ValueError, match="tts_engines"):
        SpeechDistillConfig(tts_engines=("festival",))
    with pytest.raises(ValueError, match="both trained on and evaluated on"):
        SpeechDistillConfig(data=("extra.tsv",), eval_data=("extra.tsv",))


def test_eval_data_joins_the_held_out_clips_and_is_never_gathered_for_training(data_dir, tmp_path):
    from edge_sdk.quantize.distill.students.speech import gather_clips, held_out_rows

    shared = data_dir / "speech" / "librispeech" / "237-134500-0000.flac"
    (tmp_path / "extra.tsv").write_text(f"{shared}\tHE HOPED THERE WOULD BE STEW FOR DINNER\n")
    cfg = SpeechDistillConfig(eval_data=(str(tmp_path / "extra.tsv"),), real_copies=0, synthetic_clips=0)
    held = held_out_rows(cfg, data_dir)
    assert held[-1] == (shared, "HE HOPED THERE WOULD BE STEW FOR DINNER")
    assert len(held) == len(held_out_rows(SpeechDistillConfig(), data_dir)) + 1
    clips, gathered_held = gather_clips(cfg, data_dir, [])
    assert gathered_held == held and all(c.origin not in {str(p) for p, _ in held} for c in clips)


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("flite")), reason="needs espeak-ng and flite")
def test_synthetic_clips_take_turns_between_engines_and_are_seeded():
    sentences = ["The council was formed to advise the president.", "Growth depends on three factors."]
    clips = synthetic_clips(sentences, 4, seed=3, augment_share=0.0, engines=("espeak-ng", "flite"))
    assert [c.origin.split(":")[0] for c in clips] == ["espeak-ng", "flite", "espeak-ng", "flite"]
    assert all(c.reference in sentences for c in clips)
    assert {c.origin.split(":")[1] for c in clips[1::2]} <= set(FLITE_VOICES)
    for c in clips:  # a 5-8 word sentence takes 1-5 s to say, at 16 kHz
        assert c.audio.dtype == np.float32 and 16000 <= len(c.audio) <= 5 * 16000 and np.abs(c.audio).max() > 0.05
    again = synthetic_clips(sentences, 4, seed=3, augment_share=0.0, engines=("espeak-ng", "flite"))
    assert [c.origin for c in again] == [c.origin for c in clips]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(again, clips, strict=True))


@pytest.fixture(scope="module")
def teacher():
    from edge_sdk.quantize.speech.whisper_import import load_whisper

    model = load_whisper().model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_student_keeps_first_and_last_decoder_layers_and_trains_only_the_decoder(teacher):
    student = make_student(teacher, (0, 3))
    assert len(student.model.decoder.layers) == 2 and student.config.decoder_layers == 2
    assert torch.equal(student.model.decoder.layers[1].fc1.weight, teacher.model.decoder.layers[3].fc1.weight)
    trainable = {n.split(".")[2] for n, p in student.named_parameters() if p.requires_grad}
    assert trainable == {"layers", "layer_norm"}  # model.decoder.{layers,layer_norm}: encoder and embeddings frozen


def test_student_dropout_acts_in_training_mode_only(teacher):
    student = make_student(teacher, (0, 3), dropout=0.3)
    layer = student.model.decoder.layers[0]
    x = torch.randn(1, 5, teacher.config.d_model)
    assert torch.equal(layer.eval()(x)[0], layer(x)[0])
    torch.manual_seed(0)
    assert not torch.allclose(layer.train()(x)[0], layer.eval()(x)[0])
    assert make_student(teacher, (0, 3)).model.decoder.layers[0].dropout == 0.0


def test_a_smaller_student_starts_from_the_layers_a_previous_run_trained(teacher, tmp_path):
    import json

    from edge_sdk.errors import InvalidInputError

    trained = make_student(teacher, (0, 2, 3))
    with torch.no_grad():
        for p in trained.model.decoder.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.01)
    torch.save({"model": trained.state_dict()}, tmp_path / "checkpoint.pt")
    (tmp_path / "report.json").write_text(json.dumps({"recipe": {"config": {"keep_layers": [0, 2, 3]}}}))
    student = make_student(teacher, (0, 1, 3))
    assert load_trained_layers(student, tmp_path, (0, 1, 3)) == [0, 3]
    got, was = student.model.decoder, trained.model.decoder
    assert torch.equal(got.layers[0].fc1.weight, was.layers[0].fc1.weight)
    assert torch.equal(got.layers[2].fc1.weight, was.layers[2].fc1.weight)  # teacher layer 3: the run's third
    assert torch.equal(got.layers[1].fc1.weight, teacher.model.decoder.layers[1].fc1.weight)  # a layer it did not keep
    assert torch.equal(got.layer_norm.weight, was.layer_norm.weight)
    assert torch.equal(student.model.encoder.conv1.weight, teacher.model.encoder.conv1.weight)
    with pytest.raises(InvalidInputError, match="share none"):
        load_trained_layers(make_student(teacher, (1,)), tmp_path, (1,))
    with pytest.raises(InvalidInputError, match="checkpoint.pt and report.json"):
        load_trained_layers(student, tmp_path / "missing", (0, 3))


@needs_espeak
def test_a_few_steps_lower_the_loss_and_move_the_student_toward_the_teacher(teacher):
    from tokenizers import Tokenizer

    from edge_sdk.quantize.speech.whisper_import import packaged_model_dir
    from edge_sdk.speech.features import log_mel
    from edge_sdk.speech.transcriber import window_frames

    torch.set_num_threads(1)
    torch.manual_seed(0)
    tok = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
    texts = ["The kitchen light is on.", "Turn left at the next street."]
    states, tokens = [], []
    for text in texts:
        audio = espeak(text, "en-us+m3", 160, 50)
        with torch.no_grad():
            states.append(encoder_states(teacher, torch.from_numpy(log_mel(audio, window_frames(len(audio), 1.0)))[None]))
        tokens.append([SOT, NO_TIMESTAMPS, *tok.encode(" " + text, add_special_tokens=False).ids, EOT])
    frames = max(s.shape[1] for s in states)
    h = torch.cat([torch.nn.functional.pad(s, (0, 0, 0, frames - s.shape[1])) for s in states])
    n = max(len(t) for t in tokens)
    ids = torch.tensor([t + [EOT] * (n - len(t)) for t in tokens])
    mask = torch.tensor([[1] * len(t) + [0] * (n - len(t)) for t in tokens])
    student = make_student(teacher, (0, 3))
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=3e-4)
    with torch.no_grad():
        t_logits = decoder_logits(teacher, ids[:, :-1], h, mask[:, :-1])

    def kl_to_teacher():
        with torch.no_grad():
            s = decoder_logits(student, ids[:, :-1], h, mask[:, :-1])
            return float(distill_loss(s, t_logits, ids[:, 1:], mask[:, 1:], kl_weight=1.0, temperature=1.0))

    before, losses = kl_to_teacher(), []
    for _ in range(6):
        loss = distill_loss(decoder_logits(student, ids[:, :-1], h, mask[:, :-1]), t_logits, ids[:, 1:], mask[:, 1:], 0.8, 2.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert kl_to_teacher() < 0.8 * before


def test_kept_vocabulary_holds_the_first_tokens_the_labels_and_every_special_token():
    from edge_sdk.quantize.speech.vocab_trim import input_remap, kept_tokens, output_index

    kept = kept_tokens(100, [5000, 50, 99999], vocab=51864)
    assert kept[:100].tolist() == list(range(100)) and 5000 in kept and 99999 not in kept
    assert set(range(EOT, 51864)) <= set(kept.tolist()) and len(kept) == 100 + 1 + (51864 - EOT)
    index = output_index(kept, 51864)
    assert index[5000] == 100 and index[4999] == len(kept)
    embedding = torch.eye(6)
    embedding[4] = torch.tensor([0.0, 1.0, 0.1, 0, 0, 0])  # dropped token 4 is closest to kept token 1
    remap = input_remap(embedding, torch.tensor([0, 1, 2, 3, 5]))
    assert remap.tolist() == [0, 1, 2, 3, 1, 4]


def test_a_word_without_a_kept_token_is_spelled_in_kept_pieces(speech_bundle):
    from tokenizers import Tokenizer

    from edge_sdk.quantize.speech.vocab_trim import kept_tokens, respell, spelling

    tok = Tokenizer.from_file(str(Path(speech_bundle) / "tokenizer.json"))
    pieces = [tok.id_to_token(i) for i in range(tok.get_vocab_size())]
    kept = kept_tokens(32000, [], vocab=51864)
    spelled = spelling(pieces, kept)
    ids = tok.encode(" so restless, she prayed", add_special_tokens=False).ids
    assert {42537, 32168} <= set(ids)  # " restless" and " prayed" are past the first 32,000
    out = respell(ids, spelled)
    assert set(out) <= set(kept.tolist())
    assert tok.decode(out) == " so restless, she prayed"
    assert [pieces[i] for i in spelled[42537]] == ["Ġrest", "less"]
    with pytest.raises(ValueError, match="single-byte"):
        spelling(pieces, kept[256:])


def test_a_student_that_spells_dropped_words_keeps_no_label_token_past_the_first():
    from edge_sdk.quantize.distill.students.speech import Example, SpeechDistillConfig, output_vocabulary

    examples = [Example(torch.zeros(1, 384), [50257, 42537, 50256], "clip")]
    cfg = SpeechDistillConfig(output_vocab_first=32000)
    assert cfg.spell_dropped_words  # the default
    assert 42537 not in output_vocabulary(cfg, examples)
    assert 42537 in output_vocabulary(dataclasses.replace(cfg, spell_dropped_words=False), examples)
    assert output_vocabulary(dataclasses.replace(cfg, output_vocab_first=0), examples) is None


def test_trimmed_decoder_graph_matches_the_teacher_on_kept_tokens_and_rules_out_the_rest(teacher, tmp_path, speech_bundle, data_dir):
    import onnxruntime as ort

    from edge_sdk.quantize.speech.export import export_onnx
    from edge_sdk.quantize.speech.vocab_trim import kept_tokens

    kept = kept_tokens(2000, [], vocab=51864)
    files = export_onnx(teacher, tmp_path, kept)
    enc = ort.InferenceSession(str(files["encoder"]), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(files["decoder"]), providers=["CPUExecutionProvider"])
    mel = np.random.default_rng(0).standard_normal((1, 80, 200)).astype(np.float32)
    cross = enc.run(None, {"mel": mel})
    tokens = np.array([[SOT, NO_TIMESTAMPS, 440, 3000]], dtype=np.int64)  # 3000 is dropped: read as its nearest kept token
    empty = np.zeros((1, 6, 0, 64), np.float32)
    feeds = {"tokens": tokens[:, :3], **{i.name: empty for i in dec.get_inputs() if i.name.startswith("self_")},
             **{n.name: c for n, c in zip([i for i in dec.get_inputs() if i.name.startswith("cross_")], cross, strict=True)}}
    logits = dec.run(["logits"], feeds)[0][0]
    with torch.no_grad():
        want = decoder_logits(teacher, torch.from_numpy(tokens[:, :3]), encoder_states(teacher, torch.from_numpy(mel)),
                              torch.ones(1, 3, dtype=torch.long))[0].numpy()
    assert logits.shape == want.shape == (3, 51864)
    dropped = np.ones(51864, bool)
    dropped[kept.numpy()] = False
    assert np.isneginf(logits[:, dropped]).all()
    np.testing.assert_allclose(logits[:, ~dropped], want[:, ~dropped], atol=2e-3)
    feeds["tokens"] = tokens
    assert np.isfinite(dec.run(["logits"], feeds)[0]).any(axis=-1).all()

    # the runtime drives the trimmed graphs as a variant, unchanged; 32,000 tokens keep the teacher's transcript
    from edge_sdk.quantize.bundle_writer import scratch_copy
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    files = export_onnx(teacher, tmp_path / "32k", kept_tokens(32000, [], vocab=51864))
    scratch = scratch_copy(speech_bundle, tmp_path / "bundle", {"distilled": files})
    clip = data_dir / "speech" / "librispeech" / "237-134500-0000.flac"
    texts = {v: " ".join(s.text for s in Transcriber.create(TranscriberOptions(bundle=str(scratch), variant=v)).transcribe(clip)[0])
             for v in ("fp32", "distilled")}
    assert texts["distilled"] == texts["fp32"] and len(texts["fp32"].split()) > 10


@needs_espeak
def test_pseudo_labels_filter_far_transcripts_and_transcribe_each_clip_once(speech_bundle, tmp_path, monkeypatch):
    from edge_sdk.quantize.distill.data.audio_corpus import Clip
    from edge_sdk.quantize.distill.data.pseudo_labels import pseudo_labels
    from edge_sdk.speech.transcriber import Transcriber

    audio = espeak("Turn left at the next street.", "en-us+m3", 150, 50)
    clips = [Clip(audio, "Turn left at the next street.", "a"), Clip(audio, "The council advised the president.", "b"),
             Clip(audio[::-1].copy(), "", "c")]
    cache = tmp_path / "labels.jsonl"
    kept, dropped = pseudo_labels(str(speech_bundle), clips, max_wer=0.4, cache=cache)
    assert [c.origin for c, _ in kept] == ["a", "c"] and dropped == 1  # "b": its reference is far from what is said
    assert "left" in kept[0][1].lower() and "street" in kept[0][1].lower()
    assert len(cache.read_text().splitlines()) == 2  # one transcript per distinct audio

    def no_transcriber(*args, **kwargs):
        raise AssertionError("a cached clip was transcribed again")

    monkeypatch.setattr(Transcriber, "create", no_transcriber)
    assert pseudo_labels(str(speech_bundle), clips, max_wer=0.4, cache=cache) == (kept, dropped)


def test_a_student_variant_carries_its_own_alignment_heads_for_word_timestamps(teacher, tmp_path, speech_bundle, data_dir):
    """The teacher's heads name decoder layers 1-3; a student keeping layers 0, 2 and 3 renumbers them (untrained,
    3 layers still transcribe the clip; 2 do not)."""
    from edge_sdk.bundle import load_bundle
    from edge_sdk.errors import BundleError
    from edge_sdk.quantize.bundle_writer import scratch_copy
    from edge_sdk.quantize.distill.students.speech import student_preprocessing
    from edge_sdk.quantize.speech.export import export_onnx
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    keep = (0, 2, 3)
    heads = load_bundle(speech_bundle).preprocessing["alignment_heads"]
    own = student_preprocessing({"alignment_heads": heads, "window_margin_s": 3.0}, keep, 1.0)
    assert own["alignment_heads"] == [[keep.index(layer), h] for layer, h in heads if layer in keep] and own["alignment_heads"]
    assert own["window_margin_s"] == 1.0  # the margin the student was trained with, not the teacher's
    assert student_preprocessing({"alignment_heads": heads}, (0, 3), 1.0)["alignment_heads"] == [[1, h] for layer, h in heads if layer == 3]
    files = export_onnx(make_student(teacher, keep).eval(), tmp_path / "student")
    clip = data_dir / "speech" / "public_domain" / "jfk.flac"
    words_on = lambda b: Transcriber.create(TranscriberOptions(bundle=str(b), variant="distilled", word_timestamps=True))  # noqa: E731
    without = scratch_copy(speech_bundle, tmp_path / "without", {"distilled": files})
    with pytest.raises(BundleError, match=r"decoder layers \[3\], but the decoder has 3"):
        words_on(without)
    segments, info = words_on(scratch_copy(speech_bundle, tmp_path / "with", {"distilled": files}, own)).transcribe(clip)
    segments = list(segments)
    words = [w for s in segments for w in s.words]
    assert "fellow americans" in " ".join(s.text for s in segments).lower()
    assert len(words) == len(" ".join(s.text for s in segments).split()) > 10
    assert all(0 <= w.start_s <= w.end_s <= info.duration_s + 0.5 for w in words)
    assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:], strict=False))


def test_teacher_places_segment_timestamps_in_a_text_only_label(teacher, speech_bundle, data_dir):
    """Two sentences with a pause between them: the label gains a boundary at the pause and ends where the speech ends."""
    from tokenizers import Tokenizer

    from edge_sdk.audio import load_audio
    from edge_sdk.quantize.distill.students.speech import Example
    from edge_sdk.quantize.distill.students.speech_timestamps import TIMESTAMP_BEGIN, timestamped, with_timestamps
    from edge_sdk.speech.features import log_mel
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions, window_frames

    clips = [load_audio(str(data_dir / "speech" / "librispeech" / f"237-134500-00{n}.flac"))[0] for n in ("02", "08")]
    pause = np.zeros(16000, dtype=np.float32)
    audio = np.concatenate([clips[0], pause, clips[1]])
    junction_s = (len(clips[0]) + len(pause) / 2) / 16000
    segments, _ = Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant="fp32")).transcribe(audio, 16000)
    segments = list(segments)
    tok = Tokenizer.from_file(str(Path(speech_bundle) / "tokenizer.json"))
    text = tok.encode(" " + " ".join(s.text.strip() for s in segments), add_special_tokens=False).ids
    with torch.no_grad():
        states = encoder_states(teacher, torch.from_numpy(log_mel(audio, window_frames(len(audio), 1.0)))[None])[0]
    content = states.shape[0] - 50
    got = timestamped(teacher, states, text, content)

    assert got[:2] == [SOT, TIMESTAMP_BEGIN] and got[-1] == EOT
    assert [t for t in got[2:-1] if t < EOT] == text  # the words are the label's, in order
    times = [(t - TIMESTAMP_BEGIN) * 0.02 for t in got if t >= TIMESTAMP_BEGIN]
    assert times == sorted(times) and times[-1] <= content * 0.02
    # the label may end up to the window's whole second, the runtime's segment at the audio's last 20 ms
    assert abs(times[-1] - segments[-1].end_s) <= 1.0 + 1e-6 and times[-1] <= math.ceil(len(audio) / 16000)
    assert any(abs(t - junction_s) < 1.0 for t in times[1:-1])  # a boundary in the pause

    examples = [Example(states, [SOT, NO_TIMESTAMPS, *text, EOT], str(i)) for i in range(4)]
    mixed = with_timestamps(teacher, examples, 0.5, seed=0, margin_s=1.0)
    assert sum(m[1] == TIMESTAMP_BEGIN for m in mixed) == 2 and mixed == with_timestamps(teacher, examples, 0.5, 0, 1.0)
    assert all(m == [SOT, NO_TIMESTAMPS, *text, EOT] for m in mixed if m[1] == NO_TIMESTAMPS)
