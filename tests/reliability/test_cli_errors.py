"""The command line's error contract: one line naming the problem and the fix, the exit status of the error's
class (2 input, 3 bundle, 4 device, 1 internal), a JSON error object with ``--json``, values refused at parse time."""

from __future__ import annotations

import json
import os
import sys

import pytest

from edge_sdk.bench.memory import refused_bundle, run_measured
from edge_sdk.cli import main
from edge_sdk.errors import EXIT_CODES


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str, *words: str) -> None:
    assert err.startswith("edge-sdk: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and all(w in err for w in words), err


@pytest.mark.parametrize("argv, words", [
    (["soak", "speech", "--minutes", "-1"], ["--minutes", "-1", "> 0"]),
    (["soak", "camera", "--interval-s", "0"], ["--interval-s", "> 0"]),
    (["classify", "--camera", "0", "--max-frames", "0"], ["--max-frames", ">= 1"]),
    (["classify", "x.png", "--top-k", "many"], ["--top-k", "'many' is not a whole number"]),
    (["classify", "x.png", "--smoothing", "1.5"], ["--smoothing", "(0, 1]"]),
    (["bench", "--tasks", "bogus"], ["--tasks", "bogus", "speech, vision, text"]),
    (["demo", "--speed", "-2"], ["--speed", ">= 0"]),
    (["transcribe", "x.wav", "--max-duration-s", "0"], ["--max-duration-s"]),
    (["transcribe", "--stdin", "--rate", "12"], ["--rate", ">= 1000"]),
    (["summarize", "x.txt", "--ratio", "2"], ["--ratio", "(0, 1]"]),
    (["summarize", "x.txt", "--max-chars", "0"], ["--max-chars"]),
    (["eval", "text", "--jsonl", "x.jsonl", "--limit", "0"], ["--limit"]),
    (["no-such-command"], ["invalid choice"]),
])
def test_values_out_of_range_are_refused_at_parse_time(capsys, argv, words):
    code, out, err = _run(capsys, *argv)
    assert code == EXIT_CODES["input"] and out == ""
    _one_line(err, *words, "--help")


def test_a_parse_error_with_json_is_a_json_object_on_stdout(capsys):
    code, out, err = _run(capsys, "classify", "--camera", "0", "--max-frames", "0", "--json")
    error = json.loads(out)["error"]
    assert code == 2 and err == "" and error["category"] == "input" and error["exit_code"] == 2 and "--max-frames" in error["message"]


def test_bench_compare_on_non_json_files_names_the_file(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not JSON\n")
    code, _, err = _run(capsys, "bench", "--compare", str(bad), str(bad))
    assert code == 2
    _one_line(err, "notes.txt", "is not JSON", "report.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    code, _, err = _run(capsys, "bench", "--compare", str(tmp_path / "list.json"), str(bad))
    assert code == 2 and "not a report object" in err


def test_demo_with_a_missing_data_folder(capsys):
    code, _, err = _run(capsys, "demo", "--data", "/nonexistent")
    assert code == 2
    _one_line(err, "/nonexistent", "--data")


@pytest.fixture()
def odd_paths(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    return {"a directory": folder, "a named pipe (FIFO)": fifo}


@pytest.mark.parametrize("command", ["transcribe", "summarize", "classify"])
@pytest.mark.parametrize("kind", ["a directory", "a named pipe (FIFO)"])
def test_a_directory_or_fifo_is_reported_as_such(capsys, odd_paths, command, kind):
    code, out, err = _run(capsys, command, str(odd_paths[kind]))
    if command == "classify":  # one row per file: the error is on stderr, the status is the error's class
        assert code == 2 and f"is {kind}, not a regular file" in err and "does not exist" not in err
        return
    assert code == 2 and out == ""
    _one_line(err, f"is {kind}, not a regular file")


def test_a_missing_input_file_is_an_input_error_with_json(capsys, tmp_path):
    code, out, err = _run(capsys, "transcribe", str(tmp_path / "missing.wav"), "--json")
    error = json.loads(out)["error"]
    assert code == 2 and err == ""
    assert error == {"type": "InputNotFoundError", "category": "input", "exit_code": 2,
                     "message": f"audio file {str(tmp_path / 'missing.wav')!r} does not exist"}


def test_an_unreadable_file_is_reported_cleanly(tmp_path):
    """A real PermissionError: the child drops root's permission override, so mode 000 binds it too."""
    locked = tmp_path / "locked.txt"
    locked.write_text("Locked text. Nobody may read it.")
    locked.chmod(0)
    for argv in (["summarize", str(locked)], ["transcribe", str(locked)], ["bench", "--compare", str(locked), str(locked)]):
        m = run_measured([sys.executable, "-m", "edge_sdk", *argv], timeout_s=120, no_read_override=True)
        err = m.stderr.decode()
        assert m.exit_code == 2, err
        _one_line(err, "permission denied", "locked.txt")


def test_a_refused_variant_is_refused_unless_allowed(capsys, vision_bundle, data_dir, tmp_path):
    root = refused_bundle(tmp_path / "bundle", vision_bundle)
    photo = str(data_dir / "images" / "coffee.png")
    code, _, err = _run(capsys, "classify", "--bundle", str(root), "--variant", "int8-refused", photo)
    assert code == EXIT_CODES["bundle"] == 3
    _one_line(err, "'int8-refused'", "refused by its quality gate", "5 of 78", "--allow-refused", "'fp32'")
    code, out, _ = _run(capsys, "classify", "--bundle", str(root), "--variant", "int8-refused", "--allow-refused", "--json", photo)
    assert code == 0 and json.loads(out)[0]["variant"] == "int8-refused"
    code, _, _ = _run(capsys, "classify", "--bundle", str(root), "--variant", "fp32", photo)
    assert code == 0


def test_a_missing_bundle_is_a_bundle_error(capsys, tmp_path):
    code, _, err = _run(capsys, "classify", "--bundle", str(tmp_path / "no-bundle"), str(tmp_path / "x.png"))
    assert code == EXIT_CODES["bundle"]
    _one_line(err)


def test_classify_exits_with_the_input_status_when_a_file_fails(capsys, vision_bundle, data_dir, tmp_path):
    bad = tmp_path / "text.jpg"
    bad.write_text("not an image")
    code, out, _ = _run(capsys, "classify", "--bundle", str(vision_bundle), "--variant", "fp32", "--json",
                        str(data_dir / "images" / "coffee.png"), str(bad))
    rows = json.loads(out)
    assert code == 2 and "categories" in rows[0] and rows[1]["error_type"] == "InvalidInputError"


class _GivingUpCamera:
    """A camera that opens, delivers nothing and gives up, as a stream that never comes back does."""

    kind, fps = "stream", 25.0

    def __init__(self, source, **kwargs):
        from edge_sdk.vision.camera import CameraEvent, CaptureStats

        self.stats = CaptureStats()
        self.events = [CameraEvent("opened", 0.0, "stream"), CameraEvent("gave_up", 1.0, "no frame for 30 s after 9 attempts")]

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_a_camera_that_gives_up_ends_the_run_with_the_device_status(capsys, vision_bundle, monkeypatch):
    import edge_sdk.vision.camera as camera

    monkeypatch.setattr(camera, "CameraSource", _GivingUpCamera)
    code, _, err = _run(capsys, "classify", "--bundle", str(vision_bundle), "--variant", "fp32", "--camera", "rtsp://cam/x")
    assert code == EXIT_CODES["device"] == 4
    assert err.splitlines()[-1].startswith("edge-sdk: error: camera source 'rtsp://cam/x' gave up after 0 frames: no frame for 30 s")


def test_an_internal_error_is_one_line_and_status_1(capsys, monkeypatch):
    import edge_sdk.cli as cli

    def broken(args):
        raise KeyError("oops")

    monkeypatch.setattr(cli, "cmd_demo", broken)
    code, _, err = _run(capsys, "demo")
    assert code == EXIT_CODES["internal"] == 1
    _one_line(err, "internal error (KeyError", "-v", "report it")


@pytest.mark.parametrize("argv, words", [
    (["no-such-command", "--json"], ["invalid choice: 'no-such-command'"]),
    (["--json", "devices"], ["unrecognized arguments: --json"]),
    (["bundles", "--verify"], ["--verify", "expected one argument"]),
    (["summarize", "x.txt", "--sentences", "two", "--json"], ["--sentences", "'two' is not a whole number"]),
    (["--profile"], ["--profile", "expected one argument"]),
])
def test_usage_errors_with_json_are_a_json_object_and_exit_2(capsys, argv, words):
    code, out, err = _run(capsys, *argv, *([] if "--json" in argv else ["--json"]))
    error = json.loads(out)["error"]
    assert code == EXIT_CODES["input"] == 2 and err == ""
    assert error["type"] == "UsageError" and error["category"] == "input" and error["exit_code"] == 2
    assert all(w in error["message"] for w in words), error["message"]


def test_a_top_level_usage_error_without_json_is_one_line_and_exit_2(capsys):
    code, out, err = _run(capsys, "--profile")
    assert code == 2 and out == ""
    _one_line(err, "--profile", "expected one argument", "'edge-sdk --help'")


@pytest.fixture()
def swapped_bundle(tmp_path, vision_bundle):
    """A copy of the vision bundle whose fp32 model was swapped for other bytes (its hash no longer matches)."""
    from edge_sdk.bench.memory import refused_bundle

    root = refused_bundle(tmp_path / "swapped", vision_bundle)
    model = root / json.loads((root / "bundle.json").read_text())["variants"]["fp32"]["files"]["model"]["path"]
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    return root


def test_bundles_verify_on_a_bad_bundle_exits_with_the_bundle_status(capsys, swapped_bundle):
    code, out, err = _run(capsys, "bundles", "--verify", str(swapped_bundle))
    assert code == EXIT_CODES["bundle"] == 3
    assert out.startswith("MISMATCH ") and "fp32/" in out and "does not match bundle.json" in out
    _one_line(err, "failed verification", "edge-sdk prepare")
    code, out, err = _run(capsys, "bundles", "--verify", str(swapped_bundle), "--json")
    report = json.loads(out)
    assert code == 3 and err == "" and report["ok"] is False and report["exit_code"] == 3 and len(report["problems"]) == 1


def test_bundles_verify_on_a_good_bundle_exits_0(capsys, vision_bundle):
    code, out, _ = _run(capsys, "bundles", "--verify", str(vision_bundle), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
