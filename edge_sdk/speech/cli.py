"""``edge-sdk transcribe`` and ``edge-sdk eval speech``.

Live input (``--mic``, ``--stdin``) is handled by :mod:`edge_sdk.speech.live_cli` when present;
its flags are added to the same ``transcribe`` parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from edge_sdk.cli_common import add_variant_arguments, check_variant, emit_line, int_at_least, number_in


def _live_cli():
    try:
        return importlib.import_module("edge_sdk.speech.live_cli")
    except ModuleNotFoundError as exc:
        if exc.name != "edge_sdk.speech.live_cli":
            raise
        return None


def hotwords_arg(text: str) -> tuple[str, ...]:
    """``--hotwords 'Lumiflex,Saoirse'`` as a tuple; each word is checked by ``TranscriberOptions``."""
    return tuple(w.strip() for w in text.split(","))


def _transcriber(args):
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

    check_variant(args.bundle, args.variant, args.allow_refused)
    return Transcriber.create(
        TranscriberOptions(bundle=args.bundle, variant=args.variant, device=getattr(args, "profile", None) or "auto", beam_size=args.beam_size,
                           word_timestamps=getattr(args, "word_timestamps", False), max_duration_s=getattr(args, "max_duration_s", None),
                           hotwords=getattr(args, "hotwords", ()))
    )


def cmd_transcribe(args) -> int:
    """Transcribe a file (or route live input to the live CLI); print segments as they are decoded."""
    live = _live_cli()
    if live is not None:
        if getattr(args, "mic", False) or getattr(args, "list_devices", False):
            return live.run_mic(args)
        if getattr(args, "stdin", False):
            return live.run_stdin(args)
    if not args.path:
        from edge_sdk.cli_common import UsageError

        raise UsageError("edge-sdk transcribe: give an audio file (or --mic for the microphone)")
    from edge_sdk.audio import AudioFileReader

    AudioFileReader(args.path, args.max_duration_s)  # a bad file fails in a moment, before the model loads
    asr = _transcriber(args)
    segments, info = asr.transcribe(args.path)
    if not args.json:
        print(f"# {args.path}: {info.duration_s:.2f} s; conversion: {info.conversion}; {info.bundle}/{info.variant} on {', '.join(info.providers)}", file=sys.stderr)
    for seg in segments:
        words = [{"text": w.text.strip(), "start_s": w.start_s, "end_s": w.end_s} for w in seg.words]
        if args.json:
            emit_line(json.dumps({"text": seg.text, "start_s": seg.start_s, "end_s": seg.end_s, **({"words": words} if words else {})}))
        else:
            timed = "\n    " + " ".join(f"{w['text']}@{w['start_s']:.2f}" for w in words) if words else ""
            emit_line(f"[{seg.start_s:7.2f} -> {seg.end_s:7.2f}] {seg.text}{timed}")
    return 0


def cmd_eval(args) -> int:
    """Corpus WER, clip count and real-time factor on a manifest."""
    from edge_sdk.speech.evaluate import evaluate

    result = evaluate(_transcriber(args), args.manifest)
    out = result.to_dict()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"WER {out['wer']:.2f}% on {out['n']} clips ({out['audio_s']:.1f} s of audio); RTF {out['rtf']:.3f}; "
              f"variant {out['variant']} on {', '.join(out['providers'])}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    from edge_sdk.speech.transcriber import DEFAULT_BUNDLE

    p.add_argument("--bundle", default=DEFAULT_BUNDLE, help=f"bundle name or folder (default {DEFAULT_BUNDLE})")
    add_variant_arguments(p)
    p.add_argument("--beam-size", type=int_at_least(1), default=1, help="1 for greedy search (default), up to 16 for beam search")
    p.add_argument("--hotwords", type=hotwords_arg, default=(), metavar="WORD,WORD",
                   help="names the audio may hold, given to Whisper as previous text (e.g. 'Lumiflex,Saoirse')")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def register(sub, eval_sub) -> None:
    """Add ``transcribe`` to ``sub`` and ``speech`` to ``eval_sub``."""
    p = sub.add_parser("transcribe", help="transcribe an audio file (or, with --mic, the microphone)")
    p.add_argument("path", nargs="?", help="audio file (any format soundfile reads, any rate and channel count)")
    p.add_argument("--word-timestamps", action="store_true", help="give each segment its words with start and end times")
    p.add_argument("--max-duration-s", type=number_in(0, low_open=True), default=None,
                   help="refuse files longer than this many seconds (default: any length; memory does not grow with it)")
    _common(p)
    live = _live_cli()
    if live is not None:
        live.add_live_arguments(p)  # --mic, --device, --stdin, ...
    p.set_defaults(func=cmd_transcribe)

    e = eval_sub.add_parser("speech", help="WER of a speech bundle on a TSV manifest (relative_path<TAB>reference)")
    e.add_argument("--manifest", required=True, help="TSV: relative_path<TAB>reference, paths relative to the TSV")
    _common(e)
    e.set_defaults(func=cmd_eval)
