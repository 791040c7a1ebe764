"""Students shipped with the repository: only the tensors that differ from the teacher, verified by sha256,
within the size budget, and rebuilt exactly from the teacher's package weights."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from edge_sdk.errors import BundleError, InvalidInputError
from edge_sdk.quantize.distill.ship import shipped

BUDGET_MB = 60  # all shipped students together


def test_only_tensors_that_differ_from_the_teacher_are_kept_under_their_student_names() -> None:
    teacher = {"emb": torch.ones(4, 2), "layer.3.w": torch.full((2, 2), 3.0), "layer.5.w": torch.full((2, 2), 5.0)}
    student = {"emb": torch.ones(4, 2), "layer.0.w": torch.full((2, 2), 3.0), "layer.1.w": torch.full((2, 2), 5.5)}
    kept = shipped.differing(student, teacher, {"layer.0.w": "layer.3.w", "layer.1.w": "layer.5.w"})
    assert list(kept) == ["layer.1.w"] and kept["layer.1.w"].dtype == torch.float16
    rebuilt = shipped.apply({"emb": teacher["emb"], "layer.0.w": teacher["layer.3.w"], "layer.1.w": teacher["layer.5.w"]}, kept)
    assert all(torch.equal(rebuilt[k].float(), student[k]) for k in student)
    with pytest.raises(InvalidInputError, match=r"layer\.9\.w"):
        shipped.apply(rebuilt, {"layer.9.w": torch.zeros(2, 2)})
    with pytest.raises(InvalidInputError, match=r"layer\.1\.w"):
        shipped.apply(rebuilt, {"layer.1.w": torch.zeros(3, 2)})


def test_a_shipped_file_whose_bytes_changed_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    rec = shipped.ShippedStudent(bundle="b", capability="text", file="b.safetensors", sha256="", tensors=0, parent={},
                                 recipe={}, trained_metrics={})
    shipped.save(rec, {"w": torch.ones(2, dtype=torch.float16)})
    saved = shipped.record("b")
    assert saved.tensors == 1 and torch.equal(shipped.load_tensors(saved)["w"], torch.ones(2))
    data = bytearray(saved.path.read_bytes())
    data[-1] ^= 1
    saved.path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        shipped.load_tensors(saved)
    with pytest.raises(BundleError, match="missing"):
        shipped.load_tensors(replace(saved, file="gone.safetensors"))
    assert shipped.record("no-such-bundle") is None


def test_the_repositorys_students_are_complete_records_within_the_budget() -> None:
    records = sorted(shipped.SHIPPED_DIR.glob("*.json"))
    assert records, "no student ships with the repository"
    total = 0
    for path in records:
        rec = shipped.record(path.stem)
        tensors = shipped.load_tensors(rec)  # checks the sha256
        assert len(tensors) == rec.tensors > 0
        assert rec.parent["package"] and rec.parent["license"] and rec.recipe["config"]
        total += rec.path.stat().st_size + path.stat().st_size
        assert json.loads(path.read_text())["sha256"] == rec.sha256
    assert total < BUDGET_MB * 2**20


def test_the_text_student_keeps_the_teachers_token_embeddings_and_rebuilds_from_the_package() -> None:
    from edge_sdk.quantize.distill.students.text import _config_of
    from edge_sdk.quantize.distill.students.text_student import load_teacher, make_student, packaged_teacher_dir

    rec = shipped.record("minilm-l6-extractive")
    tensors = shipped.load_tensors(rec)
    assert "embeddings.word_embeddings.weight" not in tensors  # frozen while training: the package's own
    cfg = _config_of(rec.recipe)
    teacher = load_teacher(packaged_teacher_dir())
    student = make_student(teacher, cfg.keep_layers)
    student.load_state_dict(shipped.apply(student.state_dict(), tensors))
    assert len(student.encoder.layer) == len(cfg.keep_layers) == 3
    assert torch.equal(student.encoder.layer[2].output.dense.weight, tensors["encoder.layer.2.output.dense.weight"])


def test_without_held_out_documents_prepare_builds_no_student_variant(tmp_path, monkeypatch, caplog) -> None:
    from edge_sdk.quantize.text.prepare import _add_shipped_student

    (tmp_path / "data" / "images").mkdir(parents=True)  # evaluation data without text/
    monkeypatch.setenv("EDGE_SDK_DATA", str(tmp_path / "data"))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text("{}")
    _add_shipped_student(bundle)
    assert "distilled variants are not built" in caplog.text
    assert (bundle / "bundle.json").read_text() == "{}" and sorted(p.name for p in bundle.iterdir()) == ["bundle.json"]
