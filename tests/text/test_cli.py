"""``edge-sdk summarize`` and ``edge-sdk eval text`` through the real command line entry."""

from __future__ import annotations

import io
import json
import sys

from edge_sdk.cli import main


def _run(capsys, argv) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_summarize_file_json_has_offsets(text_bundle, tmp_path, capsys) -> None:
    text = ("The council met on Monday. It approved a new park. The park will open in June. "
            "Residents asked for more benches. The mayor agreed to add them.")
    path = tmp_path / "doc.txt"
    path.write_text(text)
    code, out, _ = _run(capsys, ["summarize", str(path), "--sentences", "2", "--json", "--variant", "int8"])
    assert code == 0
    result = json.loads(out)
    assert len(result["sentences"]) == 2
    for s in result["sentences"]:
        assert text[s["start_char"] : s["end_char"]] == s["text"]
    assert result["variant"] == "int8" and result["elapsed_ms"] > 0


def test_summarize_stdin_by_words(text_bundle, monkeypatch, capsys) -> None:
    text = "First point is here today. Second point follows it now. Third point closes the list well."
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    code, out, _ = _run(capsys, ["summarize", "-", "--words", "6"])
    assert code == 0 and 0 < len(out.split()) <= 6


def test_summarize_binary_file_fails_with_a_clear_error(text_bundle, tmp_path, capsys) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 4)
    code, _, err = _run(capsys, ["summarize", str(path)])
    assert code == 2 and "UTF-8" in err


def test_summarize_length_flags_are_exclusive(capsys) -> None:
    code, _, err = _run(capsys, ["summarize", "x.txt", "--sentences", "2", "--ratio", "0.1"])
    assert code == 2 and err.count("\n") == 1 and "not allowed with argument --sentences" in err


def test_eval_text_json_has_model_and_lead3_rouge(text_bundle, data_dir, tmp_path, capsys) -> None:
    lines = (data_dir / "text" / "summaries.jsonl").read_text().splitlines()
    small = tmp_path / "two.jsonl"
    small.write_text("\n".join(lines[40:42]) + "\n")
    code, out, _ = _run(capsys, ["eval", "text", "--jsonl", str(small), "--variant", "int8", "--json"])
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 2 and result["variant"] == "int8"
    for key in ("rouge1", "rouge2", "rougeLsum"):
        assert 0 < result[key] < 100 and 0 < result["lead3"][key] < 100
