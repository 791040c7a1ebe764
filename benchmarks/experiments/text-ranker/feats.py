"""Per-sentence features + embeddings + oracle labels for a JSONL set (experiment for issue 31)."""
import json, sys, time
import numpy as np
from rouge_score import rouge_scorer
from edge_sdk.text.summarizer import Summarizer, SummarizerOptions
from edge_sdk.text.textinput import count_words

path, out, variant = sys.argv[1], sys.argv[2], sys.argv[3]
limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
s = Summarizer.create(SummarizerOptions(variant=variant))
sc = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
docs = []
t0 = time.time()
for n, line in enumerate(open(path)):
    if limit and n >= limit: break
    rec = json.loads(line)
    text = rec["article"]
    sents = s.segment(text)
    wc = [count_words(x.text) for x in sents]
    cand = [i for i, x in enumerate(sents) if not x.heading and wc[i] >= 6] or [i for i, x in enumerate(sents) if not x.heading] or list(range(len(sents)))
    starts = [1.0 if i == 0 or "\n" in text[sents[i-1].end_char:x.start_char] else 0.0 for i, x in enumerate(sents)]
    emb = s.encoder.embed([sents[i].text for i in cand])
    # greedy oracle (R1+R2 F) up to 5 sentences, stop when no gain
    ref = rec["reference"]
    chosen, best = [], 0.0
    for _ in range(5):
        gains = []
        for j, i in enumerate(cand):
            if j in chosen: gains.append(-1); continue
            hyp = "\n".join(sents[cand[k]].text for k in sorted(chosen + [j]))
            r = sc.score(ref, hyp); gains.append(r["rouge1"].fmeasure + r["rouge2"].fmeasure)
        j = int(np.argmax(gains))
        if gains[j] <= best: break
        best = gains[j]; chosen.append(j)
    # per-sentence individual R1+R2 recall
    indiv = []
    for i in cand:
        r = sc.score(ref, sents[i].text); indiv.append(r["rouge1"].recall + r["rouge2"].recall)
    docs.append(dict(id=rec.get("id", str(n)), n_sents=len(sents), cand=cand, words=[wc[i] for i in cand],
                     starts=[starts[i] for i in cand], total_words=sum(wc), emb=emb.astype(np.float16),
                     oracle=sorted(chosen), indiv=np.array(indiv, np.float32),
                     texts=[sents[i].text for i in cand], reference=ref, article_len=len(text)))
    if n % 100 == 0: print(n, round(time.time()-t0,1), flush=True)
import pickle
pickle.dump(docs, open(out, "wb"))
print("done", len(docs), round(time.time()-t0,1))
