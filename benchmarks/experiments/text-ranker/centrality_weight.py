import pickle, numpy as np
from train import *
cnn = pickle.load(open("cnndm_int8.pkl","rb")); rep = pickle.load(open("reports_int8.pkl","rb"))
base = [c for c in range(18) if c not in (10, 11)]
F = lambda d: doc_features(d)[:, base]
tr = cnn[:500] + rep[0::2]
X = np.concatenate([F(d) for d in tr]); y = np.concatenate([np.isin(np.arange(len(d["cand"])), d["oracle"]).astype(np.float32) for d in tr])
m = train_mlp(X, y, hidden=16, epochs=400, seed=0)
for b in (0, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0):
    fn = lambda d: 1/(1+np.exp(-predict(m, F(d)))) + b * doc_features(d)[:, 9]
    a, r = evaluate(cnn[500:], fn, lam=0.2), evaluate(rep[0::2], fn, lam=0.2)
    print(b, "cnn2", a["rouge1"], "rep_even", r["rouge1"], "mean", round((a["rouge1"] + r["rouge1"]) / 2, 2))
