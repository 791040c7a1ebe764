import pickle, numpy as np, sys
from train import *
cnn = pickle.load(open("cnndm_int8.pkl","rb")); rep = pickle.load(open("reports_int8.pkl","rb")); dm = pickle.load(open("dm_int8.pkl","rb")); bbc = pickle.load(open("bbc_int8.pkl","rb"))
base = [c for c in range(18) if c not in (10, 11)]
def run(name, train, cols, hidden=16, seed=0):
    F = lambda d: doc_features(d)[:, cols]
    X = np.concatenate([F(d) for d in train]); y = np.concatenate([np.isin(np.arange(len(d["cand"])), d["oracle"]).astype(np.float32) for d in train])
    m = train_mlp(X, y, hidden=hidden, epochs=400, seed=seed); fn = lambda d: 1/(1+np.exp(-predict(m, F(d))))
    out = {k: evaluate(v, fn, lam=0.2) for k, v in [("bbc", bbc[1::2]), ("dm", dm), ("cnn2", cnn[500:]), ("rep", rep[1::2])]}
    print(name, " | ".join(f"{k} {v['rouge1']:.2f}/{v['rouge2']:.2f}/{v['rougeLsum']:.2f}" for k, v in out.items()), flush=True)
cur = lambda d: (lambda f: f[:,9] + 0.15*np.clip(f[:,1]+0.05*f[:,7],0,1))(doc_features(d))
for k, v in [("bbc", bbc[1::2]), ("dm", dm), ("cnn2", cnn[500:]), ("rep", rep[1::2])]:
    print(k, "lead", lead(v), "current", evaluate(v, cur, lam=0.2))
nopara = [c for c in base if c != 7]
run("cnn500+rep", cnn[:500] + rep[0::2], base)
run("cnn500+rep nopara", cnn[:500] + rep[0::2], nopara)
run("cnn500+rep+bbc_even", cnn[:500] + rep[0::2] + bbc[0::2], base)
run("cnn500+rep+bbc_even nopara", cnn[:500] + rep[0::2] + bbc[0::2], nopara)
run("cnn500+rep+dm", cnn[:500] + rep[0::2] + dm, nopara)
