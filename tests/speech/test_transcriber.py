"""Offline Whisper transcription on the real bundle: accuracy, timestamps, silence, bad input."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

from edge_sdk.audio import load_audio
from edge_sdk.bundle import load_bundle
from edge_sdk.errors import BundleNotFoundError, EmptyInputError, InputTooLargeError, InvalidInputError
from edge_sdk.speech.decoding import repeated_ngram_tokens
from edge_sdk.speech.evaluate import corpus_wer, evaluate, normalizer, read_manifest
from edge_sdk.speech.results import Segment
from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="module")
def asr(speech_bundle):
    return Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant="int8"))


def test_bundle_has_variants_assets_and_measured_metrics(speech_bundle):
    b = load_bundle(speech_bundle)
    assert (b.name, b.task, b.family) == ("whisper-tiny.en", "speech", "whisper")
    assert {"fp32", "int8", "fp16"} <= set(b.variants)
    assert {"tokenizer", "vad"} <= set(b.assets)
    for name in ("fp32", "int8", "fp16"):
        m = b.variants[name].metrics
        assert m["n"] == 44 and m["manifest"].endswith("transcripts.tsv"), m
        assert 0 < m["wer"] < 15 and m["rtf"] > 0 and m["latency_2_5s_ms"] > 0
    assert b.variants["int8"].metrics["wer"] <= b.variants["fp32"].metrics["wer"] + 0.3
    assert b.verify() == []


def test_int8_graphs_hold_integer_matmuls(speech_bundle):
    onnx = pytest.importorskip("onnx", reason="reading the graph needs onnx (edge-sdk-ondevice[quantize])")

    b = load_bundle(speech_bundle)
    for role in ("encoder", "decoder"):
        model = onnx.load_from_string(b.read(b.variants["int8"].files[role]))
        ops = {n.op_type for n in model.graph.node}
        assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, sorted(ops)


@pytest.mark.parametrize("variant", ["fp32", "int8", "fp16"])
def test_a_long_prompt_makes_logits_of_its_last_two_positions_only(speech_bundle, variant):
    """The output projection reads the start token's row and the last (a 227-token prompt made 47 MB of logits)."""
    dec = Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant=variant))._decoder
    cross = dec.encode(np.zeros((80, 200), np.float32))
    tokens = np.array([[dec.tok.sot_prev, *range(300, 340), dec.tok.sot, dec.tok.no_timestamps]], np.int64)
    logits, kv = dec._step(tokens, dec._empty_cache(), cross)
    assert logits.shape == (1, 2, dec.vocab) and kv[0].shape[2] == tokens.shape[1]


class _EveryPosition:
    """A decoder session as bundles built before issue 34 made it: logits of every prompt position (here the
    positions before the last two are noise)."""

    def __init__(self, session) -> None:
        self.session = session

    def run(self, names, feeds):
        logits, *rest = self.session.run(names, feeds)
        b, n, v = logits.shape
        noise = np.random.default_rng(n).normal(0, 30, (b, feeds["tokens"].shape[1] - n, v)).astype(np.float32)
        return [np.concatenate([noise, logits], axis=1), *rest]


@pytest.mark.parametrize("timestamps", [True, False])
def test_decoding_reads_the_prompt_rows_from_the_end_so_full_logit_bundles_decode_the_same(asr, data_dir, timestamps):
    import copy

    from edge_sdk.speech.features import CHUNK_FRAMES, log_mel

    audio, _ = load_audio(data_dir / "speech" / "librispeech/237-134500-0000.flac")
    dec = asr._decoder
    cross = dec.encode(log_mel(audio, CHUNK_FRAMES))
    old = copy.copy(dec)
    old.decoder = _EveryPosition(dec.decoder)
    prompt = dec.tok.encode(" The meeting is about the budget.")
    want = dec.generate(cross, prompt=prompt, timestamps=timestamps)
    assert old.generate(cross, prompt=prompt, timestamps=timestamps) == want and want.tokens


def test_vad_asset_is_the_silero_model(asr):
    from pathlib import Path

    silero_vad = pytest.importorskip("silero_vad", reason="the reference copy ships in silero-vad (edge-sdk-ondevice[quantize])")

    expected = (Path(silero_vad.__file__).parent / "data" / "silero_vad.onnx").read_bytes()
    assert asr.vad_model_bytes() == expected


def test_int8_corpus_wer_within_budget_of_fp32(asr, data_dir):
    result = evaluate(asr, data_dir / "speech" / "transcripts.tsv")
    fp32_wer = asr.bundle.variants["fp32"].metrics["wer"]
    assert result.n == 44 and result.variant == "int8"
    # within the gate's budget of fp32 (5.56 % here), so a one-point loss fails; not equal to the gate's own figure:
    # a runtime-only environment with another onnxruntime build measured 5.105 % where the build measured 5.255 %
    assert result.wer <= fp32_wer + 0.3, (result.wer, fp32_wer)


def test_jfk_exact_transcript_from_44k_stereo_24bit(asr, data_dir):
    segments, info = asr.transcribe(data_dir / "speech" / "public_domain" / "jfk.flac")
    segments = list(segments)
    norm = normalizer()
    assert norm(" ".join(s.text for s in segments)) == norm(JFK)
    assert "2 channels averaged" in info.conversion and "44100 Hz -> 16000 Hz" in info.conversion and "PCM_24" in info.conversion
    assert info.variant == "int8" and info.providers and abs(info.duration_s - 11.0) < 0.1
    starts = [s.start_s for s in segments]
    assert starts == sorted(starts) and all(s.start_s < s.end_s <= info.duration_s for s in segments)


def test_transcribe_is_lazy_and_windows_long_audio(asr, data_dir):
    rows = read_manifest(data_dir / "speech" / "transcripts.tsv")[:10]  # 40.6 s: two windows
    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([np.concatenate([load_audio(p)[0], gap]) for p, _ in rows])
    segments, info = asr.transcribe(audio, sample_rate=16000)
    assert not isinstance(segments, list) and info.duration_s > 35
    segments = list(segments)
    assert segments[-1].end_s > 30.0
    ends = [s.end_s for s in segments]
    assert ends == sorted(ends) and all(s.start_s < s.end_s for s in segments)
    wer = corpus_wer([" ".join(r for _, r in rows)], [" ".join(s.text for s in segments)])
    assert wer <= 1.8, wer  # 1 error in 116 words measured (int8); 2 allowed, a third is a regression


def test_no_repeat_ngram_size_forbids_a_repeated_run_of_text_tokens(speech_bundle, data_dir):
    # JFK says "can do for" twice ("... can do for you, ask what you can do for your country"): with runs of 3
    # forbidden the second one cannot be written; the default transcript has both (test above)
    opts = TranscriberOptions(bundle=str(speech_bundle), variant="fp32", no_repeat_ngram_size=3)
    text = normalizer()(" ".join(s.text for s in Transcriber.create(opts).transcribe(data_dir / "speech" / "public_domain" / "jfk.flac")[0]))
    assert text.startswith("and so my fellow americans ask not what your country can do for you") and text.count("can do for") == 1


def test_repeated_ngram_tokens_are_those_completing_an_earlier_run():
    tb = 100
    assert repeated_ngram_tokens([1, 2, 3, 1, 2], 3, tb) == [3]
    assert repeated_ngram_tokens([1, 2, 3, tb + 5, 1, 2], 3, tb) == [3]  # timestamps between do not hide a repeat
    assert sorted(repeated_ngram_tokens([7, 1, 7, 2, 7], 2, tb)) == [1, 2]
    assert repeated_ngram_tokens([1, 2, 3, 1, 2], 0, tb) == [] and repeated_ngram_tokens([1], 3, tb) == []
    assert repeated_ngram_tokens([5, 5], 1, tb) == [5, 5]  # n=1: no text token twice


def test_greedy_search_stops_once_it_loops_and_the_window_is_decoded_again(speech_bundle, data_dir):
    # "She murmured." (1.15 s of speech/long): with 3 to 5 s of encoder context tiny.en loops on it
    # ("She murmured, she murmured, ..."); the search stops at the fourth repeat, not at the 100-token cap,
    # and the transcriber's retry with 30 s of context gives the words
    from edge_sdk.speech.features import log_mel

    asr = Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant="fp32"))
    audio, _ = load_audio(data_dir / "speech" / "long" / "237-134500_chapter_concat.flac")
    chunk = audio[int(140.61 * 16000) : int(141.76 * 16000)]
    dec = asr._decoder
    results = [dec.generate(dec.encode(log_mel(chunk, seconds * 100)), max_new_tokens=100) for seconds in (3, 4, 5)]
    looped = [r for r in results if r.looping]
    assert looped, [r.text for r in results]
    assert all(r.truncated and len(r.tokens) <= 6 * 4 + 2 for r in looped), [len(r.tokens) for r in looped]
    assert normalizer()(" ".join(s.text for s in asr.decode(chunk))) == "she murmured"


def test_decode_short_utterance_times_are_relative(asr, data_dir):
    audio, _ = load_audio(data_dir / "speech" / "librispeech" / "237-134500-0004.flac")
    segments = asr.decode(audio)
    assert segments and all(isinstance(s, Segment) for s in segments)
    assert normalizer()(" ".join(s.text for s in segments)) == "that invitation decided her"
    assert 0.0 <= segments[0].start_s < segments[-1].end_s <= len(audio) / 16000 + 0.01


def test_beam_search_option(speech_bundle, data_dir):
    beam = Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant="int8", beam_size=3))
    audio, _ = load_audio(data_dir / "speech" / "librispeech" / "237-134500-0002.flac")
    text = " ".join(s.text for s in beam.decode(audio))
    ref = "A BRISK WIND HAD COME UP AND WAS DRIVING PUFFY WHITE CLOUDS ACROSS THE SKY"
    assert corpus_wer([ref], [text]) <= 10.0, text


def test_a_variant_s_own_window_margin_overrides_the_bundle_s(speech_bundle, tmp_path, data_dir):
    """A variant trained with another margin (a distilled student) carries it; the others keep the bundle's."""
    from edge_sdk.quantize.bundle_writer import scratch_copy

    bundle = load_bundle(speech_bundle)
    fp32 = {role: bundle.path_of(f) for role, f in bundle.variants["fp32"].files.items()}
    root = scratch_copy(speech_bundle, tmp_path / "bundle", {"narrow": fp32}, {"window_margin_s": 1.0})
    narrow = Transcriber.create(TranscriberOptions(bundle=str(root), variant="narrow"))
    assert narrow.window_margin_s == 1.0
    wide = Transcriber.create(TranscriberOptions(bundle=str(root), variant="fp32"))
    assert wide.window_margin_s == float(bundle.preprocessing.get("window_margin_s", 30.0)) != 1.0
    given = Transcriber.create(TranscriberOptions(bundle=str(root), variant="narrow", window_margin_s=30))
    assert given.window_margin_s == 30
    audio, _ = load_audio(data_dir / "speech" / "public_domain" / "jfk.flac")
    assert "ask not what your country can do for you" in " ".join(s.text for s in narrow.decode(audio)).lower()


@pytest.mark.parametrize("kind", ["silence", "white_noise", "hum"])
def test_silence_and_noise_give_no_text(asr, kind):
    rng = np.random.default_rng(7)
    n = 16000 * 8
    audio = {
        "silence": np.zeros(n, np.float32),
        "white_noise": (0.05 * rng.standard_normal(n)).astype(np.float32),
        "hum": (0.1 * np.sin(2 * np.pi * 50 * np.arange(n) / 16000)).astype(np.float32),
    }[kind]
    segments, _ = asr.transcribe(audio, sample_rate=16000)
    assert list(segments) == []
    assert asr.decode(audio) == []


def test_empty_nan_and_zero_length_file_are_refused(asr, tmp_path):
    with pytest.raises(InvalidInputError, match="empty"):
        asr.transcribe(np.zeros(0, np.float32), sample_rate=16000)
    bad = np.zeros(16000, np.float32)
    bad[100] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        asr.transcribe(bad, sample_rate=16000)
    with pytest.raises(InvalidInputError, match="NaN"):
        asr.decode(bad)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="0 bytes"):
        asr.transcribe(empty)
    with pytest.raises(BundleNotFoundError):
        asr.transcribe(tmp_path / "missing.wav")


def test_a_file_streamed_in_blocks_transcribes_as_the_whole_array(asr, data_dir, tmp_path):
    """16 clips (77 s) as one 44.1 kHz stereo file: three 30 s blocks, each downmixed and resampled as it comes, and
    windows that straddle them give the very segments of the file decoded whole."""
    import soundfile as sf
    import soxr

    rows = read_manifest(data_dir / "speech" / "transcripts.tsv")[:16]
    audio = np.concatenate([np.concatenate([load_audio(p)[0], np.zeros(8000, np.float32)]) for p, _ in rows])
    stereo = soxr.resample(np.stack([audio, 0.5 * audio], axis=1), 16000, 44100)
    path = tmp_path / "clips-44k-stereo.flac"
    sf.write(str(path), stereo, 44100, subtype="PCM_24")
    streamed, info = asr.transcribe(path)
    streamed = list(streamed)
    whole, _ = load_audio(path)
    assert streamed == list(asr.transcribe(whole, sample_rate=16000)[0])
    assert streamed[-1].end_s > 60 and abs(info.duration_s - stereo.shape[0] / 44100) < 1e-6
    assert corpus_wer([" ".join(r for _, r in rows)], [" ".join(s.text for s in streamed)]) < 10.0


def test_max_duration_s_refuses_longer_audio_before_decoding(speech_bundle, data_dir, tmp_path):
    short = Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant="int8", max_duration_s=5))
    with pytest.raises(InputTooLargeError, match=r"11.0 s long, over the limit of 5 s.*max_duration_s \(--max-duration-s\)"):
        short.transcribe(data_dir / "speech" / "public_domain" / "jfk.flac")
    with pytest.raises(InputTooLargeError, match="6.0 s long, over the limit of 5 s"):
        short.transcribe(np.zeros(6 * 16000, np.float32), sample_rate=16000)
    assert list(short.transcribe(np.zeros(4 * 16000, np.float32), sample_rate=16000)[0]) == []
    with pytest.raises(InvalidInputError, match="max_duration_s"):
        TranscriberOptions(max_duration_s=0)


def test_a_file_with_no_samples_is_refused_as_empty(asr, tmp_path):
    import soundfile as sf

    path = tmp_path / "none.wav"
    sf.write(str(path), np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(EmptyInputError, match="empty \\(0 samples\\)"):
        asr.transcribe(path)


def test_wrong_types_and_rates_are_refused(asr):
    with pytest.raises(InvalidInputError, match="file path or a sample array"):
        asr.transcribe(12345)
    with pytest.raises(InvalidInputError, match="sample_rate"):
        asr.transcribe(np.zeros(16000, np.float32))
    with pytest.raises(InvalidInputError, match="sample_rate"):
        asr.transcribe(np.zeros(16000, np.float32), sample_rate=12)
    with pytest.raises(InvalidInputError, match="float"):
        asr.decode(np.zeros(16000, np.int16))
    with pytest.raises(InvalidInputError, match="numpy"):
        asr.decode([0.0] * 100)
    with pytest.raises(InvalidInputError, match="at most 30 s"):
        asr.decode(np.zeros(16000 * 31, np.float32))


@pytest.mark.parametrize(
    "kwargs, word",
    [({"beam_size": 0}, "beam_size"), ({"window_margin_s": -1}, "window_margin_s"), ({"no_speech_threshold": 2}, "no_speech_threshold"), ({"bundle": ""}, "bundle"),
     ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size")],
)
def test_options_are_validated(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        TranscriberOptions(**kwargs)


def test_create_stream_returns_a_speech_stream(asr):
    from edge_sdk.speech.stream import SpeechStream, StreamOptions

    stream = asr.create_stream()
    assert isinstance(stream, SpeechStream)
    with asr.create_stream(StreamOptions(min_silence_ms=300), light_model=asr, max_utterance_s=10.0) as stream:
        assert (stream.options.min_silence_ms, stream.options.max_utterance_s) == (300, 10.0)
        assert stream._models == (asr, asr)
    with pytest.raises(InvalidInputError, match="StreamOptions"):
        asr.create_stream({"min_silence_ms": 300})


def test_live_events_carry_the_transcriber_s_provenance_as_offline_results_do(asr, data_dir):
    audio = load_audio(data_dir / "speech/public_domain/jfk.flac")[0]
    _, info = asr.transcribe(audio[:16000], 16000)
    with asr.create_stream() as stream:
        finals = [e for e in stream.accept_waveform(audio, 16000) + stream.input_finished() if e.kind == "final"]
    assert finals and info.provenance == asr.provenance and {e.provenance for e in finals} == {asr.provenance}
    assert asr.provenance.to_dict() == {"bundle": info.bundle, "variant": info.variant, "providers": list(info.providers),
                                        "fallback": info.fallback}


def test_decode_options_are_declared_once_with_each_path_s_default():
    from edge_sdk.speech.model import DecodeOptions
    from edge_sdk.speech.stream import StreamOptions

    offline, live = TranscriberOptions(), StreamOptions()
    assert isinstance(offline, DecodeOptions) and isinstance(live, DecodeOptions)
    # Whisper's default offline; off live, where it measured worse
    assert (offline.condition_on_previous_text, live.condition_on_previous_text) == (True, False)
    assert (offline.no_speech_threshold, offline.logprob_threshold) == (0.6, -1.0)
    assert (live.no_speech_threshold, live.logprob_threshold) == (0.6, -1.0)
    with pytest.raises(InvalidInputError, match=r"StreamOptions\.logprob_threshold=0\.5"):
        StreamOptions(logprob_threshold=0.5)


def test_transcriber_is_a_speech_model_that_re_decodes(asr):
    from edge_sdk.speech.model import SpeechModel

    assert isinstance(asr, SpeechModel) and not asr.incremental
    assert asr.device.fallback == asr.fallback
    with pytest.raises(InvalidInputError, match="decode"):
        asr.start_utterance()


def test_close_drops_the_sessions_and_later_calls_raise(speech_bundle, data_dir):
    with Transcriber.create(TranscriberOptions(bundle=str(speech_bundle), variant="int8")) as asr:
        stream = asr.create_stream()
        segments, _ = asr.transcribe(np.zeros(16000, np.float32), 16000)
        encoder = weakref.ref(asr._decoder.encoder)
        variant = asr.variant
    gc.collect()
    assert encoder() is None  # nothing holds the onnxruntime session any more
    assert asr.variant == variant  # provenance stays readable
    for call in (
        lambda: asr.decode(np.zeros(1600, np.float32)),
        lambda: asr.transcribe(np.zeros(1600, np.float32), 16000),
        asr.create_stream,
        lambda: list(segments),
    ):
        with pytest.raises(InvalidInputError, match="closed"):
            call()
    asr.close()  # idempotent
    audio = load_audio(data_dir / "speech/public_domain/jfk.flac")[0]
    with pytest.raises(InvalidInputError, match="closed"):  # a stream over it fails at its first decode
        stream.accept_waveform(audio, 16000)
        stream.input_finished()


def test_cli_transcribe_json_and_eval(speech_bundle, data_dir, tmp_path, capsys):
    from edge_sdk.cli import main

    jfk = str(data_dir / "speech" / "public_domain" / "jfk.flac")
    assert main(["transcribe", jfk, "--bundle", str(speech_bundle), "--variant", "int8", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines and all(set(x) == {"text", "start_s", "end_s"} for x in lines)
    manifest = tmp_path / "m.tsv"
    rows = (data_dir / "speech" / "transcripts.tsv").read_text().splitlines()[:3]
    manifest.write_text("\n".join(f"{data_dir / 'speech' / r.split(chr(9))[0]}\t{r.split(chr(9))[1]}" for r in rows))
    assert main(["eval", "speech", "--manifest", str(manifest), "--bundle", str(speech_bundle), "--variant", "int8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and out["variant"] == "int8" and out["providers"] and out["wer"] < 20 and out["rtf"] > 0


def test_cli_word_timestamps_int8(speech_bundle, data_dir, capsys):
    """``--word-timestamps``: every segment lists its words, in order, inside the segment, spelling its text."""
    from edge_sdk.cli import main

    jfk = str(data_dir / "speech" / "public_domain" / "jfk.flac")
    assert main(["transcribe", jfk, "--bundle", str(speech_bundle), "--variant", "int8", "--word-timestamps", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    words = [w for seg in lines for w in seg["words"]]
    assert " ".join(w["text"] for w in words) == " ".join(seg["text"] for seg in lines)
    assert normalizer()(" ".join(w["text"] for w in words)) == normalizer()(JFK)
    for seg in lines:
        assert all(seg["start_s"] - 0.05 <= w["start_s"] <= w["end_s"] <= seg["end_s"] + 0.05 for w in seg["words"])
    assert [w["start_s"] for w in words] == sorted(w["start_s"] for w in words)
    by_word = {w["text"].strip(",."): w for w in words}
    assert 1.3 <= by_word["fellow"]["start_s"] <= 1.6 and 10.0 <= by_word["country"]["start_s"] <= 10.4  # faster-whisper: 1.46, 10.22


def test_runtime_transcribes_without_torch(speech_bundle, data_dir):
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('torch', 'transformers', 'optimum'):
                    raise ImportError('blocked: ' + name)
        sys.meta_path.insert(0, Block())
        from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions
        asr = Transcriber.create(TranscriberOptions(bundle={str(speech_bundle)!r}, variant='int8'))
        segments, _ = asr.transcribe({str(data_dir / 'speech' / 'librispeech' / '237-134500-0004.flac')!r})
        print(' '.join(s.text for s in segments))
        assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'optimum')]
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "invitation decided her" in out.stdout.lower()
