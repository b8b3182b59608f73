#!/usr/bin/python3
"""The peer of vidscore's image classification benchmark: a plain PyTorch DataLoader (N worker
processes, PIL, torchvision's evaluation transform) feeding the same TorchScript model in batches,
writing the top-5 per image as JSON lines, the way such scoring scripts are usually written.

  peer_classify_dataloader.py MODEL FOLDER OUT.jsonl [--batch 8] [--workers 2] [--threads 2]
"""
import argparse
import json
import os
import sys

import torch
import torchvision.transforms as T
from PIL import Image


class Folder(torch.utils.data.Dataset):
    def __init__(self, root):
        self.files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
        self.tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.PILToTensor()])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            return self.tf(im.convert("RGB")), i


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("folder")
    ap.add_argument("out")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    model = torch.jit.load(a.model).eval()
    data = Folder(a.folder)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, num_workers=a.workers)
    with open(a.out, "w") as f:
        for x, idx in loader:
            p = model(x.float())
            s, c = torch.topk(p, 5, 1)
            for i, ss, cc in zip(idx.tolist(), s.tolist(), c.tolist()):
                f.write(json.dumps({"path": data.files[i], "classes": [
                    {"id": k, "score": v} for k, v in zip(cc, ss)]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
