import time, numpy as np, torch, torch.nn.functional as F, sys
from edge_sdk.quantize.vision import data, int8
from edge_sdk.quantize.vision.weights import load_lite
from edge_sdk.quantize.vision.models import ARCHS
torch.set_num_threads(2)
model, _ = load_lite("efficientnet-lite0"); model.eval()
pre = ARCHS["efficientnet-lite0"].preprocess
ph = data.photo_sets()
t=time.time(); hold = data.batch(ph.holdout, pre); print("prep", time.time()-t, hold.shape, flush=True)
rows, y = ph.labelled_rows()
np.save("/tmp/vd/hold.npy", hold)
def logits(size, aa):
    out=[]
    with torch.no_grad():
        for i in range(0, len(hold), 64):
            x = torch.from_numpy(hold[i:i+64])
            if size != 224: x = F.interpolate(x, size=(size,size), mode="bilinear", align_corners=False, antialias=aa)
            out.append(model(x).numpy())
    return np.concatenate(out)
ref = logits(224, False); np.save("/tmp/vd/ref.npy", ref)
for size in (192, 176, 160):
  for aa in (False, True):
    t=time.time(); l = logits(size, aa)
    ok, m = int8.gate(ref, l, ref[rows], l[rows], y)
    print(size, aa, round(time.time()-t,1), m["holdout_top1_agreement"], m["top1_change_estimate"], m["top1_change_estimate_ci95"], m["labelled_top1_change"], m["labelled"]["top1"], m["fp32_labelled"]["top1"], flush=True)
