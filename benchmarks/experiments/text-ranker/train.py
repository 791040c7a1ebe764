"""Train a small sentence scorer on oracle labels and evaluate selection by ROUGE (issue 31 experiment)."""
import pickle, sys, json
import numpy as np
sys.path.insert(0, ".")
from edge_sdk.text.evaluate import rouge

def doc_features(d):
    emb = d["emb"].astype(np.float32)
    n = len(d["cand"]); N = max(d["n_sents"], 1)
    k = np.arange(n, dtype=np.float32)
    idx = np.array(d["cand"], np.float32)
    cen = emb.mean(0); cen /= (np.linalg.norm(cen) + 1e-9)
    cent = emb @ cen
    cs = (cent - cent.min()) / (cent.max() - cent.min() + 1e-9)
    first = emb[0]
    lead3 = emb[:3].mean(0); lead3 /= np.linalg.norm(lead3) + 1e-9
    w = np.array(d["words"], np.float32)
    logN = np.log1p(n) * np.ones(n)
    f = np.stack([
        idx / N, np.exp(-idx / N), 1 / (1 + k), (k == 0), (k == 1), (k == 2), (k < 5),
        np.array(d["starts"], np.float32),
        cent, cs, emb @ first, emb @ lead3, np.log(w), (w < 10), (w > 40),
        logN / 5, (1 / (1 + k)) * logN / 5, cs * logN / 5,
    ], 1).astype(np.float32)
    return f

def build(docs, use_emb=False):
    X, y, g = [], [], []
    for di, d in enumerate(docs):
        f = doc_features(d)
        if use_emb: f = np.concatenate([f, d["emb"].astype(np.float32)], 1)
        lab = np.zeros(len(f), np.float32); lab[d["oracle"]] = 1
        X.append(f); y.append(lab); g.append(np.full(len(f), di))
    return np.concatenate(X), np.concatenate(y), np.concatenate(g)

def train_mlp(X, y, hidden=16, epochs=300, lr=0.01, l2=1e-4, seed=0):
    rng = np.random.default_rng(seed)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    d = Z.shape[1]
    W1 = rng.normal(0, 1/np.sqrt(d), (d, hidden)).astype(np.float32); b1 = np.zeros(hidden, np.float32)
    W2 = rng.normal(0, 1/np.sqrt(hidden), (hidden,)).astype(np.float32); b2 = np.float32(0)
    params = [W1, b1, W2, np.array([b2])]
    m = [np.zeros_like(p) for p in params]; v = [np.zeros_like(p) for p in params]
    pos_w = (1 - y.mean()) / y.mean()
    wts = np.where(y > 0, pos_w, 1.0).astype(np.float32); wts /= wts.mean()
    for t in range(1, epochs + 1):
        H = np.maximum(Z @ params[0] + params[1], 0)
        s = H @ params[2] + params[3][0]
        p = 1 / (1 + np.exp(-s))
        gs = (p - y) * wts / len(y)
        gW2 = H.T @ gs + l2 * params[2]; gb2 = np.array([gs.sum()])
        gH = np.outer(gs, params[2]) * (H > 0)
        gW1 = Z.T @ gH + l2 * params[0]; gb1 = gH.sum(0)
        for i, gr in enumerate([gW1, gb1, gW2, gb2]):
            m[i] = 0.9 * m[i] + 0.1 * gr; v[i] = 0.999 * v[i] + 0.001 * gr * gr
            params[i] -= lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    return dict(mu=mu, sd=sd, W1=params[0], b1=params[1], W2=params[2], b2=params[3][0])

def predict(model, X):
    Z = (X - model["mu"]) / model["sd"]
    return np.maximum(Z @ model["W1"] + model["b1"], 0) @ model["W2"] + model["b2"]

def select(d, scores, n=3, lam=0.0, block=True):
    emb = d["emb"].astype(np.float32)
    order = np.argsort(-scores)
    chosen = []
    if lam > 0:
        s = (scores - scores.min()) / (scores.max() - scores.min() + 1e-9)
        avail = np.ones(len(s), bool); maxsim = np.full(len(s), -1.0)
        while avail.any() and len(chosen) < n:
            gain = (1 - lam) * s - lam * np.maximum(maxsim, 0); gain[~avail] = -np.inf
            b = int(np.argmax(gain)); avail[b] = False; chosen.append(b); maxsim = np.maximum(maxsim, emb @ emb[b])
        return sorted(chosen)
    tri = set()
    for j in order:
        toks = d["texts"][j].lower().split()
        t = {tuple(toks[i:i+3]) for i in range(len(toks) - 2)}
        if block and tri & t: continue
        chosen.append(int(j)); tri |= t
        if len(chosen) == n: break
    return sorted(chosen)

def evaluate(docs, score_fn, n=3, **kw):
    hyps = [[d["texts"][j] for j in select(d, score_fn(d), n, **kw)] for d in docs]
    return rouge([d["reference"] for d in docs], hyps)

def lead(docs, n=3):
    return rouge([d["reference"] for d in docs], [d["texts"][:n] for d in docs])

def oracle(docs):
    return rouge([d["reference"] for d in docs], [[d["texts"][j] for j in d["oracle"]] for d in docs])
