import sys, time, copy, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from pathlib import Path
from edge_sdk.quantize.vision import data, int8
from edge_sdk.quantize.vision.weights import load_lite
from edge_sdk.quantize.vision.models import ARCHS
from edge_sdk.quantize.vision.images import collect_unlabelled, views, mixed_views, render_view
torch.set_num_threads(2); torch.manual_seed(0)
S = int(sys.argv[1]); TRAIN = sys.argv[2]; EPOCHS = int(sys.argv[3]); LR = float(sys.argv[4]); PER = int(sys.argv[5]) if len(sys.argv) > 5 else 6
pre = ARCHS["efficientnet-lite0"].preprocess
teacher, _ = load_lite("efficientnet-lite0"); teacher.eval()
ph = data.photo_sets()
hold = np.load("/tmp/vd/hold.npy"); ref = np.load("/tmp/vd/ref.npy"); rows, y = ph.labelled_rows()
cache = Path(f"/tmp/vd/views{PER}.pt")
if cache.exists():
    X, T = torch.load(cache)
else:
    imgs, names = collect_unlabelled([Path(".cache/distill/data/images"), *ph.calibration, *ph.videos], set(ph.holdout), 10)
    print("images", len(imgs), flush=True)
    v = views(len(imgs), [im.shape[:2] for im in imgs], PER, 0)
    v += mixed_views(v, len(v) // 3, 0)
    X = torch.stack([render_view(imgs, vv, pre) for vv in v]).half()
    with torch.no_grad():
        T = torch.cat([teacher(X[i:i+64].float()) for i in range(0, len(X), 64)])
    torch.save((X, T), cache)
print("views", X.shape, flush=True)
class Down(nn.Module):
    def __init__(s, net, size): super().__init__(); s.net, s.size = net, size
    def forward(s, x): return s.net(F.interpolate(x, size=(s.size, s.size), mode="bilinear", align_corners=False))
student = Down(copy.deepcopy(teacher), S)
def evaluate(tag):
    student.eval(); out = []
    with torch.no_grad():
        for i in range(0, len(hold), 64): out.append(student(torch.from_numpy(hold[i:i+64])).numpy())
    l = np.concatenate(out); ok, m = int8.gate(ref, l, ref[rows], l[rows], y)
    print(tag, m["holdout_top1_agreement"], m["top1_change_estimate"], m["top1_change_estimate_ci95"], m["labelled_top1_change"], m["labelled_top1_change_ci95"], flush=True)
    return l
evaluate("start")
# BN recalibration at the new size
bns = [m for m in student.modules() if isinstance(m, nn.BatchNorm2d)]
RECAL = len(sys.argv) > 6 and sys.argv[6] == "recal"
if RECAL:
  for m in bns: m.reset_running_stats(); m.momentum = None
if RECAL:
  student.train()
  with torch.no_grad():
    for i in range(0, len(X), 64): student(X[i:i+64].float())
  evaluate("bn-recal")
if TRAIN == "bn":
    params = [p for m in bns for p in m.parameters()] + list(student.net.classifier.parameters())
else:
    params = list(student.parameters())
for p in student.parameters(): p.requires_grad_(False)
for p in params: p.requires_grad_(True)
opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
steps = EPOCHS * (len(X) // 32); sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=steps, pct_start=0.1)
g = torch.Generator().manual_seed(0); step = 0
for ep in range(EPOCHS):
    student.eval()  # BN stats fixed (recalibrated)
    t0 = time.time(); perm = torch.randperm(len(X), generator=g); tot = 0
    for i in range(0, len(X) - 31, 32):
        idx = perm[i:i+32]; x = X[idx].float(); t = T[idx]
        s = student(x); loss = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tot += loss.item(); step += 1
    print("epoch", ep, round(tot / (len(X)//32), 4), round(time.time() - t0), "s", flush=True)
    l = evaluate(f"ep{ep}")
torch.save(student.net.state_dict(), f"/tmp/vd/student_{S}_{TRAIN}.pt")
