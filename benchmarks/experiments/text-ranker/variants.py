import pickle, numpy as np
from train import *
cnn = pickle.load(open("cnndm_int8.pkl","rb")); rep = pickle.load(open("reports_int8.pkl","rb")); dm = pickle.load(open("dm_int8.pkl","rb")); bbc = pickle.load(open("bbc_int8.pkl","rb"))
base = [c for c in range(18) if c not in (10, 11)]
def run(name, train, cols, hidden=16, seed=0, l2=1e-4, beta=0.0):
    F = lambda d: doc_features(d)[:, cols]
    X = np.concatenate([F(d) for d in train]); y = np.concatenate([np.isin(np.arange(len(d["cand"])), d["oracle"]).astype(np.float32) for d in train])
    m = train_mlp(X, y, hidden=hidden, epochs=400, seed=seed, l2=l2)
    fn = lambda d: 1/(1+np.exp(-predict(m, F(d)))) + beta * doc_features(d)[:, 9]
    out = {k: evaluate(v, fn, lam=0.2) for k, v in [("bbc", bbc[1::2]), ("dm", dm), ("cnn2", cnn[500:]), ("rep", rep[1::2])]}
    print(f"{name:28s}", " | ".join(f"{k} {v['rouge1']:.2f}/{v['rouge2']:.2f}/{v['rougeLsum']:.2f}" for k, v in out.items()), flush=True)
tr = cnn[:500] + rep[0::2]
run("A", tr, base)
run("A no rank indicators", tr, [c for c in base if c not in (3,4,5,6)])
run("A hidden4", tr, base, hidden=4)
for b in (0.2, 0.4):
    run(f"A + {b} cs", tr, base, beta=b)
run("A cnn-weighted-docs?", cnn[:250] + rep[0::2]*2, base)
