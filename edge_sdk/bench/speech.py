"""Speech benchmark: per-clip latency, RTF and WER on the shared clips; live latency on speech/long.

Reference ``ref:faster-whisper`` (:mod:`edge_sdk.bench.references`): faster-whisper int8 on the same CTranslate2 weights that the
default bundle was imported from, greedy, the same thread count.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edge_sdk.audio import load_audio
from edge_sdk.bench.references import faster_whisper_model
from edge_sdk.devices.kernels import kernel_int8_format
from edge_sdk.devices.resolve import ResolvedDevice
from edge_sdk.speech.evaluate import corpus_wer, read_manifest

BUNDLE = "whisper-tiny.en"


class Runner:
    def __init__(self, variant: str, device: ResolvedDevice, data: Path, quick: bool):
        self.variant, self.device, self.data, self.quick = variant, device, data, quick
        clips = read_manifest(data / "speech" / "transcripts.tsv")
        self.clips = clips[:4] if quick else clips
        self.audio = [load_audio(p)[0] for p, _ in self.clips]
        self.hypotheses: list[str] = []
        if variant == "ref:faster-whisper":
            self.fw = faster_whisper_model(device.intra_op_threads)
            self.bundle_name, self.providers, self.model_size_mb = "faster-whisper-tiny.en (CTranslate2 int8)", ("ctranslate2-cpu",), None
        else:
            from edge_sdk.speech.transcriber import Transcriber, TranscriberOptions

            self.asr = Transcriber.create(TranscriberOptions(bundle=BUNDLE, variant=variant))
            v = self.asr.bundle.variants[variant]
            self.bundle_name, self.providers, self.model_size_mb = BUNDLE, self.asr.providers, round(v.size_bytes / 1e6, 2)

    def _run(self, audio: np.ndarray) -> str:
        if self.variant == "ref:faster-whisper":
            segments, _ = self.fw.transcribe(audio, beam_size=1, language="en", vad_filter=False, condition_on_previous_text=True)
            return " ".join(s.text.strip() for s in segments)
        segments, _ = self.asr.transcribe(audio, sample_rate=16000)
        return " ".join(s.text for s in segments)

    def warmup(self) -> None:
        self._run(self.audio[0])

    def timed(self) -> list[float]:
        samples, self.hypotheses = [], []
        for audio in self.audio:
            t0 = time.perf_counter()
            self.hypotheses.append(self._run(audio))
            samples.append((time.perf_counter() - t0) * 1000)
        self.compute_s = sum(samples) / 1000
        return samples

    def throughput(self, samples_ms: list[float]) -> dict:
        audio_s = sum(a.shape[0] for a in self.audio) / 16000
        return {"value": round(self.compute_s / audio_s, 4), "unit": "RTF", "audio_s": round(audio_s, 1)}

    def accuracy(self) -> dict:
        wer = corpus_wer([ref for _, ref in self.clips], self.hypotheses)
        return {"metric": "wer", "value": round(wer, 2), "n": len(self.clips), "data": "shared/data/speech/transcripts.tsv"}

    def live(self) -> dict | None:
        """End-of-speech-to-final latency and partial interval on speech/long played in real time."""
        if self.quick or self.variant.startswith("ref:") or self.variant != self.asr.bundle.choose_variant(None, self.device.variants, kernel_int8_format()).name:
            return None
        from edge_sdk.speech.sources import FileSource
        from edge_sdk.speech.stream import transcribe_live

        stream = self.asr.create_stream()
        cpu0, t0 = time.process_time(), time.perf_counter()
        block_ms = self.device.capture.audio_block_ms  # the block a microphone on this profile delivers
        with FileSource(next((self.data / "speech" / "long").glob("*.flac")), realtime=True, block_ms=block_ms) as src:
            events = list(transcribe_live(stream, src))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        st = stream.stats
        lat = np.asarray(st.final_latencies_ms)
        return {
            "eos_to_final_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "eos_to_final_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
            "partial_interval_s_mean": round(float(np.mean(st.partial_gaps_s)), 3) if st.partial_gaps_s else None,
            "finals": sum(e.kind == "final" for e in events),
            "partials": st.partials,
            "partials_skipped": st.partials_skipped,
            "samples_lost": st.samples_lost,
            "lag_s_max": round(st.max_lag_s, 3),
            "cpu_s_per_audio_s": round(cpu / wall, 3),
        }
