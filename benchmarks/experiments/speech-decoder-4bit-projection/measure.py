"""Each decoder file in turn inside the int8 transcriber: 44-clip WER, speech/long WER, wall and decoder step: ``measure.py DECODER...``."""
import sys, time, onnxruntime as ort
from edge_sdk import Transcriber, TranscriberOptions
from edge_sdk.speech.evaluate import evaluate, corpus_wer
from edge_sdk.runtime import session_options
from edge_sdk.datasets import data_dir
path = next((data_dir() / "speech" / "long").glob("*.flac"))
ref = path.with_suffix(".txt").read_text()
asr = Transcriber.create(TranscriberOptions(bundle="whisper-tiny.en", variant="int8"))
dec = asr._decoder
opts = session_options(asr._loaded.device)
for name in sys.argv[1:]:
    dec.decoder = ort.InferenceSession(name, sess_options=opts, providers=["CPUExecutionProvider"])
    steps = [0.0, 0]; orig = type(dec)._step
    def st(*a, **k):
        t = time.perf_counter(); r = orig(dec, *a, **k); steps[0] += time.perf_counter() - t; steps[1] += 1; return r
    dec._step = st
    wer44 = evaluate(asr, data_dir() / "speech" / "transcripts.tsv").to_dict()["wer"]
    steps[:] = [0.0, 0]
    t = time.perf_counter(); hyp = " ".join(s.text for s in asr.transcribe(path)[0]); wall = time.perf_counter() - t
    print(name.split("/")[-1], f"44-clip WER {wer44:.2f}  long WER {corpus_wer([ref], [hyp]):.2f}  long wall {wall:.2f}s  step {steps[0]/max(1,steps[1])*1000:.2f} ms x {steps[1]}", flush=True)
