"""800-word summary latency, int8, 15 runs after a warm-up, with onnxruntime session settings switched: python latency_800.py default|pat|spin|pat+spin (run from the repository root; pat = memory pattern on, spin = spinning threads)."""
import sys, time, statistics
import edge_sdk.runtime as rt
orig = rt.session_options
def so(dev):
    o = orig(dev); o.enable_mem_pattern = "pat" in sys.argv[1]
    if "spin" in sys.argv[1]: o.add_session_config_entry("session.intra_op.allow_spinning", "1")
    return o
rt.session_options = so
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions
from edge_sdk.text.evaluate import load_jsonl
from edge_sdk.bench.text_summarize import _text_of_words
text = _text_of_words(load_jsonl("data/text/summaries.jsonl"), 800)
s = Summarizer.create(SummarizerOptions(variant="int8"))
s.summarize(text); ts = []
for _ in range(15):
    t = time.perf_counter(); s.summarize(text); ts.append((time.perf_counter() - t) * 1000)
print(sys.argv[1], "median", round(statistics.median(ts), 1), "min", round(min(ts), 1))
