"""Offline transcription with Whisper bundles: options, the :class:`Transcriber` task, windowing.

Long audio is cut into 30 s windows; each window is decoded with timestamps and the next window
starts at the last complete segment's end, as Whisper does. A window shorter than 30 s (short
audio, the last window of a file) runs the encoder on its own length plus a small margin instead
of padding to 30 s, so short utterances cost in proportion to their length.

A file is decoded block by block as the windows reach it (:class:`~edge_sdk.audio.AudioFileReader`
feeding a :class:`SampleWindow`), so memory is the same for a minute or for hours of audio.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from edge_sdk.audio import AudioFileReader, load_audio
from edge_sdk.bundle import Bundle, load_bundle
from edge_sdk.errors import BundleError, EmptyInputError, InputTooLargeError, InvalidInputError
from edge_sdk.speech.alignment import ENCODER_FRAMES_PER_S, Word, align_words
from edge_sdk.speech.decoding import DecodeResult, WhisperDecoder
from edge_sdk.speech.features import CHUNK_FRAMES, FRAMES_PER_SECOND, HOP_LENGTH, SAMPLE_RATE, log_mel
from edge_sdk.speech.model import DecodeOptions, Utterance
from edge_sdk.speech.results import Segment, TranscriptionInfo
from edge_sdk.speech.stream import StreamingModel
from edge_sdk.speech.tokenizer import WhisperTokenizer
from edge_sdk.task import Provenance

if TYPE_CHECKING:
    from edge_sdk.devices.resolve import ResolvedDevice

log = logging.getLogger(__name__)

CHUNK_SAMPLES = CHUNK_FRAMES * HOP_LENGTH
DEFAULT_BUNDLE = "whisper-tiny.en"
# Upper bound on tokens per second of audio (fast speech is ~4 text tokens/s plus timestamps):
# a repetition loop stops here instead of running to the 224-token limit.
MAX_TOKENS_PER_S = 10


@dataclass(frozen=True)
class TranscriberOptions(DecodeOptions):
    """How a :class:`Transcriber` is built and decodes.

    The decode options shared with live streams (``condition_on_previous_text``, default True here,
    ``no_speech_threshold``, ``logprob_threshold``) are those of :class:`~edge_sdk.speech.model.DecodeOptions`,
    keyword-only.

    Attributes:
        bundle: Bundle store name or folder path.
        variant: Bundle variant (``int8``, ``fp32``, ``fp16``); None lets the device profile choose.
        device: Device profile name, TOML path, ``"auto"``, or a resolved device.
        beam_size: 1 for greedy search; more for beam search.
        window_margin_s: Audio margin the encoder sees past the end of a short window, after
            rounding up to whole seconds; None uses the variant's (else the bundle's) measured choice, 30 pads every
            window to 30 s like reference Whisper.
        no_speech_hard_threshold: A window whose no-speech probability is above this gives no
            text whatever its log-probability. Whisper's rule alone lets tiny.en say "you" with
            log-probability -0.6 on digital silence (no-speech 0.99); on the shared speech clips
            the no-speech probability stays under 0.15.
        compression_ratio_threshold: gzip ratio over which a window is a repetition loop.
        drop_unreliable: Give no text for windows still unreliable after the beam-search retry.
        no_repeat_ngram_size: Never generate a run of this many text tokens twice in one window (0, the
            default: allowed, as Whisper). A guard against the short loops a distilled 2-layer decoder
            falls into ("ask what you can do for you, ask what you can do for ..."), which stay under
            the compression-ratio threshold; faster-whisper has the same option.
        word_timestamps: Give each segment its words with start and end times (``Segment.words``),
            aligned with the decoder's cross-attention as Whisper does; costs one more decoder pass per window.
        max_duration_s: Refuse audio longer than this, before decoding it (read from a file's header);
            None (the default): any length. Memory does not depend on it: files are streamed either way.
        hotwords: Names and rare words the audio is likely to hold (``("Lumiflex", "Saoirse")``), given to
            Whisper as previous text (``<|startofprev|>`` tokens, as faster-whisper's ``hotwords``). Tokenized once.
            Every window of ``transcribe()`` and every ``decode()`` (so every utterance of a live stream over this
            transcriber too) is decoded as usual, then decoded again on the same encoder output with the hotwords
            before its previous text; the second result is kept only when it holds more of the hotwords and is not
            unreliable. Always prompting costs tiny.en 1.7 to 3 points of WER on the shared clips, which hold no
            hotword; this rule keeps them unchanged at one more decoder pass per window
            (``benchmarks/experiments/hotwords``). Previous text fills the rest of Whisper's 223-token prompt;
            hotwords over the limit keep their last tokens (logged). CTC bundles have no text prompt and refuse
            them (``Transcriber.create`` raises).
    """

    bundle: str = DEFAULT_BUNDLE
    variant: str | None = None
    device: str | ResolvedDevice = "auto"
    beam_size: int = 1
    window_margin_s: float | None = None
    no_speech_hard_threshold: float = 0.8
    compression_ratio_threshold: float = 2.4
    drop_unreliable: bool = True
    word_timestamps: bool = False
    no_repeat_ngram_size: int = 0
    max_duration_s: float | None = None
    hotwords: tuple[str, ...] = ()
    allow_refused: bool = False  # load a variant its own quality gate refused (for inspection)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.bundle, (str, os.PathLike)) or not str(self.bundle):
            raise InvalidInputError(f"bundle {self.bundle!r} must be a bundle name or folder path, e.g. 'whisper-tiny.en'")
        if not isinstance(self.beam_size, int) or isinstance(self.beam_size, bool) or not 1 <= self.beam_size <= 16:
            raise InvalidInputError(f"beam_size {self.beam_size!r} must be an int from 1 (greedy) to 16")
        if self.window_margin_s is not None and not (isinstance(self.window_margin_s, (int, float)) and 0 <= self.window_margin_s <= 30):
            raise InvalidInputError(f"window_margin_s {self.window_margin_s!r} must be None or seconds from 0 to 30")
        hard = self.no_speech_hard_threshold
        if not isinstance(hard, (int, float)) or not 0.0 <= hard <= 1.0:
            raise InvalidInputError(f"no_speech_hard_threshold {hard!r} must be a probability from 0 to 1")
        if self.compression_ratio_threshold <= 0:
            raise InvalidInputError(f"compression_ratio_threshold {self.compression_ratio_threshold!r} must be > 0")
        if not isinstance(self.no_repeat_ngram_size, int) or isinstance(self.no_repeat_ngram_size, bool) or self.no_repeat_ngram_size < 0:
            raise InvalidInputError(f"no_repeat_ngram_size {self.no_repeat_ngram_size!r} must be an int >= 0 (0: allowed)")
        if self.max_duration_s is not None and (isinstance(self.max_duration_s, bool) or not isinstance(self.max_duration_s, (int, float))
                                                or not self.max_duration_s > 0):
            raise InvalidInputError(f"max_duration_s {self.max_duration_s!r} must be None (any length) or seconds > 0")
        _check_hotwords(self.hotwords)


def _check_hotwords(hotwords) -> None:
    if not isinstance(hotwords, tuple):
        raise InvalidInputError(f"hotwords {hotwords!r} must be a tuple of words, e.g. hotwords=('Lumiflex', 'Saoirse')")
    for word in hotwords:
        if not isinstance(word, str) or not word.strip():
            raise InvalidInputError(f"hotword {word!r} in {hotwords!r} must be a non-empty string")


def hotword_prompt(hotwords: tuple[str, ...]) -> str:
    """The previous text that ``hotwords`` become: ``" Lumiflex, Saoirse."`` (a leading space, as Whisper's
    previous text starts mid-stream; a list reads as text the model has seen)."""
    return " " + ", ".join(w.strip() for w in hotwords) + "." if hotwords else ""


def window_frames(n_samples: int, margin_s: float) -> int:
    """Encoder frames for a window of ``n_samples``: whole seconds plus ``margin_s``, even, at most 3000."""
    seconds = math.ceil(n_samples / SAMPLE_RATE) + margin_s
    frames = int(math.ceil(seconds * FRAMES_PER_SECOND / 2) * 2)
    return max(2, min(CHUNK_FRAMES, frames))


def _alignment_heads(bundle: Bundle, loaded, decoder: WhisperDecoder, word_timestamps: bool) -> list:
    """The variant's alignment heads; word timestamps are refused when they name layers the decoder lacks."""
    heads = bundle.preprocessing_of(loaded.variant).get("alignment_heads") or []
    beyond = sorted({layer for layer, _ in heads if layer >= decoder.layers})
    if word_timestamps and beyond:
        raise BundleError(f"bundle {bundle.name!r}, variant {loaded.variant.name!r}: its alignment heads name decoder layers "
                          f"{beyond}, but the decoder has {decoder.layers}; word timestamps need the variant's own "
                          "'alignment_heads' in its 'preprocessing'")
    return heads


class Transcriber(StreamingModel):
    """Speech-to-text on a Whisper bundle (or a CTC bundle, delegated to its model).

    Create with :meth:`create`; close with :meth:`close` or ``with``; live streams from :meth:`create_stream`.
    The transcriber holds no per-call state: one instance can serve offline calls and many live streams. It is
    a :class:`~edge_sdk.speech.model.SpeechModel`: ``incremental`` (streams decode through
    :meth:`start_utterance`) over a CTC bundle, not over a Whisper one.
    """

    _reopen = "create a new one with Transcriber.create()"

    def __init__(self, options: TranscriberOptions, bundle: Bundle, loaded, decoder: WhisperDecoder | None, ctc=None) -> None:
        self.options = options
        self.bundle = bundle
        self._loaded = loaded
        self._decoder = decoder
        self._ctc = ctc
        # Provenance is read once: it stays readable after close() drops the sessions.
        self._provenance, self._device = Provenance.of(loaded), loaded.device
        margin = options.window_margin_s
        if margin is None:  # the variant's own margin (a student may be trained for another), else the bundle's
            margin = float(bundle.preprocessing_of(loaded.variant).get("window_margin_s", 30.0))
        self.window_margin_s = margin
        self._alignment_heads = _alignment_heads(bundle, loaded, decoder, options.word_timestamps) if decoder else []
        self._hotword_tokens = _hotword_tokens(options.hotwords, decoder) if decoder else []
        self._hotword_re = re.compile(r"\b(?:" + "|".join(re.escape(w.strip()) for w in options.hotwords) + r")\b",
                                      re.IGNORECASE) if options.hotwords else None

    @classmethod
    def create(cls, options: TranscriberOptions | None = None) -> Transcriber:
        """Load the bundle, verify its files and build the sessions.

        Raises:
            BundleNotFoundError: No such bundle.
            BundleError: The bundle is not a speech bundle, or a file fails verification.
            ProviderUnavailableError: The device profile needs a provider onnxruntime lacks.
        """
        from edge_sdk.runtime import load_model

        options = options or TranscriberOptions()
        bundle = load_bundle(options.bundle)
        if bundle.task != "speech":
            raise BundleError(f"bundle {bundle.name!r} is a {bundle.task} bundle; Transcriber needs a speech bundle")
        if bundle.family == "ctc":
            from edge_sdk.speech.ctc import CTCModel, CTCOptions

            if options.hotwords:
                raise InvalidInputError(f"bundle {bundle.name!r} is CTC, which has no text prompt for hotwords "
                                        f"{options.hotwords!r}; use a Whisper bundle, or leave hotwords out")

            ctc = CTCModel.create(CTCOptions(bundle, variant=options.variant, device=options.device, beam_size=options.beam_size,
                                             allow_refused=options.allow_refused))
            return cls(options, bundle, ctc.loaded, None, ctc=ctc)
        if bundle.family != "whisper":
            raise BundleError(f"bundle {bundle.name!r} has model family {bundle.family!r}; Transcriber runs 'whisper' and 'ctc'")
        loaded = load_model(bundle, options.variant, options.device, task="speech", roles=("encoder", "decoder"), allow_refused=options.allow_refused)
        tok = WhisperTokenizer.from_bytes(bundle.read_asset("tokenizer"))
        pre = bundle.preprocessing_of(loaded.variant)
        decoder = WhisperDecoder(
            loaded.sessions["encoder"],
            loaded.sessions["decoder"],
            tok,
            pre.get("suppress_tokens", []),
            pre.get("begin_suppress_tokens", [220, tok.eot]),
            int(pre.get("max_target_positions", 448)),
        )
        return cls(options, bundle, loaded, decoder)

    # -- the SpeechModel protocol (provenance and device: StreamingModel) -------------------------
    @property
    def incremental(self) -> bool:
        """True over a CTC bundle, whose model streams natively (:meth:`start_utterance`); False for Whisper,
        which a stream re-decodes with :meth:`decode`."""
        return self._ctc is not None

    def start_utterance(self) -> Utterance:
        """The CTC model's native streaming decoder for one utterance.

        Raises:
            InvalidInputError: A Whisper bundle (not ``incremental``), or a closed transcriber.
        """
        self._require_open()
        if self._ctc is None:
            raise InvalidInputError(f"bundle {self.bundle.name!r} is Whisper, which decodes whole utterances: use decode()")
        return self._ctc.start_utterance()

    def vad_model_bytes(self) -> bytes:
        """Verified bytes of the bundle's Silero VAD model (asset ``vad``)."""
        self._require_open()
        return self.bundle.read_asset("vad")

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the references to the onnxruntime sessions (Whisper's encoder and decoder, or the CTC model's).

        Later calls raise ``InvalidInputError``, and so do streams over this transcriber at their next decode,
        and segments of a ``transcribe()`` not yet consumed. ``variant``, ``providers`` and ``fallback`` stay
        readable. Idempotent.
        """
        if self._ctc is not None:
            self._ctc.close()
        super().close()
        self._loaded = self._decoder = self._ctc = None

    # -- decoding ------------------------------------------------------------------------------
    def decode(self, audio: np.ndarray, prompt: Sequence[int] = ()) -> list[Segment]:
        """Transcribe at most 30 s of 16 kHz mono float32 audio; times are relative to its start.

        Short audio runs the encoder on its own length (plus the margin), so this is cheap for
        utterances of a few seconds.

        Args:
            audio: The samples.
            prompt: Tokens of the text before this audio (e.g. ``Segment.tokens`` of the previous
                utterances of a live stream), to condition on as ``transcribe()`` does between windows.

        Raises:
            InvalidInputError: Not a 1-D float array, longer than 30 s, non-finite samples, or a closed transcriber.
        """
        self._require_open()
        audio = _check_samples(audio)
        if audio.shape[0] > CHUNK_SAMPLES:
            raise InvalidInputError(
                f"decode() takes at most 30 s ({CHUNK_SAMPLES} samples); got {audio.shape[0]}. Use transcribe() for long audio"
            )
        if self._ctc is not None:
            return self._ctc.decode(audio)
        return list(self._segments(SampleWindow(iter([audio])), list(prompt)))

    def transcribe(self, source, sample_rate: int | None = None) -> tuple[Iterator[Segment], TranscriptionInfo]:
        """Transcribe a file or a sample array of any length, rate and channel count.

        The input is checked now (a file's header; an array whole); segments are decoded lazily, window by
        window, as the returned iterator is consumed. A file is read block by block as the windows reach it,
        so memory does not grow with its length.

        Args:
            source: Path to an audio file, or samples (1-D, or 2-D frames x channels; int or float).
            sample_rate: Rate of array input in Hz (required for arrays, ignored for files).

        Returns:
            ``(segments, info)``: a lazy iterator of :class:`Segment` and the eager :class:`TranscriptionInfo`.

        Raises:
            EmptyInputError: No samples.
            InputTooLargeError: Longer than ``options.max_duration_s``.
            InvalidInputError: Bad type, NaN/inf samples, float samples far outside [-1, 1], missing or bad sample rate,
                a path that is not a readable regular file, or a closed transcriber (also while the segments are read).
            InputNotFoundError: The file does not exist (also a ``BundleNotFoundError``).
        """
        self._require_open()
        if not isinstance(source, (str, os.PathLike, np.ndarray, list, tuple)):
            raise InvalidInputError(
                f"transcribe() takes a file path or a sample array, not {type(source).__name__}"
            )
        limit = self.options.max_duration_s
        if isinstance(source, (str, os.PathLike)):
            reader = AudioFileReader(source, max_duration_s=limit)
            conversion, blocks = reader.conversion, reader.blocks()
        else:
            audio, conversion = load_audio(source, sample_rate)
            if audio.shape[0] == 0:
                raise EmptyInputError("the audio is empty (0 samples); pass at least one sample")
            if limit is not None and conversion.duration_s > limit:
                raise InputTooLargeError(f"the audio is {conversion.duration_s:.1f} s long, over the limit of {limit:g} s; "
                                         "cut it, or raise TranscriberOptions.max_duration_s")
            blocks = iter([audio])
        info = TranscriptionInfo(
            duration_s=conversion.duration_s,
            conversion=conversion.describe(),
            bundle=self.bundle.name,
            variant=self.variant,
            providers=self.providers,
            fallback=self.fallback,
        )
        samples = SampleWindow(blocks)
        if self._ctc is not None:
            return self._ctc_windows(samples), info
        return self._segments(samples), info

    def _ctc_windows(self, samples: SampleWindow) -> Iterator[Segment]:
        start = 0
        while (chunk := samples.window(start, CHUNK_SAMPLES)).shape[0]:
            self._require_open()
            offset = start / SAMPLE_RATE
            for s in self._ctc.decode(chunk):
                yield Segment(s.text, s.start_s + offset, s.end_s + offset, s.tokens, s.avg_logprob, s.no_speech_prob)
            start += chunk.shape[0]

    def _decode_window(self, chunk: np.ndarray, prompt: list[int], content_s: float) -> tuple[DecodeResult, list[np.ndarray]]:
        """Decode one window: short encoder context first, 30 s context when that looks wrong.

        The short context (the window's whole seconds plus the margin) costs in proportion to the
        audio; when its result loops, stops at the token cap, scores low or claims no speech, the
        window is decoded again padded to 30 s as Whisper was trained. Beam search is the last retry.
        """
        o = self.options
        dec = self._decoder
        generate = partial(self._generate, prompt=prompt, content_s=content_s)

        def run(frames: int, beam: int) -> tuple[DecodeResult, list[np.ndarray]]:
            cross = dec.encode(log_mel(chunk, frames))
            return generate(cross, beam_size=beam, no_speech_stop=o.no_speech_hard_threshold), cross

        frames = window_frames(chunk.shape[0], self.window_margin_s)
        result, cross = run(frames, o.beam_size)
        if frames < CHUNK_FRAMES and (self._unreliable(result) or result.no_speech_prob > o.no_speech_hard_threshold):
            log.debug("short window unreliable (%s): decoding again with 30 s context", _why(result))
            result, cross = run(CHUNK_FRAMES, o.beam_size)
        if self._unreliable(result) and not self._silent(result) and o.beam_size == 1:
            log.debug("window unreliable (%s): retrying with beam search", _why(result))
            retry = generate(cross, beam_size=5)
            if not self._unreliable(retry) or retry.avg_logprob > result.avg_logprob:
                result = retry
        return result, cross

    def _generate(self, cross: list[np.ndarray], prompt: list[int], content_s: float, beam_size: int,
                  no_speech_stop: float | None = None) -> DecodeResult:
        dec = self._decoder
        cap = min(dec.max_target_positions // 2, int(MAX_TOKENS_PER_S * content_s) + 16)
        return dec.generate(cross, prompt=prompt, max_new_tokens=cap, max_timestamp_s=content_s, beam_size=beam_size,
                            no_speech_stop=no_speech_stop, no_repeat_ngram_size=self.options.no_repeat_ngram_size)

    def _with_hotwords(self, result: DecodeResult, cross: list[np.ndarray], previous: list[int], content_s: float) -> DecodeResult:
        """``result``, or the window decoded again with the hotwords in its prompt when that holds more of them."""
        hot = self._generate(cross, self._prompt(previous), content_s, self.options.beam_size, self.options.no_speech_hard_threshold)
        count = self._hotword_re.findall
        if len(count(hot.text)) > len(count(result.text)) and not self._unreliable(hot) and not self._silent(hot):
            return hot
        return result

    def _prompt(self, previous: list[int]) -> list[int]:
        """The hotwords' tokens, then the last of ``previous`` that fit Whisper's prompt limit."""
        room = self._decoder.max_target_positions // 2 - 1 - len(self._hotword_tokens)
        return [*self._hotword_tokens, *(previous[-room:] if room > 0 else [])]

    def _unreliable(self, r: DecodeResult) -> bool:
        o = self.options
        return (
            r.compression_ratio > o.compression_ratio_threshold
            or r.avg_logprob < o.logprob_threshold
            or r.truncated
            or r.looping
        )

    def _silent(self, r: DecodeResult) -> bool:
        o = self.options
        if r.no_speech_prob > o.no_speech_hard_threshold:
            return True
        return r.no_speech_prob > o.no_speech_threshold and r.avg_logprob < o.logprob_threshold

    def _segments(self, samples: SampleWindow, prompt: list[int] | None = None) -> Iterator[Segment]:
        self._require_open()  # a generator: this runs when the first segment is asked for
        tok = self._decoder.tok
        tb = tok.timestamp_begin
        seek = 0
        prompt = list(prompt or [])
        while (chunk := samples.window(seek, CHUNK_SAMPLES)).shape[0]:
            self._require_open()
            offset = seek / SAMPLE_RATE
            content_s = chunk.shape[0] / SAMPLE_RATE
            if chunk.shape[0] < HOP_LENGTH:  # under 10 ms: nothing an encoder frame could hold
                break
            previous = prompt if self.options.condition_on_previous_text else []
            result, cross = self._decode_window(chunk, previous[-(self._decoder.max_target_positions // 2 - 1) :], content_s)
            if self._hotword_tokens:
                result = self._with_hotwords(result, cross, previous, content_s)
            skip = self._silent(result) or (self.options.drop_unreliable and self._unreliable(result)) or not result.text.strip()
            if skip:  # as Whisper: a window judged silent or unreliable is skipped whole
                seek += chunk.shape[0]
                prompt = []
                continue
            segments, advance_s = _split(result, tb, tok, content_s)
            seek += max(HOP_LENGTH, int(round(advance_s * SAMPLE_RATE)))
            prompt += list(result.tokens)
            words = self._words(result, cross, content_s, offset) if self.options.word_timestamps else []
            kept = [s for s in segments if s[0].strip()]
            for i, (text, tokens, start, end) in enumerate(kept):
                seg_end = round(offset + min(end, content_s), 3)
                n = len(words) if i == len(kept) - 1 else sum(1 for w in words if (w.start_s + w.end_s) / 2 <= seg_end)
                mine, words = tuple(words[:n]), words[n:]
                seg_start = mine[0].start_s if mine else round(offset + start, 3)  # as Whisper: words set the bounds
                seg_end = mine[-1].end_s if mine else seg_end
                yield Segment(text.strip(), seg_start, seg_end, tokens, result.avg_logprob, result.no_speech_prob, mine)

    def _words(self, result: DecodeResult, cross: list[np.ndarray], content_s: float, offset: float) -> list[Word]:
        """Words of a decoded window with their times (empty for bundles exported without cross-attention)."""
        dec = self._decoder
        heads = self._alignment_heads
        if not dec.has_cross_attention or not heads:
            return []
        tok = dec.tok
        text = [t for t in result.tokens if t < tok.eot]
        prefix = [*tok.sot_sequence(), tok.no_timestamps]
        weights = dec.cross_attention([*prefix, *text, tok.eot], cross)
        frames = min(weights.shape[-1], int(round(content_s * ENCODER_FRAMES_PER_S)))
        return align_words(weights, heads, text, len(prefix), frames, tok.decode, offset)


class SampleWindow:
    """The samples of a stream of blocks from a moving start on: what the next 30 s window needs, no more.

    Whisper's windows start where the last complete segment ended, so a window may begin anywhere after
    the previous one's start; samples before it are dropped, blocks are pulled as a window reaches them.
    One array passed as the only block is windowed without a copy.
    """

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._buf = np.zeros(0, np.float32)
        self._start = 0  # stream position of self._buf[0]
        self._ended = False

    def window(self, start: int, n: int) -> np.ndarray:
        """Samples ``[start, start + n)`` of the stream (shorter at its end, empty past it); ``start`` never goes back."""
        if start < self._start:
            raise ValueError(f"window start {start} is before the samples kept (from {self._start})")
        self._buf = self._buf[start - self._start :]
        self._start = start
        parts, have = [self._buf], self._buf.shape[0]
        while have < n and not self._ended:
            block = next(self._blocks, None)
            if block is None:
                self._ended = True
                break
            parts.append(block)
            have += block.shape[0]
        if len(parts) > 1:
            self._buf = np.concatenate(parts) if parts[0].shape[0] or len(parts) > 2 else parts[1]
        return self._buf[:n]


def _hotword_tokens(hotwords: tuple[str, ...], decoder: WhisperDecoder) -> list[int]:
    """Tokens of the hotwords' prompt text, the last ones kept when they pass Whisper's prompt limit."""
    tokens = decoder.tok.encode(hotword_prompt(hotwords)) if hotwords else []
    limit = decoder.max_target_positions // 2 - 1
    if len(tokens) > limit:
        log.warning("hotwords are %d tokens, over Whisper's prompt limit of %d: the first %d are left out",
                    len(tokens), limit, len(tokens) - limit)
        tokens = tokens[-limit:]
    return tokens


def _why(r: DecodeResult) -> str:
    return (f"logprob {r.avg_logprob:.2f}, compression {r.compression_ratio:.2f}, no-speech {r.no_speech_prob:.2f}, "
            f"truncated {r.truncated}, looping {r.looping}")


def _split(result: DecodeResult, tb: int, tok: WhisperTokenizer, content_s: float):
    """Segments of one window from its timestamp tokens, and how far to advance (Whisper's rules)."""
    tokens = list(result.tokens)
    single_ending = len(tokens) >= 2 and tokens[-2] < tb <= tokens[-1]
    cuts = [i for i in range(1, len(tokens)) if tokens[i] >= tb and tokens[i - 1] >= tb]
    out = []
    if cuts:
        if single_ending:
            cuts.append(len(tokens))
        last = 0
        for cut in cuts:
            part = tokens[last:cut]
            out.append((tok.decode(part), tuple(part), tok.timestamp_s(part[0]), tok.timestamp_s(part[-1])))
            last = cut
        advance = content_s if single_ending else tok.timestamp_s(tokens[last - 1])
        return out, min(advance, content_s) if advance > 0 else content_s
    stamps = [t for t in tokens if t >= tb]
    end = tok.timestamp_s(stamps[-1]) if stamps and stamps[-1] != tb else content_s
    start = tok.timestamp_s(stamps[0]) if stamps else 0.0
    out.append((tok.decode(tokens), tuple(tokens), start, end))
    return out, content_s


def _check_samples(audio) -> np.ndarray:
    if not isinstance(audio, np.ndarray):
        raise InvalidInputError(f"decode() takes a numpy float32 array of 16 kHz mono samples, not {type(audio).__name__}")
    if audio.ndim != 1:
        raise InvalidInputError(f"decode() takes 1-D mono samples; got shape {audio.shape}. Use transcribe() for other layouts")
    if not np.issubdtype(audio.dtype, np.floating):
        raise InvalidInputError(f"decode() takes float samples in [-1, 1]; got {audio.dtype}. Use transcribe() to convert integers")
    if audio.size and not np.isfinite(audio).all():
        raise InvalidInputError("audio holds NaN or infinite samples; clean the input first")
    return audio.astype(np.float32, copy=False)
