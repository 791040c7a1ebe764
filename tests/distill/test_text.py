"""Text student: a few steps on tiny real data move it toward the teacher; the shipped variant loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_sdk.quantize.distill.data.corpus import corpus_sentences, read_documents, sentence_split
from edge_sdk.quantize.distill.students.text_student import (
    Tokenize,
    embed_all,
    freeze_token_embeddings,
    load_teacher,
    make_student,
    packaged_teacher_dir,
    sentence_embedding,
)
from edge_sdk.quantize.distill.training.loop import Schedule, train
from edge_sdk.quantize.sampling import epoch_order


@pytest.fixture(scope="module")
def teacher():
    return load_teacher(packaged_teacher_dir())


@pytest.fixture(scope="module")
def split(data_dir):
    return sentence_split(read_documents([data_dir / "text" / "summaries.jsonl"]))


def test_split_holds_out_whole_documents(split):
    held_ids = {d.id for d in split.held_out_docs}
    assert held_ids and not held_ids & set(split.train_doc_ids)
    assert not set(split.held_out) & set(split.train)


def test_sentence_splitter_drops_headings_and_keeps_sentences():
    text = "Introduction\n\nThe cat sat on the mat today. Then it left the room quietly!"
    assert corpus_sentences(text) == ["The cat sat on the mat today.", "Then it left the room quietly!"]


def test_student_keeps_the_chosen_teacher_layers(teacher):
    student = make_student(teacher, (0, 3, 5))
    assert len(student.encoder.layer) == 3 and student.config.num_hidden_layers == 3
    assert torch.equal(student.encoder.layer[1].output.dense.weight, teacher.encoder.layer[3].output.dense.weight)
    with pytest.raises(ValueError, match="keep_layers"):
        make_student(teacher, (0, 6))


def test_a_student_starts_from_a_previous_runs_weights_and_rejects_ones_that_do_not_fit(teacher, tmp_path):
    from edge_sdk.quantize.distill.students.text_student import load_student_weights

    trained = make_student(teacher, (0, 3, 5))
    with torch.no_grad():
        trained.encoder.layer[2].output.dense.weight.add_(0.5)
    trained.save_pretrained(str(tmp_path / "run" / "student"), safe_serialization=True)
    resumed = make_student(teacher, (0, 3, 5))
    load_student_weights(resumed, tmp_path / "run")  # a work folder: its student/ is found
    assert torch.equal(resumed.encoder.layer[2].output.dense.weight, trained.encoder.layer[2].output.dense.weight)
    with pytest.raises(ValueError, match="do not fit this student"):
        load_student_weights(make_student(teacher, (0, 5)), tmp_path / "run")
    with pytest.raises(ValueError, match="no model.safetensors"):
        load_student_weights(resumed, tmp_path / "nothing")


def test_a_few_steps_lower_the_loss_and_move_the_student_toward_the_teacher(teacher, split, tmp_path):
    torch.set_num_threads(1)
    tokenize = Tokenize(packaged_teacher_dir(), 64)
    train_sents = list(split.train[:48])
    held = list(split.held_out[:24])
    targets, held_targets = embed_all(teacher, tokenize, train_sents), embed_all(teacher, tokenize, held)
    student = make_student(teacher, (0, 3, 5))

    def loss_of_batch(step):
        idx = epoch_order(len(train_sents), step, 16, seed=0)
        ids, mask = tokenize([train_sents[i] for i in idx])
        return 1 - (sentence_embedding(student, ids, mask) * targets[idx]).sum(-1).mean()

    def evaluate():
        return {"cosine": float((embed_all(student, tokenize, held) * held_targets).sum(-1).mean())}

    run = train(student, loss_of_batch, evaluate, Schedule(steps=12, batch_size=16, lr=3e-4, warmup_steps=2,
                                                           eval_every=12, checkpoint_every=12), tmp_path, "t")
    assert np.mean(run.losses[-3:]) < 0.8 * np.mean(run.losses[:3])
    # held-out sentences (other documents) get closer to the teacher, by a clear margin
    assert run.evals[-1]["cosine"] > run.evals[0]["cosine"] + 0.05


def test_frozen_token_embeddings_stay_the_teachers_while_the_layers_train(teacher, split, tmp_path):
    torch.set_num_threads(1)
    tokenize = Tokenize(packaged_teacher_dir(), 64)
    sents = list(split.train[:16])
    targets = embed_all(teacher, tokenize, sents)
    student = make_student(teacher, (0, 3, 5))
    freeze_token_embeddings(student)

    def loss_of_batch(step):
        ids, mask = tokenize(sents)
        return 1 - (sentence_embedding(student, ids, mask) * targets).sum(-1).mean()

    train(student, loss_of_batch, dict, Schedule(steps=2, batch_size=16, lr=1e-3, warmup_steps=1, eval_every=2,
                                                 checkpoint_every=2), tmp_path, "t")
    assert torch.equal(student.embeddings.word_embeddings.weight, teacher.embeddings.word_embeddings.weight)
    assert not torch.equal(student.encoder.layer[0].output.dense.weight, teacher.encoder.layer[0].output.dense.weight)


@pytest.fixture()
def bundle_copy(text_bundle, tmp_path):
    """A private copy of the default text bundle, so adding variants never touches the shared one."""
    return Path(shutil.copytree(text_bundle, tmp_path / "bundle"))


def test_the_written_variants_load_in_the_runtime_and_are_chosen_when_asked(bundle_copy, data_dir, tmp_path):
    import onnx

    from edge_sdk.bundle import load_bundle
    from edge_sdk.quantize.distill.students.text import TextDistillConfig, distill_text
    from edge_sdk.runtime import load_model

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join((data_dir / "text" / "summaries.jsonl").read_text().splitlines(keepends=True)[:12]))
    cfg = TextDistillConfig(teacher=str(bundle_copy), data=(str(docs),), eval_sentences=16, rouge_docs=0,
                            speed_sentences=8, speed_rounds=1, held_out_percent=30, gate=False,
                            schedule=Schedule(steps=2, batch_size=4, warmup_steps=0, eval_every=2, checkpoint_every=2))
    report = distill_text(cfg, tmp_path / "work")
    bundle = load_bundle(bundle_copy)
    assert {"distilled", "distilled-int8"} <= set(bundle.variants) and bundle.verify() == []
    for name in ("distilled", "distilled-int8"):
        v = bundle.variants[name]
        assert v.recipe["config"]["keep_layers"] == [0, 3, 5] and v.recipe["data"]["held_out_documents"]
        assert 0 < v.metrics["eval_cosine_to_teacher_fp32"] <= 1 and v.metrics["size_mb"] < v.metrics["teacher_size_mb"]
        model = load_model(bundle_copy, variant=name, device="x86_64-avx2")
        assert model.variant.name == name
        ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        sess = model.sessions["encoder"]
        out = sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})[0]
        assert out.shape == (1, 384) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    int8_ops = {n.op_type for n in onnx.load(str(bundle.path_of(bundle.variants["distilled-int8"].files["encoder"]))).graph.node}
    assert int8_ops & {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul"}
    assert report["training"]["steps"] == 2
    # not asked for, the profile's own preference (int8 first on x86) still wins
    assert load_model(bundle_copy, device="x86_64-avx2").variant.name == "int8"


def test_hidden_state_loss_maps_student_layers_uniformly_and_is_zero_on_the_teacher(teacher):
    from edge_sdk.quantize.distill.students.text_student import hidden_state_loss, layer_targets

    assert layer_targets(3, 6) == [2, 4, 6] and layer_targets(2, 6) == [3, 6]
    tokenize = Tokenize(packaged_teacher_dir(), 32)
    ids, mask = tokenize(["A short sentence.", "Another, slightly longer sentence than the first one."])
    with torch.no_grad():
        states = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        student_states = make_student(teacher, (1, 3, 5))(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    # a student made of teacher layers 1, 3, 5 differs from teacher states 2, 4, 6, the 6-layer teacher itself does not
    assert float(hidden_state_loss([states[0], states[2], states[4], states[6]], states, mask)) == 0.0
    assert float(hidden_state_loss(student_states, states, mask)) > 0.01


def test_augment_makes_spans_and_drops_words_never_longer():
    from edge_sdk.quantize.distill.data.corpus import augment

    sentence = "the quick brown fox jumps over the lazy dog near the river"
    words = sentence.split()
    rng = np.random.default_rng(0)
    outs = [augment(sentence, rng) for _ in range(40)]
    spans = [o for o in outs if o in sentence and o != sentence]
    dropped = [o for o in outs if o not in spans]
    assert spans and dropped
    assert all(len(words) // 2 <= len(o.split()) < len(words) for o in spans)
    for o in dropped:  # the remaining words keep their order
        it = iter(words)
        assert all(w in it for w in o.split()) and len(o.split()) <= len(words)
    assert augment("too short to cut", rng) == "too short to cut"


def test_the_gate_is_rouge_on_reports_and_news_and_cosine_is_only_reported(data_dir):
    from edge_sdk.quantize.distill.students.text import NEWS_FILE, _goals, _training_documents

    def variant(reports, news, cosine=0.90, speedup=1.6, size_mb=17.4):
        m = {"eval_cosine_to_teacher_fp32": cosine, "encoder_speedup": 1.9, "document_speedup": speedup, "size_mb": size_mb,
             "teacher_size_mb": 22.95}
        return m | ({"rouge1_delta_vs_teacher": reports} if reports is not None else {}) | (
            {"news_rouge1_delta_vs_teacher": news} if news is not None else {})

    metrics = {"good": variant(+1.2, -0.4), "news": variant(+1.2, -0.6), "reports": variant(-0.51, 0.0), "unmeasured": variant(+1.0, None),
               "slow": variant(+1.0, 0.0, speedup=1.49), "small": variant(+1.0, 0.0, speedup=1.2, size_mb=11.47)}
    refused = _goals(metrics, gate=True)
    # a cosine of 0.90 (< 0.95) refuses nothing by itself; cost: 1.5x faster end to end or 2x smaller than the default
    assert sorted(refused) == ["news", "reports", "slow", "unmeasured"]
    assert metrics["good"]["goals"] == {"rouge1>=teacher-0.5 (reports)": True, "rouge1>=teacher-0.5 (news)": True,
                                        "document_speedup>=1.5 or size_ratio>=2": True, "cosine_to_teacher>=0.95": False}
    assert metrics["good"]["gate"] == "accepted" and metrics["slow"]["gate"] == "refused" and metrics["small"]["size_ratio"] == 2.001
    assert list(metrics["good"])[:3] == ["gate", "rouge1_delta_vs_teacher", "news_rouge1_delta_vs_teacher"]
    assert refused["unmeasured"]["rouge1>=teacher-0.5 (news)"] is None and _goals(metrics, gate=False) == {}
    # the news the gate summarizes is never training data
    files = _training_documents(data_dir / "text")
    assert NEWS_FILE not in [p.name for p in files] and "summaries.jsonl" in [p.name for p in files]
