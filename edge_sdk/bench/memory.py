"""Peak memory and exit status of the command line on hostile inputs: ``python -m edge_sdk.bench.memory``.

Each case runs ``python -m edge_sdk ...`` in a child process; its peak RSS comes from the kernel
(``os.wait4``), so it covers everything the command did. ``--code DIR`` runs the code of another
checkout (e.g. a ``git worktree`` of an older commit) on the same inputs, for before/after figures.

Inputs are made once under ``--work`` (outside the repository): long FLAC files of speech and
silence (15 min, 1 h, 3 h), a PNG that declares 30000 x 30000 pixels in 2.6 MB, 50 MB of text,
float audio at int16 scale, a bundle whose int8 variant was refused by its gate, one whose model was swapped, 1 MB of
articles, 50 MB of mostly blank lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
LONG_SPEECH = "speech/long/237-134500_chapter_concat.flac"
JFK = "speech/public_domain/jfk.flac"
HOURS = {"15min": 0.25, "1h": 1.0, "3h": 3.0}


def zlib_zeros(n: int, block: int = 16 * 2**20) -> bytes:
    """A zlib stream of ``n`` zero bytes, made in a moment: one block of zeros is deflated once, ending in a full
    flush (which resets the compressor), and repeated; the Adler-32 of zeros is ``n mod 65521`` in its high half."""
    piece = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = piece.compress(bytes(block)) + piece.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(bytes(n % block)) + tail.flush()
    return b"\x78\x01" + body * (n // block) + last + struct.pack(">I", (n % 65521) << 16 | 1)


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A valid RGB PNG declaring ``width`` x ``height`` pixels (black) in a few megabytes: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    idat = zlib_zeros(height * (1 + 3 * width))  # each row: filter byte 0, then its pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def long_flac(path: Path, data: Path, hours: float) -> Path:
    """16 kHz mono FLAC: the shared 3.6 min chapter, then silence, per 15 minutes, written block by block."""
    import soundfile as sf

    speech, rate = sf.read(str(data / LONG_SPEECH), dtype="int16")
    unit = 15 * 60 * rate
    silence = np.zeros(unit - speech.shape[0], np.int16)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(round(hours * 4)):
            f.write(speech)
            f.write(silence)
    return path


def big_text(path: Path, data: Path, size_bytes: int = 50 * 2**20) -> Path:
    """``size_bytes`` of UTF-8 text: the shared articles, repeated, separated by blank lines."""
    articles = [json.loads(line)["article"] for line in (data / "text" / "summaries.jsonl").open(encoding="utf-8")]
    written = 0
    with path.open("w", encoding="utf-8") as f:
        while written < size_bytes:
            for a in articles:
                f.write(a + "\n\n")
                written += len(a.encode()) + 2
                if written >= size_bytes:
                    break
    return path


def blank_text(path: Path, size_bytes: int = 50 * 10**6) -> Path:
    """``size_bytes`` of text that is mostly lines of spaces, with a two-sentence paragraph every tenth of it: a text
    that is long to hold and quick to summarize (what is measured is the cost of its length alone)."""
    para = "The council met again on Monday. It voted to repair the old bridge by May, and work starts in spring.\n\n"
    lines = (size_bytes // 10 - len(para)) // 100
    with path.open("w", encoding="utf-8") as f:
        for _ in range(10):
            f.write(para + (" " * 99 + "\n") * lines)
    return path


def _copy_bundle(root: Path, source: str | os.PathLike) -> dict:
    """Copy the bundle ``source`` to ``root`` (replacing it); return the copy's parsed bundle.json."""
    from edge_sdk.bundle import load_bundle

    src = load_bundle(source).root
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(src, root)
    return json.loads((root / "bundle.json").read_text())


def swapped_bundle(root: Path, source: str | os.PathLike = "efficientnet-lite0") -> Path:
    """A copy of a bundle whose fp32 model lost its last byte to a zero: its hash no longer matches bundle.json."""
    model = root / _copy_bundle(root, source)["variants"]["fp32"]["files"]["model"]["path"]
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    return root


def loud_float_wav(path: Path, data: Path) -> Path:
    """The JFK clip as 32-bit float WAV at int16 scale (samples up to ~±20000 instead of ±1)."""
    import soundfile as sf

    audio, rate = sf.read(str(data / JFK), dtype="float32")
    sf.write(str(path), audio * 32768.0, rate, subtype="FLOAT")
    return path


def refused_bundle(root: Path, source: str | os.PathLike = "efficientnet-lite0") -> Path:
    """A copy of a vision bundle whose int8 variant is named and measured as its gate's refusal."""
    meta = _copy_bundle(root, source)
    int8 = meta["variants"].pop("int8")
    int8.setdefault("metrics", {})["gate"] = "refused"
    meta["variants"]["int8-refused"] = int8
    meta["refused_variants"] = {"int8": "int8 refused: 5 of 78 held-out photos changed their top-1 (budget 2)"}
    (root / "bundle.json").write_text(json.dumps(meta, indent=1))
    return root


def make_inputs(work: Path, data: Path) -> dict[str, Path]:
    """Every input file, made once (long audio takes a minute)."""
    work.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, hours in HOURS.items():
        p = work / f"speech-silence-{name}.flac"
        made[f"flac_{name}"] = p if p.exists() else long_flac(p, data, hours)
    for key, fname, build in (("bomb", "bomb-30000x30000.png", lambda p: bomb_png(p)),
                              ("text50", "text-50mb.txt", lambda p: big_text(p, data)),
                              ("loud", "jfk-float-int16-scale.wav", lambda p: loud_float_wav(p, data)),
                              ("text1", "text-1mb.txt", lambda p: big_text(p, data, 2**20)),
                              ("blank50", "blank-50mb.txt", blank_text)):
        p = work / fname
        made[key] = p if p.exists() else build(p)
    blank = work / "blank.txt"
    blank.write_text("  \n\t\n   ")
    made["blank"] = blank
    notjson = work / "not-json.txt"
    notjson.write_text("this is not JSON\n")
    made["notjson"] = notjson
    d = work / "a-directory.wav"
    d.mkdir(exist_ok=True)
    made["dir"] = d
    fifo = work / "a-fifo.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    made["fifo"] = fifo
    locked = work / "locked.txt"
    locked.write_text("Locked text. It cannot be read by other users.")
    locked.chmod(0)
    made["locked"] = locked
    made["refused"] = refused_bundle(work / "refused-bundle")
    made["swapped"] = swapped_bundle(work / "swapped-bundle")
    made["photo"] = data / "images" / "coffee.png"
    made["video"] = data / "video" / "car-detection_24s-29s.mp4"
    made["jfk"] = data / JFK
    return made


def cases(p: dict[str, Path]) -> list[dict]:
    """The command lines measured: ``name``, ``argv`` (after ``edge-sdk``), ``timeout_s``; ``after_only`` for new flags."""
    out = [{"name": "bomb PNG 30000x30000", "argv": ["classify", str(p["bomb"])], "timeout_s": 180},
           {"name": "transcribe 11 s clip (JFK)", "argv": ["transcribe", str(p["jfk"]), "--variant", "int8", "--json"], "timeout_s": 300,
            "hash_stdout": True}]
    for name in HOURS:
        out.append({"name": f"transcribe {name} FLAC", "argv": ["transcribe", str(p[f"flac_{name}"]), "--variant", "int8", "--json"],
                    "timeout_s": 3600, "hash_stdout": True})
    out += [
        {"name": "summarize 50 MB", "argv": ["summarize", str(p["text50"])], "timeout_s": 180},
        {"name": "summarize 50 MB, limit raised (first 180 s)", "argv": ["summarize", str(p["text50"]), "--max-chars", "60000000"],
         "timeout_s": 180, "after_only": True},
        {"name": "summarize whitespace-only", "argv": ["summarize", str(p["blank"])], "timeout_s": 120},
        {"name": "float audio at int16 scale", "argv": ["transcribe", str(p["loud"]), "--variant", "int8"], "timeout_s": 300},
        {"name": "soak --minutes -1", "argv": ["soak", "speech", "--minutes", "-1"], "timeout_s": 120},
        {"name": "classify --max-frames 0", "argv": ["classify", "--camera", str(p["video"]), "--max-frames", "0"], "timeout_s": 120},
        {"name": "bench --tasks bogus", "argv": ["bench", "--tasks", "bogus", "--out", str(p["dir"].parent / "bench-out")], "timeout_s": 120},
        {"name": "bench --compare non-JSON", "argv": ["bench", "--compare", str(p["notjson"]), str(p["notjson"])], "timeout_s": 120},
        {"name": "demo --data /nonexistent", "argv": ["demo", "--data", "/nonexistent"], "timeout_s": 120},
        {"name": "transcribe a directory", "argv": ["transcribe", str(p["dir"])], "timeout_s": 120},
        {"name": "transcribe a FIFO", "argv": ["transcribe", str(p["fifo"])], "timeout_s": 30},
        {"name": "summarize unreadable file", "argv": ["summarize", str(p["locked"])], "timeout_s": 120, "no_read_override": True},
        {"name": "classify --variant int8-refused", "argv": ["classify", "--bundle", str(p["refused"]), "--variant", "int8-refused",
                                                           str(p["photo"])], "timeout_s": 120},
        {"name": "classify --json on a missing file", "argv": ["classify", "--json", "/nonexistent.png"], "timeout_s": 120},
        # the streamed summary; --max-chars lets the text through the limit of the code before it
        {"name": "summarize 1 MB of articles", "argv": ["summarize", str(p["text1"]), "--variant", "int8", "--max-chars", "60000000"],
         "timeout_s": 900},
        {"name": "summarize 50 MB, mostly blank lines", "argv": ["summarize", str(p["blank50"]), "--variant", "int8", "--max-chars",
                                                                "60000000"], "timeout_s": 600},
        {"name": "summarize 50 MB of articles (first 300 s)", "argv": ["summarize", str(p["text50"]), "--variant", "int8", "--max-chars",
                                                                      "60000000"], "timeout_s": 300},
        {"name": "bundles --verify a swapped model", "argv": ["bundles", "--verify", str(p["swapped"])], "timeout_s": 120},
        {"name": "unknown command with --json", "argv": ["no-such-command", "--json"], "timeout_s": 60},
        {"name": "--profile without a value, --json", "argv": ["--profile", "--json"], "timeout_s": 60},
    ]
    return out


def drop_read_override() -> None:
    """In a child before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so file modes bind root too."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # PR_CAPBSET_DROP = 24; a non-root process lacks them anyway (EPERM is ignored)
        libc.prctl(24, cap, 0, 0, 0)


@dataclass(frozen=True)
class Measured:
    """A finished child process: exit status (None when killed at its timeout), peak RSS, wall time, output."""

    exit_code: int | None
    peak_rss_mb: float
    wall_s: float
    stdout: bytes
    stderr: bytes


# Linux keeps a process's peak RSS across exec, and a forked child starts from its parent's: a command forked from a
# large process (a test run with models loaded) would report that process's size. This launcher, small after its own
# exec, spawns the command, so the command's peak starts from the launcher's few MB; it reports the kernel's figure
# from wait4 on a pipe, and on SIGTERM kills the command first, so a run cut at its timeout is measured too.
LAUNCHER = """
import os, signal, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | os.PathLike | None = None, timeout_s: float = 600,
                 no_read_override: bool = False) -> Measured:
    """Run ``cmd`` (``cmd[0]`` a path) and measure it: the kernel's peak RSS of the command alone (see :data:`LAUNCHER`).

    Args:
        no_read_override: Drop root's permission override in the child (see :func:`drop_read_override`).
    """
    read_fd, write_fd = os.pipe()
    t0 = time.monotonic()
    with open(os.devnull, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, str(write_fd), *cmd], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=cwd, pass_fds=(write_fd,),
                                preexec_fn=drop_read_override if no_read_override else None)
    os.close(write_fd)
    killed = False
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the launcher kills the command and still reports its peak
        killed = True
        out, err = proc.communicate()
    wall = time.monotonic() - t0
    with os.fdopen(read_fd, "rb") as f:
        report = f.read().split()
    if len(report) != 2:
        raise RuntimeError(f"the measuring launcher failed (exit {proc.returncode}): {err.decode(errors='replace')[-500:]}")
    return Measured(None if killed else int(report[1]), int(report[0]) / 1024, wall, out, err)


def run_case(case: dict, code: Path, home: Path, cwd: Path) -> dict:
    """Run one case of :func:`cases` as ``python -m edge_sdk ...`` with ``code`` first on the path.

    ``cwd`` must hold no ``edge_sdk`` folder: ``python -m`` puts it first on the path, before ``code``.
    """
    env = {**os.environ, "PYTHONPATH": str(code), "EDGE_SDK_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    m = run_measured([sys.executable, "-m", "edge_sdk", *case["argv"]], env, cwd, case["timeout_s"], bool(case.get("no_read_override")))
    err_lines = [line for line in m.stderr.decode(errors="replace").splitlines() if line.strip() and not line.startswith("#")]
    row = {"name": case["name"], "command": "edge-sdk " + " ".join(case["argv"]), "exit_code": m.exit_code,
           "timed_out": m.exit_code is None, "wall_s": round(m.wall_s, 2), "peak_rss_mb": round(m.peak_rss_mb, 1),
           "stderr_lines": len(err_lines), "stderr_last": err_lines[-1][:300] if err_lines else "",
           "stdout_head": m.stdout.decode(errors="replace")[:300]}
    if case.get("hash_stdout"):
        row["stdout_sha256"] = hashlib.sha256(m.stdout).hexdigest()
        row["segments"] = len(m.stdout.splitlines())
    return row


def table(report: dict, before: str = "before", after: str = "after") -> str:
    """A Markdown table of each case's exit status, peak RSS and time, ``before`` beside ``after``."""
    runs = {label: {c["name"]: c for c in report["runs"].get(label, {}).get("cases", [])} for label in (before, after)}
    names = list(dict.fromkeys([*runs[after], *runs[before]]))

    def cell(row: dict | None) -> str:
        if row is None:
            return "-"
        status = "killed at its timeout" if row["timed_out"] else f"exit {row['exit_code']}"
        return f"{status}, {row['peak_rss_mb']:.0f} MB, {row['wall_s']:.1f} s"

    lines = [f"| case | {before}: status, peak RSS, time | {after} | {after}: message |", "|---|---|---|---|"]
    for name in names:
        row = runs[after].get(name)
        msg = (row or {}).get("stderr_last", "").replace("|", "\\|")
        lines.append(f"| {name} | {cell(runs[before].get(name))} | {cell(row)} | {msg[:160]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_sdk.bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=str(REPO), help="checkout whose edge_sdk runs (default: this one)")
    parser.add_argument("--label", default="after", help="name of this run in the JSON, e.g. before / after")
    parser.add_argument("--work", default="/tmp/edge-sdk-memory", help="where the inputs are made (outside the repository)")
    parser.add_argument("--data", default=None, help="data folder (default: $EDGE_SDK_DATA, else the repository's data/)")
    parser.add_argument("--only", default=None, help="run only cases whose name contains this text (comma-separated)")
    parser.add_argument("--home", default=None, help="EDGE_SDK_HOME of the bundles both runs use (default: this process's); "
                        "a private copy keeps a concurrent rebuild from changing the model between runs")
    parser.add_argument("--out", default=None, help="merge the figures into this JSON file under --label")
    parser.add_argument("--table", metavar="JSON", default=None, help="only print the before/after Markdown table of a results file")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0

    from edge_sdk.bundle import home
    from edge_sdk.datasets import data_dir

    data = data_dir(args.data)
    inputs = make_inputs(Path(args.work), data)
    code = Path(args.code).resolve()
    selected = [c for c in cases(inputs) if not args.only or any(s in c["name"] for s in args.only.split(","))]
    if code != REPO:
        selected = [c for c in selected if not c.get("after_only")]
    rows = []
    for case in selected:
        # two levels above the data: where a checkout older than data/ looked for shared/data
        row = run_case(case, code, Path(args.home) if args.home else home(), data.resolve().parent.parent)
        rows.append(row)
        print(f"{row['name']:44s} exit {row['exit_code']!s:4s} {row['peak_rss_mb']:8.1f} MB {row['wall_s']:8.2f} s  {row['stderr_last'][:120]}",
              flush=True)
    if args.out:
        out = Path(args.out)
        report = json.loads(out.read_text()) if out.exists() else {"schema": "edge-sdk-memory/1", "runs": {}}
        commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        prior = {r["name"]: r for r in report["runs"].get(args.label, {}).get("cases", [])}
        prior.update({r["name"]: r for r in rows})
        report["runs"][args.label] = {"code": str(code), "commit": commit, "cpu": os.cpu_count(), "inputs": {k: str(v) for k, v in inputs.items()},
                                      "cases": list(prior.values())}
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
