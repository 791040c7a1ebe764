"""Run the SDK's speech, vision and text paths on this machine and save what they computed; compare machines.

``benchmarks/emulate/aarch64.sh`` runs this file natively on x86-64 and under ``qemu-aarch64`` with the aarch64 builds
of onnxruntime, numpy and tokenizers, then compares the two:

    python aarch64_compare.py prepare --out DIR                  # x86: decode clips (soundfile) and photos (OpenCV)
    python aarch64_compare.py run --inputs DIR --out PREFIX      # any machine: PREFIX.json + PREFIX.npz
    python aarch64_compare.py cpuinfo                            # aarch64: /proc/cpuinfo as Linux shows this CPU
    python aarch64_compare.py detect                             # the SDK's detection only (no onnxruntime import)
    python aarch64_compare.py compare --x86 PREFIX --arm NAME=PREFIX ... --json OUT --md OUT

Audio and photos are decoded once on x86 and saved as arrays, so both machines feed the runtime the same samples and
pixels: the comparison covers what the SDK and onnxruntime compute (log-mel, preprocessing, the encoder, decoding,
classification, sentence embeddings, sentence selection), not libsndfile's or OpenCV's decoders.
Only numpy, onnxruntime and tokenizers are imported on the aarch64 side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

CLIPS = ("237-134500-0002", "237-134500-0003", "237-134500-0004")  # LibriSpeech test-clean, 5.1, 3.2, 2.2 s
DOCS = 2  # the shortest documents of text/summaries.jsonl, each cut to its first paragraphs of TEXT_WORDS words or more
TEXT_WORDS = 150  # emulated float arithmetic is slow: fp32 MiniLM takes about a minute per 200 words under QEMU
QUICK = {"clips": 1, "photos": 2, "docs": 1}  # --quick: what the test runs
VARIANTS = ("fp32", "int8")

# fp32 on x86 against fp32 on aarch64: the same graph on other kernels (summation order, FMA, exp/erf approximations).
FP32_LIMITS = {"mel_max_abs": 1e-4, "encoder_max_abs": 1e-3, "avg_logprob_max_abs": 1e-3, "logprob_max_abs": 1e-4,
               "embedding_max_abs": 1e-5, "embedding_min_cosine": 0.99999}
# int8 multiplies the same integers exactly on both (VNNI and ARM accumulate u8 x s8 in int32), but its activations are
# quantized at run time, per tensor from their min and max: a last-bit float difference moves a scale or flips one
# rounding, and later layers carry it on, so x86 and aarch64 differ by about the quantization error itself, not by
# float rounding. On CPUs with SME onnxruntime (KleidiAI) quantizes activations per row instead: another rounding again.
# So int8 must give the same transcripts, labels and summaries, and its error against fp32 (x86's fp32, which aarch64
# matches to FP32_LIMITS) may be at most INT8_ERROR_RATIO times x86's own, plus a floor for near-zero errors.
INT8_ERROR_RATIO = 1.5
INT8_ERROR_FLOOR = {"encoder_max_abs": 0.05, "avg_logprob_max_abs": 0.01, "logprob_max_abs": 0.05,
                    "embedding_1_minus_cosine": 0.002}

# Linux's names of the arm64 HWCAP and HWCAP2 bits (arch/arm64/kernel/cpuinfo.c), in bit order; later bits left out.
HWCAP = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 "
         "sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg").split()
HWCAP2 = ("dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm svef64mm svebf16 i8mm "
          "bf16 dgh rng bti mte ecv afp rpres mte3 sme smei16i64 smef64f64 smei8i32 smef16f32 smeb16f32 smef32f32 "
          "smefa64 wfxt ebf16 sveebf16").split()


# ---------------------------------------------------------------------------------------------------- aarch64 CPU


def arm64_cpu() -> dict:
    """This aarch64 CPU as the kernel describes it to a process: MIDR_EL1 and the HWCAP feature names.

    Reads the auxiliary vector (``getauxval``) and MIDR_EL1 (``mrs``, which Linux and qemu-user let user space do when
    the ``cpuid`` hwcap is set), so under qemu-user it is the emulated CPU (``-cpu``), not the host.
    """
    import ctypes
    import mmap
    import struct

    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    hwcap, hwcap2 = libc.getauxval(16), libc.getauxval(26)  # AT_HWCAP, AT_HWCAP2
    midr = 0
    if hwcap & (1 << HWCAP.index("cpuid")):
        code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        code.write(struct.pack("<II", 0xD5380000, 0xD65F03C0))  # mrs x0, midr_el1; ret
        midr = ctypes.CFUNCTYPE(ctypes.c_uint64)(ctypes.addressof(ctypes.c_char.from_buffer(code)))()
    features = [n for i, n in enumerate(HWCAP) if hwcap >> i & 1] + [n for i, n in enumerate(HWCAP2) if hwcap2 >> i & 1]
    return {"midr": midr, "features": features}


def cpuinfo_text(cpu: dict, processors: int) -> str:
    """``/proc/cpuinfo`` in the arm64 kernel's format for ``processors`` cores of ``cpu``."""
    midr = cpu["midr"]
    arch = (midr >> 16) & 0xF
    block = (f"BogoMIPS\t: 50.00\nFeatures\t: {' '.join(cpu['features'])}\nCPU implementer\t: {midr >> 24 & 0xFF:#04x}\n"
             f"CPU architecture: {8 if arch == 0xF else arch}\nCPU variant\t: {midr >> 20 & 0xF:#x}\n"
             f"CPU part\t: {midr >> 4 & 0xFFF:#05x}\nCPU revision\t: {midr & 0xF}\n\n")
    return "".join(f"processor\t: {i}\n{block}" for i in range(processors))


# ---------------------------------------------------------------------------------------------------- prepare (x86)


def _opening(article: str, words: int) -> str:
    """The first paragraphs of ``article`` that hold at least ``words`` words."""
    out, count = [], 0
    for para in (p for p in article.split("\n\n") if p.strip()):
        out.append(para)
        count += len(para.split())
        if count >= words:
            break
    return "\n\n".join(out)


def prepare(out: Path, quick: bool) -> None:
    """Decode the clips and photos of the data folder into ``out/inputs.npz``; texts into ``out/inputs.json``.

    ``quick`` keeps the shortest clip, the first two photos and the first document (:data:`QUICK`).
    """
    from edge_sdk.audio import load_audio
    from edge_sdk.datasets import data_dir
    from edge_sdk.vision.image_io import load_image

    data = data_dir()
    arrays, manifest = {}, {"speech": [], "images": [], "texts": {}}
    clips = CLIPS[-QUICK["clips"]:] if quick else CLIPS  # the shortest
    photos = sorted(p for p in (data / "images").iterdir() if p.suffix in (".png", ".jpg"))
    docs = [json.loads(line) for line in (data / "text" / "summaries.jsonl").read_text().splitlines() if line.strip()]
    docs = sorted(docs, key=lambda d: (d["article_words"], d["id"]))[: QUICK["docs"] if quick else DOCS]
    for clip in clips:
        audio, _ = load_audio(data / "speech" / "librispeech" / f"{clip}.flac")
        arrays[f"speech/{clip}"] = audio
        manifest["speech"].append(clip)
    for path in photos[: QUICK["photos"]] if quick else photos:
        arrays[f"images/{path.name}"] = load_image(path)  # BGR, as OpenCV decodes it
        manifest["images"].append(path.name)
    for doc in docs:
        manifest["texts"][doc["id"]] = _opening(doc["article"], TEXT_WORDS)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "inputs.npz", **arrays)
    (out / "inputs.json").write_text(json.dumps(manifest, indent=1))


# ---------------------------------------------------------------------------------------------------- run (any machine)


def _machine() -> dict:
    from edge_sdk.devices import detect
    from edge_sdk.devices.kernels import u8s8_saturates

    profile, facts = detect()
    out = {"python_machine": platform.machine(), "detected_profile": profile, "facts": facts.describe(),
           "u8s8_saturates_probe": u8s8_saturates(), "cpu_model": facts.cpu_model}
    if platform.machine() == "aarch64":
        cpu = arm64_cpu()
        out["arm64_cpu"] = {"midr": f"{cpu['midr']:#010x}", "features": cpu["features"]}
    return out


def _versions() -> dict:
    import onnxruntime
    import tokenizers

    return {"python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
            "tokenizers": tokenizers.__version__}


def _files(bundle, variant: str) -> dict:
    """The variant's files as ``{role: sha256 prefix}``: which build ran (bundles are rebuilt in place)."""
    return {role: f.sha256[:16] for role, f in bundle.variants[variant].files.items()}


def run_speech(variant: str, inputs, clips: list[str], arrays: dict) -> tuple[dict, dict]:
    from edge_sdk.runtime import load_model
    from edge_sdk.speech.features import log_mel
    from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions, window_frames

    t0 = time.perf_counter()
    transcriber = Transcriber.create(TranscriberOptions(variant=variant))
    encoder = load_model(transcriber.bundle, variant, "auto", task="speech", roles=("encoder",)).sessions["encoder"]
    t1 = time.perf_counter()
    out = {"variant": transcriber.variant, "files": _files(transcriber.bundle, transcriber.variant), "clips": {}}
    for clip in clips:
        audio = inputs[f"speech/{clip}"]
        started = time.perf_counter()
        segments, _ = transcriber.transcribe(audio, sample_rate=16000)
        segments = list(segments)
        out["clips"][clip] = {"text": " ".join(s.text for s in segments), "tokens": [list(s.tokens) for s in segments],
                              "avg_logprob": [s.avg_logprob for s in segments], "audio_s": round(audio.shape[0] / 16000, 2),
                              "transcribe_s": round(time.perf_counter() - started, 2)}
        mel = log_mel(audio, window_frames(audio.shape[0], transcriber.window_margin_s))
        arrays[f"{variant}/speech/{clip}/mel"] = mel
        arrays[f"{variant}/speech/{clip}/encoder"] = np.concatenate([o.ravel() for o in encoder.run(None, {"mel": mel[None]})])
    return out, {"load_s": t1 - t0, "run_s": time.perf_counter() - t1}


def run_vision(variant: str, inputs, photos: list[str], arrays: dict) -> tuple[dict, dict]:
    """Classify each photo; the log-probabilities of all 1,000 classes are kept (the logits less their log-sum-exp)."""
    from edge_sdk.bundle import load_bundle
    from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions

    t0 = time.perf_counter()
    classifier = FrameClassifier.create(FrameClassifierOptions(variant=variant, top_k=1000))
    t1 = time.perf_counter()
    files = _files(load_bundle(classifier.options.bundle), classifier.variant)
    out = {"variant": classifier.variant, "files": files, "photos": {}}
    for photo in photos:
        result = classifier.classify(inputs[f"images/{photo}"])
        out["photos"][photo] = {"top5": [c.index for c in result.categories[:5]], "top1_label": result.top.label,
                                "inference_ms": round(result.inference_ms)}
        logprob = np.zeros(len(result.categories))
        for c in result.categories:
            logprob[c.index] = np.log(c.score)
        arrays[f"{variant}/vision/{photo}/logprob"] = logprob
    classifier.close()
    return out, {"load_s": t1 - t0, "run_s": time.perf_counter() - t1}


def run_text(variant: str, texts: dict, arrays: dict) -> tuple[dict, dict]:
    """Summarize each text (3 sentences) as ``Summarizer.summarize`` does, keeping the sentence embeddings it computed."""
    from edge_sdk.text.summarizer import Length, Summarizer, SummarizerOptions
    from edge_sdk.text.textinput import count_words

    t0 = time.perf_counter()
    summarizer = Summarizer.create(SummarizerOptions(variant=variant))
    t1 = time.perf_counter()
    loaded = summarizer.model
    out = {"variant": loaded.variant.name, "files": _files(loaded.bundle, loaded.variant.name), "docs": {}}
    for doc_id, text in texts.items():
        embedded = []

        def embed(batch: list[str], embedded=embedded) -> np.ndarray:
            embedded.append(summarizer.encoder.embed(batch))
            return embedded[-1]

        started = time.perf_counter()
        sentences = summarizer.segment(text)
        chosen, _ = summarizer.select(text, sentences, [count_words(s.text) for s in sentences], Length(sentences=3), embed=embed)
        out["docs"][doc_id] = {"chosen": [i for i, *_ in chosen], "sentences": len(sentences),
                               "words": sum(count_words(s.text) for s in sentences),
                               "summarize_s": round(time.perf_counter() - started, 2)}
        arrays[f"{variant}/text/{doc_id}/embeddings"] = np.concatenate(embedded)
    summarizer.close()
    return out, {"load_s": t1 - t0, "run_s": time.perf_counter() - t1}


def run(inputs_dir: Path, prefix: Path, variants: list[str]) -> None:
    """Run every task for every variant; write ``prefix.json`` (results, timings) and ``prefix.npz`` (arrays)."""
    from edge_sdk.errors import EdgeSDKError

    started = time.perf_counter()
    manifest = json.loads((inputs_dir / "inputs.json").read_text())
    inputs = np.load(inputs_dir / "inputs.npz")
    arrays: dict[str, np.ndarray] = {}
    report = {"machine": _machine(), "versions": _versions(), "profile_env": os.environ.get("EDGE_SDK_PROFILE"),
              "results": {}, "timings_s": {}, "errors": {}}
    for variant in variants:
        tasks = {"speech": lambda v: run_speech(v, inputs, manifest["speech"], arrays),
                 "vision": lambda v: run_vision(v, inputs, manifest["images"], arrays),
                 "text": lambda v: run_text(v, manifest["texts"], arrays)}
        for task, fn in tasks.items():
            try:
                result, timing = fn(variant)
            except EdgeSDKError as exc:  # e.g. an int8 variant the profile refuses: recorded, compared as missing
                report["errors"][f"{variant}/{task}"] = str(exc)
                continue
            report["results"].setdefault(variant, {})[task] = result
            report["timings_s"][f"{variant}/{task}"] = {k: round(v, 2) for k, v in timing.items()}
            print(f"{variant}/{task}: load {timing['load_s']:.1f} s, run {timing['run_s']:.1f} s", file=sys.stderr, flush=True)
    report["timings_s"]["total"] = round(time.perf_counter() - started, 1)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    np.savez(prefix.with_suffix(".npz"), **arrays)
    prefix.with_suffix(".json").write_text(json.dumps(report, indent=1))


# ---------------------------------------------------------------------------------------------------- compare


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape else float("inf")


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.min())


def _speech(r: dict, ra: dict, rv: str, o: dict, oa: dict, ov: str) -> dict:
    clips, other = r["clips"], o["clips"]
    return {
        "clips": len(clips),
        "transcripts_equal": sum(clips[c]["text"] == other[c]["text"] for c in clips),
        "tokens_equal": sum(clips[c]["tokens"] == other[c]["tokens"] for c in clips),
        "avg_logprob_max_abs": max(_max_abs(np.array(clips[c]["avg_logprob"]), np.array(other[c]["avg_logprob"])) for c in clips),
        "mel_max_abs": max(_max_abs(ra[f"{rv}/speech/{c}/mel"], oa[f"{ov}/speech/{c}/mel"]) for c in clips),
        "encoder_max_abs": max(_max_abs(ra[f"{rv}/speech/{c}/encoder"], oa[f"{ov}/speech/{c}/encoder"]) for c in clips),
        "differing": {c: [clips[c]["text"], other[c]["text"]] for c in clips if clips[c]["text"] != other[c]["text"]},
    }


def _vision(r: dict, ra: dict, rv: str, o: dict, oa: dict, ov: str) -> dict:
    photos, other = r["photos"], o["photos"]
    return {
        "photos": len(photos),
        "top1_equal": sum(photos[p]["top5"][0] == other[p]["top5"][0] for p in photos),
        "top5_equal": sum(photos[p]["top5"] == other[p]["top5"] for p in photos),
        "logprob_max_abs": max(_max_abs(ra[f"{rv}/vision/{p}/logprob"], oa[f"{ov}/vision/{p}/logprob"]) for p in photos),
        "differing": {p: [photos[p]["top1_label"], other[p]["top1_label"]] for p in photos
                      if photos[p]["top5"][0] != other[p]["top5"][0]},
    }


def _text(r: dict, ra: dict, rv: str, o: dict, oa: dict, ov: str) -> dict:
    docs, other = r["docs"], o["docs"]
    pairs = [(ra[f"{rv}/text/{d}/embeddings"], oa[f"{ov}/text/{d}/embeddings"]) for d in docs]
    return {
        "docs": len(docs),
        "summaries_equal": sum(docs[d]["chosen"] == other[d]["chosen"] for d in docs),
        "embedding_max_abs": max(_max_abs(a, b) for a, b in pairs),
        "embedding_min_cosine": min(_min_cosine(a, b) for a, b in pairs),
    }


def diff(ref: tuple[dict, dict, str], other: tuple[dict, dict, str]) -> dict:
    """What ``other`` (run report, arrays, variant) computed differently from ``ref``, task by task."""
    (rr, ra, rv), (orr, oa, ov) = ref, other
    r, o = rr["results"].get(rv, {}), orr["results"].get(ov, {})
    out: dict = {"same_files": all(r[t]["files"] == o[t]["files"] for t in r if t in o) if rv == ov else None}
    for task, fn in (("speech", _speech), ("vision", _vision), ("text", _text)):
        if task in r and task in o:
            out[task] = fn(r[task], ra, rv, o[task], oa, ov)
    return out


def int8_error(d: dict) -> dict:
    """The int8 error measures of ``diff(fp32 run, int8 run)``."""
    sp, vi, te = d.get("speech", {}), d.get("vision", {}), d.get("text", {})
    out = {"encoder_max_abs": sp.get("encoder_max_abs"), "avg_logprob_max_abs": sp.get("avg_logprob_max_abs"),
           "logprob_max_abs": vi.get("logprob_max_abs"),
           "embedding_1_minus_cosine": 1 - te["embedding_min_cosine"] if "embedding_min_cosine" in te else None}
    return {k: v for k, v in out.items() if v is not None}


def checks(d: dict, variant: str) -> list[dict]:
    """The x86-vs-aarch64 assertions for one variant: the same bundle files and outputs; fp32 differences within
    :data:`FP32_LIMITS`; int8 errors against fp32 within :data:`INT8_ERROR_RATIO` times x86's."""
    at_least = [("same bundle files", int(bool(d["same_files"])), 1)]
    at_most = []
    if s := d.get("speech"):
        at_least += [("transcripts equal", s["transcripts_equal"], s["clips"]), ("tokens equal", s["tokens_equal"], s["clips"])]
    if v := d.get("vision"):
        at_least.append(("top-1 equal", v["top1_equal"], v["photos"]))
    if t := d.get("text"):
        at_least.append(("summaries equal", t["summaries_equal"], t["docs"]))
    if variant == "fp32":
        found = {k: x for task in ("speech", "vision", "text") for k, x in d.get(task, {}).items() if k in FP32_LIMITS}
        at_least += [(k, x, FP32_LIMITS[k]) for k, x in found.items() if k == "embedding_min_cosine"]
        at_most += [(k, x, FP32_LIMITS[k]) for k, x in found.items() if k != "embedding_min_cosine"]
    elif err := d.get("int8_error"):
        at_most += [(f"int8 error {k}", x, INT8_ERROR_RATIO * err["x86_64"][k] + INT8_ERROR_FLOOR[k])
                    for k, x in err["aarch64"].items()]
    return ([{"check": n, "value": x, "limit": lim, "ok": bool(x >= lim)} for n, x, lim in at_least]
            + [{"check": n, "value": x, "limit": lim, "ok": bool(x <= lim)} for n, x, lim in at_most])


def compare(x86: Path, arms: list[tuple[str, Path]], notes: list[Path], json_out: Path, md_out: Path | None) -> int:
    """Compare every aarch64 run with the x86 run (same variant), and each machine's int8 with its fp32.

    Returns:
        The exit status: 1 when a check is outside its limit (listed under ``failed``), else 0.
    """
    def load(prefix: Path) -> tuple[dict, dict]:
        return json.loads(prefix.with_suffix(".json").read_text()), dict(np.load(prefix.with_suffix(".npz")))

    runs = {"x86_64": load(x86)} | {name: load(p) for name, p in arms}
    limits = {"fp32": FP32_LIMITS, "int8_error_ratio": INT8_ERROR_RATIO, "int8_error_floor": INT8_ERROR_FLOOR}
    report = {"schema": "edge-sdk-emulate-aarch64/1", "limits": limits, "machines": {}, "x86_vs_aarch64": {},
              "int8_vs_fp32": {}, "failed": [], "notes": {f.stem: json.loads(f.read_text()) for f in notes}}
    for name, (rep, _) in runs.items():
        report["machines"][name] = {k: rep[k] for k in ("machine", "versions", "timings_s", "errors", "results")}
        if "fp32" in rep["results"] and "int8" in rep["results"]:
            report["int8_vs_fp32"][name] = diff((*runs[name], "fp32"), (*runs[name], "int8"))
    ref = runs["x86_64"]
    for name, other in list(runs.items())[1:]:
        per = {}
        for variant in VARIANTS:
            missing = [n for n, run_ in (("x86_64", ref), (name, other)) if variant not in run_[0]["results"]]
            if missing:
                per[variant] = {"missing": f"{variant} did not run on {missing[0]}"}
                continue
            d = per[variant] = diff((*ref, variant), (*other, variant))
            if variant == "int8" and "fp32" in ref[0]["results"]:  # each int8 against x86's fp32
                d["int8_error"] = {"x86_64": int8_error(diff((*ref, "fp32"), (*ref, "int8"))),
                                   "aarch64": int8_error(diff((*ref, "fp32"), (*other, "int8")))}
            d["checks"] = checks(d, variant)
            report["failed"] += [f"{name} {variant}: {c['check']} {c['value']} (limit {c['limit']})"
                                 for c in d["checks"] if not c["ok"]]
        report["x86_vs_aarch64"][name] = per
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(_json_safe(report), indent=1, allow_nan=False) + "\n")
    if md_out:
        md_out.write_text(markdown(report))
    for line in report["failed"]:
        print("FAILED", line, file=sys.stderr)
    return 1 if report["failed"] else 0


def _json_safe(obj):
    """``obj`` with numpy scalars as Python numbers and infinities (outputs of different shapes) as ``"inf"``."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else str(float(obj))
    return obj.item() if isinstance(obj, np.generic) else obj


def _fmt(x) -> str:
    return f"{x:.3g}" if isinstance(x, float) else "" if x is None else str(x)


def _row(name: str, variant: str, d: dict) -> str:
    s, v, t = d.get("speech", {}), d.get("vision", {}), d.get("text", {})
    cells = [name, variant, f"{s.get('transcripts_equal')}/{s.get('clips')} ({s.get('tokens_equal')})",
             _fmt(s.get("encoder_max_abs")), _fmt(s.get("avg_logprob_max_abs")), f"{v.get('top1_equal')}/{v.get('photos')}",
             _fmt(v.get("logprob_max_abs")), f"{t.get('summaries_equal')}/{t.get('docs')}",
             f"{_fmt(t.get('embedding_min_cosine'))} / {_fmt(t.get('embedding_max_abs'))}"]
    return "| " + " | ".join(cells) + " |"


def markdown(report: dict) -> str:
    """The report as tables: x86 against each emulated CPU, int8 against fp32 on each machine, and the timings."""
    header = ("| {} | variant | transcripts equal (tokens) | encoder max abs | avg log-prob max abs | top-1 equal | "
              "log-prob max abs | summaries equal | embedding min cosine / max abs |")
    rule = "|---|---|---|---|---|---|---|---|---|"
    lines = ["# Speech, vision and text on aarch64 (QEMU user mode) against x86-64", ""]
    if emulator := report["notes"].get("emulator"):
        lines += [f"`{emulator['command']}`; emulator: {emulator['qemu']}; "
                  f"host: {report['machines']['x86_64']['machine']['cpu_model']}.", ""]
    for name, m in report["machines"].items():
        mach, cpu = m["machine"], m["machine"].get("arm64_cpu")
        feats = " ".join(f for f in (cpu or {}).get("features", []) if f in ("asimddp", "i8mm", "sve", "sve2", "sme")) or "none"
        lines.append(f"- **{name}**: {mach['cpu_model'] or '(no model name)'}, detected profile `{mach['detected_profile']}`, "
                     f"u8 x s8 probe saturates: {mach['u8s8_saturates_probe']}"
                     + (f", MIDR {cpu['midr']}, dot product / matrix features: {feats}" if cpu else "")
                     + f"; onnxruntime {m['versions']['onnxruntime']}, numpy {m['versions']['numpy']}, "
                       f"Python {m['versions']['python']}; whole run {m['timings_s']['total']} s")
    lines += ["", "## Same variant: x86-64 against aarch64", "", header.format("aarch64 CPU"), rule]
    for name, per in report["x86_vs_aarch64"].items():
        for variant, d in per.items():
            lines.append(f"| {name} | {variant} | {d['missing']} |" + " |" * 6 if "missing" in d else _row(name, variant, d))
    keys = tuple(INT8_ERROR_FLOOR)
    lines += ["", "## int8 error against x86's fp32 (limit: x86's own times "
              f"{INT8_ERROR_RATIO}, plus {', '.join(f'{v:g}' for v in INT8_ERROR_FLOOR.values())})", "",
              "| int8 on | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    errors = {name: d["int8"]["int8_error"] for name, d in report["x86_vs_aarch64"].items() if "int8_error" in d["int8"]}
    rows = [(n, e["aarch64"]) for n, e in errors.items()]
    if errors:
        rows.insert(0, ("x86_64", next(iter(errors.values()))["x86_64"]))
    lines += [f"| {name} | " + " | ".join(_fmt(e.get(k)) for k in keys) + " |" for name, e in rows]
    lines += ["", "## int8 against fp32 on the same machine", "", header.format("machine"), rule]
    lines += [_row(name, "int8 vs fp32", d) for name, d in report["int8_vs_fp32"].items()]
    lines += ["", "## Seconds (load + run) per task", "", "| machine | " + " | ".join(f"{v} {t}" for v in VARIANTS
              for t in ("speech", "vision", "text")) + " |", "|---|" + "---|" * 6]
    for name, m in report["machines"].items():
        cells = [f"{x['load_s']:.0f} + {x['run_s']:.0f}" if (x := m["timings_s"].get(f"{v}/{t}")) else ""
                 for v in VARIANTS for t in ("speech", "vision", "text")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if bare := report["notes"].get("qemu-cpuinfo-detection"):
        lines += ["", f"With no cpuinfo file in the sysroot (qemu's own /proc/cpuinfo, -cpu {bare['qemu_cpu']}): the SDK detects "
                  f"`{bare['profile']}` (cpu model {bare['facts']['cpu_model']!r}, flags {bare['facts']['cpu_flags']}); "
                  f"`import onnxruntime`: {bare['onnxruntime_import']}."]
    lines += ["", f"fp32 limits (x86 against aarch64): `{json.dumps(report['limits']['fp32'])}`", "",
              "Failed: " + ("; ".join(report["failed"]) if report["failed"] else "none"), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- command line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="decode the clips and photos (x86, needs soundfile and OpenCV)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quick", action="store_true", help="one clip, two photos, one text")
    p = sub.add_parser("run", help="run speech, vision and text on the prepared inputs")
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="prefix of the .json and .npz written")
    p.add_argument("--variants", default=",".join(VARIANTS))
    sub.add_parser("cpuinfo", help="print /proc/cpuinfo as Linux shows this aarch64 CPU")
    p = sub.add_parser("detect", help="the SDK's detection, without importing onnxruntime")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("compare", help="compare aarch64 runs with the x86 run")
    p.add_argument("--x86", type=Path, required=True)
    p.add_argument("--arm", action="append", default=[], help="NAME=PREFIX of an aarch64 run")
    p.add_argument("--note", action="append", type=Path, default=[], help="a JSON file kept under notes, by its stem")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--md", type=Path)
    args = parser.parse_args()
    if args.cmd == "prepare":
        prepare(args.out, args.quick)
    elif args.cmd == "run":
        run(args.inputs, args.out, args.variants.split(","))
    elif args.cmd == "cpuinfo":
        sys.stdout.write(cpuinfo_text(arm64_cpu(), os.cpu_count() or 1))
    elif args.cmd == "detect":
        from edge_sdk.devices.detect import choose_profile, read_machine

        facts = read_machine(providers=("CPUExecutionProvider",))  # onnxruntime not imported: it may not load here
        args.out.write_text(json.dumps({"python_machine": platform.machine(), "profile": choose_profile(facts),
                                        "facts": facts.describe()}, indent=1))
    else:
        arms = [(name, Path(prefix)) for name, _, prefix in (a.partition("=") for a in args.arm)]
        return compare(args.x86, arms, args.note, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
