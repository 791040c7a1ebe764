"""Memory is bounded by configuration, never by the input: hostile inputs are refused from their headers or sizes
in a child process whose peak RSS the kernel reports, and long audio is decoded in blocks at a flat RSS."""

from __future__ import annotations

import io
import json
import re
import struct
import sys
import textwrap
import time

import numpy as np
import pytest

from edge_sdk.bench.memory import big_text, bomb_png, run_measured
from edge_sdk.errors import InputTooLargeError, InvalidInputError
from edge_sdk.vision.image_io import DEFAULT_MAX_IMAGE_PIXELS, decode_image, image_size, load_image

cv2 = pytest.importorskip("cv2", reason="OpenCV (edge-sdk[camera]) decodes images")
sf = pytest.importorskip("soundfile", reason="soundfile (edge-sdk[mic]) decodes audio")

RSS_CEILING_MB = 300  # the bomb took 5.3 GB before; the command with its model loaded stays near 130 MB
# A streamed summary: the text model, one window and the candidate pool (about 180-250 MB measured; 905 MB and rising
# before, after 180 s of a 50 MB text held whole).
STREAM_RSS_CEILING_MB = 300


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A valid 2.6 MB PNG declaring 30000 x 30000 RGB pixels (2.7 GB decoded): zlib of zeros, made in a second."""
    path = bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png")
    assert path.stat().st_size < 3 * 2**20 and image_size(path.read_bytes()) == (30000, 30000)
    return path


def test_bomb_png_is_refused_from_its_header_in_milliseconds(bomb):
    t0 = time.perf_counter()
    with pytest.raises(InputTooLargeError, match=r"30000 x 30000 = 900.0 megapixels, over the limit of 50.0 megapixels"):
        load_image(bomb)
    assert time.perf_counter() - t0 < 0.5


def test_bomb_png_command_stays_under_the_rss_ceiling(bomb, vision_bundle):
    m = run_measured([sys.executable, "-m", "edge_sdk", "classify", "--bundle", str(vision_bundle), "--variant", "fp32", "--json", str(bomb)],
                     timeout_s=120)
    row = json.loads(m.stdout)[0]
    assert m.exit_code == 2 and row["error_type"] == "InputTooLargeError" and "--max-pixels" in row["error"]
    assert m.peak_rss_mb < RSS_CEILING_MB, m.peak_rss_mb


def _patched(kind: str, side: int) -> bytes:
    """A small real image of ``kind`` whose header is rewritten to declare ``side`` x ``side`` pixels."""
    img = np.zeros((24, 32, 3), np.uint8)
    if kind == "gif":
        Image = pytest.importorskip("PIL.Image", reason="Pillow writes the GIF (not a runtime dependency)")

        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "GIF")
        data = bytearray(buf.getvalue())
        data[6:10] = struct.pack("<HH", side, side)
        return bytes(data)
    data = bytearray(cv2.imencode("." + kind, img)[1].tobytes())
    if kind == "png":
        data[16:24] = struct.pack(">II", side, side)
    elif kind == "jpg":
        at = data.index(b"\xff\xc0")
        data[at + 5 : at + 9] = struct.pack(">HH", side, side)
    elif kind == "bmp":
        data[18:26] = struct.pack("<ii", side, side)
    elif kind == "webp" and data[12:16] == b"VP8L":  # OpenCV writes lossless WebP: 14 bits per side, minus one
        data[21:25] = struct.pack("<I", (side - 1) | (side - 1) << 14 | (data[24] >> 4) << 28)
    elif kind == "webp":
        data[26:30] = struct.pack("<HH", side, side)
    elif kind == "tiff":
        end = "<" if data[:2] == b"II" else ">"
        (ifd,) = struct.unpack(end + "I", data[4:8])
        (count,) = struct.unpack(end + "H", data[ifd : ifd + 2])
        for i in range(count):
            at = ifd + 2 + 12 * i
            tag, typ = struct.unpack(end + "HH", data[at : at + 4])
            if tag in (256, 257):
                data[at + 8 : at + 12] = struct.pack(end + ("HH" if typ == 3 else "I"), *((side, 0) if typ == 3 else (side,)))
    elif kind == "ppm":
        return f"P6\n{side} {side}\n255\n".encode() + bytes(64)
    return bytes(data)


@pytest.mark.parametrize("kind", ["png", "jpg", "bmp", "webp", "tiff", "gif", "ppm"])
def test_every_decoded_format_is_sized_from_its_header_and_refused_over_the_limit(kind):
    assert image_size(_patched(kind, 32)) == (32, 32)
    t0 = time.perf_counter()
    side = 16383 if kind == "webp" else 60000  # VP8 holds 14 bits per side
    with pytest.raises(InputTooLargeError, match=f"{side} x {side}"):
        decode_image(_patched(kind, side), f"big.{kind}")
    assert time.perf_counter() - t0 < 0.2


def test_real_photos_are_sized_as_decoded(data_dir):
    for path in sorted((data_dir / "images").glob("*.*")):
        if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
            w, h = image_size(path.read_bytes())
            assert load_image(path).shape[:2] in ((h, w), (w, h)), path  # (w, h) when EXIF rotates it


def test_unrecognised_formats_and_empty_headers_are_refused():
    with pytest.raises(InvalidInputError, match="cannot decode it"):
        decode_image(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32), "sound.wav")
    with pytest.raises(InvalidInputError, match="declares 0 x 32"):
        decode_image(_patched("bmp", 32)[:18] + struct.pack("<ii", 0, 32) + _patched("bmp", 32)[26:], "flat.bmp")


def test_the_pixel_limit_is_raised_or_lowered_by_option_env_and_flag(monkeypatch, data_dir, vision_bundle, capsys):
    from edge_sdk.cli import main
    from edge_sdk.vision.classifier import FrameClassifierOptions

    photo = data_dir / "images" / "coffee.png"
    with pytest.raises(InputTooLargeError, match="limit of 0.0 megapixels \\(1000 pixels\\)"):
        load_image(photo, max_pixels=1000)
    monkeypatch.setenv("EDGE_SDK_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(InputTooLargeError, match="EDGE_SDK_MAX_IMAGE_PIXELS"):
        load_image(photo)
    assert load_image(photo, max_pixels=DEFAULT_MAX_IMAGE_PIXELS).ndim == 3  # the option wins over the variable
    monkeypatch.setenv("EDGE_SDK_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(InvalidInputError, match="EDGE_SDK_MAX_IMAGE_PIXELS='lots'"):
        load_image(photo)
    monkeypatch.delenv("EDGE_SDK_MAX_IMAGE_PIXELS")
    with pytest.raises(InvalidInputError, match="max_image_pixels"):
        FrameClassifierOptions(max_image_pixels=0)
    assert main(["classify", "--bundle", str(vision_bundle), "--variant", "fp32", "--max-pixels", "1000", str(photo)]) == 2
    assert "over the limit" in capsys.readouterr().err


def test_text_over_max_chars_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("w") as f:
        for _ in range(50):
            f.write("The council met again on Monday and talked about the park. " * 17500 + "\n\n")
    assert big.stat().st_size > 50 * 10**6
    m = run_measured([sys.executable, "-m", "edge_sdk", "summarize", str(big), "--max-chars", "10000000"], timeout_s=120)
    err = m.stderr.decode()
    assert m.exit_code == 2 and err.count("\n") == 1, err
    assert "over the limit of 10,000,000" in err and "--max-chars" in err
    assert m.peak_rss_mb < 150 and m.wall_s < 30, (m.peak_rss_mb, m.wall_s)  # the 50 MB are never read


def test_stdin_is_read_no_further_than_the_limit(monkeypatch, capsys):
    from edge_sdk.cli import main

    stream = io.BytesIO(b"word " * 10**6)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))
    assert main(["summarize", "-", "--max-chars", "1000"]) == 2
    assert "at least 1,001 characters, over the limit of 1,000" in capsys.readouterr().err
    assert stream.tell() <= 4001  # what 1,000 characters can take at most, and one byte more


def test_long_text_shows_progress_on_stderr_when_asked(text_bundle, data_dir, tmp_path, capsys):
    from edge_sdk.cli import main
    from edge_sdk.text.evaluate import load_jsonl

    doc = tmp_path / "long.txt"
    doc.write_text(load_jsonl(data_dir / "text" / "long_documents.jsonl")[0].article)
    assert main(["summarize", str(doc), "--bundle", str(text_bundle), "--variant", "int8", "--json"]) == 0
    assert capsys.readouterr().err == ""  # stderr is no terminal here: quiet unless --progress
    assert main(["summarize", str(doc), "--bundle", str(text_bundle), "--variant", "int8", "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("summarizing: ")]
    assert len(lines) >= 2 and json.loads(captured.out)["chunks"] >= 2, captured.err
    assert re.fullmatch(r"summarizing: [\d,]+ characters \(100 %\), [\d,]+ characters/s, about 0 s left", lines[-1]), lines[-1]


STREAM_RSS = textwrap.dedent("""
    import json, sys
    from edge_sdk.text.summarizer import Summarizer, SummarizerOptions

    def rss_mb():
        return next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))

    seen = []
    options = SummarizerOptions(bundle=sys.argv[2], variant="int8", window_chars=int(sys.argv[3]))
    with Summarizer.create(options) as s:
        summary = s.summarize_stream(sys.argv[1], sentences=3, progress=lambda chars, done, total: seen.append((chars, rss_mb())))
    print(json.dumps({"rss_mb": seen, "summary": summary.to_dict()}))
""")


@pytest.mark.slow
def test_a_long_text_is_summarized_in_windows_at_flat_rss(text_bundle, data_dir, tmp_path):
    """300 kB of the shared articles in 32 k-character windows (about ten): the summary keeps its offsets, and RSS after
    the last window is that after the third, under a ceiling; the whole text was never held."""
    doc = big_text(tmp_path / "articles.txt", data_dir, 300_000)
    m = run_measured([sys.executable, "-c", STREAM_RSS, str(doc), str(text_bundle), "32768"], timeout_s=300)
    assert m.exit_code == 0, m.stderr.decode()[-2000:]
    report = json.loads(m.stdout)
    rss = [mb for _, mb in report["rss_mb"]]
    text = doc.read_text(encoding="utf-8")
    summary = report["summary"]
    assert len(rss) >= 9 and report["rss_mb"][-1][0] == len(text)
    assert len(summary["sentences"]) == 3 and all(text[s["start_char"] : s["end_char"]] == s["text"] for s in summary["sentences"])
    assert max(rss[2:]) - rss[2] < 45, rss  # no growth with the text (allocator noise is some 30 MB)
    assert m.peak_rss_mb < STREAM_RSS_CEILING_MB, m.peak_rss_mb


def test_50_mb_of_mostly_blank_text_streams_at_the_rss_of_a_small_one(text_bundle, tmp_path):
    """50 MB that is mostly blank lines, with a paragraph every 5 MB: read, decoded and windowed in full in seconds,
    at the RSS of the model and one window (held whole, 50 MB of text is 100 MB of bytes and str before any work)."""
    big = tmp_path / "blank.txt"
    para = "The council met again on Monday. It voted to repair the old bridge by May, and work starts in spring.\n\n"
    with big.open("w") as f:
        for _ in range(10):
            f.write(para + (" " * 99 + "\n") * 50_000)
    assert big.stat().st_size > 50 * 10**6
    m = run_measured([sys.executable, "-m", "edge_sdk", "summarize", str(big), "--bundle", str(text_bundle), "--variant", "int8",
                      "--json"], timeout_s=300)
    assert m.exit_code == 0, m.stderr.decode()[-2000:]
    summary = json.loads(m.stdout)
    assert summary["input_sentences"] == 20 and summary["chunks"] >= 10
    assert m.peak_rss_mb < 180, m.peak_rss_mb  # 112 MB measured


def _write_silence(path, seconds: float, rate: int, channels: int) -> None:
    block = np.zeros((rate * 60, channels), np.int16)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(seconds // 60)):
            f.write(block)


READ_ALL = textwrap.dedent("""
    import sys
    from edge_sdk.audio import AudioFileReader
    reader = AudioFileReader(sys.argv[1])
    print(sum(b.shape[0] for b in reader.blocks()), reader.conversion.describe())
""")


def test_a_long_file_is_decoded_and_resampled_at_flat_rss(tmp_path):
    """1 min and 1 h of 44.1 kHz stereo FLAC through the block reader: the same peak RSS (whole, 1 h was 1.3 GB of float32)."""
    peaks = {}
    for minutes in (1, 60):
        path = tmp_path / f"{minutes}min.flac"
        _write_silence(path, minutes * 60, 44100, 2)
        m = run_measured([sys.executable, "-c", READ_ALL, str(path)], timeout_s=600)
        samples, _ = m.stdout.decode().split(" ", 1)
        assert m.exit_code == 0 and abs(int(samples) - minutes * 60 * 16000) <= 1, m.stderr.decode()[-2000:]
        assert "2 channels averaged to mono; resampled 44100 Hz -> 16000 Hz" in m.stdout.decode()
        peaks[minutes] = m.peak_rss_mb
    assert peaks[60] - peaks[1] < 30, peaks


def test_blocks_join_to_the_samples_of_a_whole_file_read(data_dir):
    """44.1 kHz stereo 24-bit, read in 1 s blocks (each downmixed and resampled as it comes): the very same samples."""
    from edge_sdk.audio import AudioFileReader, load_audio

    path = data_dir / "speech" / "public_domain" / "jfk.flac"
    whole, info = load_audio(path)
    reader = AudioFileReader(path, block_s=1.0)
    joined = np.concatenate(list(reader.blocks()))
    assert np.array_equal(joined, whole) and reader.conversion == info


def test_float_audio_far_outside_the_unit_range_is_refused(tmp_path, data_dir):
    from edge_sdk.audio import AudioFileReader, convert, load_audio

    audio, _ = load_audio(data_dir / "speech" / "public_domain" / "jfk.flac")
    with pytest.raises(InvalidInputError, match=r"float samples reach 2564\d\.\d, far outside \[-1, 1\].*divide by 32768"):
        convert(audio * 32768, 16000)
    convert(audio * 4, 16000)  # over-driven, still transcribed as given (the transcript holds up to a peak of 12.5)
    convert((audio * 32767).astype(np.int16), 16000)  # integers are scaled, never refused
    loud = tmp_path / "loud.wav"
    sf.write(str(loud), audio * 32768, 16000, subtype="FLOAT")
    with pytest.raises(InvalidInputError, match="far outside"):
        AudioFileReader(loud)
    m = run_measured([sys.executable, "-m", "edge_sdk", "transcribe", str(loud)], timeout_s=120)
    assert m.exit_code == 2 and m.stderr.decode().startswith("edge-sdk: error: float samples reach")
