#!/usr/bin/python3
"""The independent Python reference for vidscore's classify and embed of images: PIL opens each
image (EXIF orientation applied with ImageOps.exif_transpose, then .convert("RGB")), torchvision's
evaluation transform (Resize(256), CenterCrop(224)) and the same TorchScript model score it.

  scripts/reference_scores.py MODEL OUT.jsonl IMAGE... [--top-k 5] [--embed OUT.npy]
                              [--batch 8] [--resize 256] [--crop 224]

Writes one JSON line per image: {"path", "classes": [{"id", "score"}]} or {"path", "error"}, or
with --embed the model's rows as a .npy (failed images left out). Run with /usr/bin/python3
(Debian's torch and torchvision)."""
import argparse
import json
import sys

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageOps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--embed", default="")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model = torch.jit.load(a.model).eval()
    tf = T.Compose([T.Resize(a.resize), T.CenterCrop(a.crop), T.PILToTensor()])
    rows, lines = [], []
    pending = []  # (line index, tensor)

    def flush():
        if not pending:
            return
        x = torch.stack([t for _, t in pending]).float()
        out = model(x).float().reshape(len(pending), -1)
        for (i, _), r in zip(pending, out):
            if a.embed:
                rows.append(r.numpy())
            s, ids = torch.topk(r, min(a.top_k, r.numel()))
            lines[i]["classes"] = [{"id": int(c), "score": float(v)} for v, c in zip(s, ids)]
        pending.clear()

    for path in a.images:
        line = {"path": path}
        lines.append(line)
        try:
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                pending.append((len(lines) - 1, tf(im)))
        except Exception as e:  # noqa: BLE001 - the reason goes into the results
            line["error"] = str(e)
        if len(pending) == a.batch:
            flush()
    flush()
    with open(a.out, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    if a.embed:
        np.save(a.embed, np.stack(rows) if rows else np.zeros((0, 0), np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
