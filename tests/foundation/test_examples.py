"""The scripts in ``examples/`` run as a user runs them (a fresh process, from the checkout) on the default
bundles and the shared data, and print what their docstrings promise. The microphone example runs on the
ALSA test microphone in ``tests/speech/test_mic_alsa.py``.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_example(name: str, *args: str, timeout: int = 300) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "examples" / name), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)  # inherits EDGE_SDK_HOME, set by conftest
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_classify_images_names_the_photo(vision_bundle, data_dir):
    out = run_example("classify_images.py", str(data_dir / "images" / "coffee.png"))
    assert re.search(r"coffee\.png: espresso 0\.\d\d, ", out) and "on CPUExecutionProvider" in out, out


def test_classify_camera_labels_every_frame_of_the_video(vision_bundle, data_dir):
    out = run_example("classify_camera.py", str(data_dir / "video" / "bottle-detection_0s-5s.mp4"))
    frames = re.findall(r"^\s*(\d+) ms  (.+?)\s+(\d\.\d\d)  age\s+([\d.]+) ms  dropped (\d+)", out, re.M)
    labels = collections.Counter(label for _, label, *_ in frames)
    assert labels.most_common(1)[0][0] == "water bottle", labels
    assert "camera: end end of file after 150 frames" in out
    assert len(frames) + int(frames[-1][4]) == 150  # each frame is labelled or counted as dropped


def test_summarize_text_picks_sentences_of_the_report(text_bundle):
    out = run_example("summarize_text.py", "--sentences", "2")
    picked = re.findall(r"^\[\s*(\d+):(\d+)\s*\] score", out, re.M)
    assert len(picked) == 2 and "Renewable Fuel Standard" in out and "-> 2 sentences" in out, out
    assert [int(a) for a, _ in picked] == sorted(int(a) for a, _ in picked)  # in document order


def test_transcribe_file_prints_segments_and_word_times(speech_bundle, data_dir):
    out = run_example("transcribe_file.py", str(data_dir / "speech" / "public_domain" / "jfk.flac"), "--words")
    assert "2 channels averaged to mono; resampled 44100 Hz -> 16000 Hz" in out
    text = " ".join(re.findall(r"^\[\s*[\d.]+ ->\s*[\d.]+\] (.*)$", out, re.M)).lower()
    assert "ask not what your country can do for you" in text and "ask what you can do for your country" in text, out
    times = [float(t) for t in re.findall(r"@(\d+\.\d\d)", out)]
    assert len(times) >= 20 and times == sorted(times) and 0 <= times[0] < 1 and 9.5 < times[-1] < 11.0


def test_transcribe_file_live_gives_finals_and_the_live_figures(speech_bundle, data_dir):
    out = run_example("transcribe_file_live.py", str(data_dir / "speech" / "public_domain" / "jfk.flac"), "--speed", "4")
    finals = re.findall(r"^FINAL\s+\[\s*([\d.]+) ->\s*([\d.]+)\] (.*?)  \(latency", out, re.M)
    assert "ask what you can do for your country" in finals[-1][2].lower(), out
    assert all(float(a[1]) <= float(b[0]) for a, b in zip(finals, finals[1:], strict=False))
    assert "samples lost 0" in out and "end-of-speech -> final latency: p50" in out


def test_rolling_transcript_summary_refreshes_with_time_spans(text_bundle):
    out = run_example("rolling_transcript_summary.py")
    windows = [(int(a), int(b)) for a, b in re.findall(r"^--- summary of (\d+)-(\d+) s", out, re.M)]
    assert len(windows) >= 3 and "--- on demand, last" in out, out
    assert all(b - a <= 150 for a, b in windows)  # the last two minutes, to whole sentences
    spans = re.findall(r"^\s+\[\s*([\d.]+)-\s*([\d.]+) s\] \S", out, re.M)
    assert spans and all(float(a) < float(b) for a, b in spans)
