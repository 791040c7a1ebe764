import sys, json
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions
from edge_sdk.text.ranker import Ranker
import edge_sdk.text.evaluate as ev
ev.oracle_summaries = lambda s, recs, n: [["x"]] * len(recs)
from edge_sdk.text.evaluate import evaluate, load_jsonl
sets = [("bbc_odd", "bbc_odd.jsonl", 3, None), ("dm", "dm_train.jsonl", 3, None),
        ("cnn2", "cnndm_val.jsonl", 3, slice(500, 800)), ("xsum_bbc", "bbc_xsum_odd.jsonl", 1, None),
        ("rep_odd", "./data/text/summaries.jsonl", 3, slice(1, None, 2))]
base = Summarizer.create(SummarizerOptions(variant="int8"))
for name in sys.argv[1:]:
    r = None if name == "none" else Ranker.from_json(open(name).read())
    s = Summarizer(base.options, base.encoder, ranker=r)
    for sname, path, n, part in sets:
        recs = load_jsonl(path); recs = recs[part] if part else recs
        res = evaluate(s, recs, sentences=n)
        l = res["lead3"]
        print(f"{name:35s} {sname:9s} n={res['n']:4d} model {res['rouge1']:.2f}/{res['rouge2']:.2f}/{res['rougeLsum']:.2f}  lead {l['rouge1']:.2f}/{l['rouge2']:.2f}/{l['rougeLsum']:.2f}", flush=True)
