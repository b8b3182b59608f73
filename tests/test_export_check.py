"""The export helper's output check accepts Mask R-CNN masks that float rounding puts a hair
above 1 (1.0000001) and still refuses values really outside 0..1. Run by CTest with Debian's
/usr/bin/python3 (torch 1.13)."""
import importlib.util
import os
import sys
import tempfile

import torch
from torch import nn

spec = importlib.util.spec_from_file_location(
    "export", os.path.join(os.path.dirname(__file__), "..", "scripts", "export_torchvision_detector.py"))
export = importlib.util.module_from_spec(spec)
spec.loader.exec_module(export)


class Fake(nn.Module):
    def __init__(self, top: float):
        super().__init__()
        self.top = top

    def forward(self, x):
        masks = torch.full((1, 1, 64, 96), self.top)
        return [{"boxes": torch.tensor([[1.0, 2.0, 30.0, 40.0]]), "labels": torch.tensor([1]),
                 "scores": torch.tensor([0.9]), "masks": masks}]


def check(top: float) -> bool:
    m = torch.jit.script(Fake(top))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.ts.pt")
        m.save(path)
        try:
            export._check_saved(path, m, "m.ts.pt", True)
            return True
        except RuntimeError as e:
            print("refused:", e)
            return False


ok_rounding = check(1.0000001)
ok_outside = check(1.01)
print("1.0000001 accepted:", ok_rounding, "| 1.01 accepted:", ok_outside)
sys.exit(0 if ok_rounding and not ok_outside else 1)
