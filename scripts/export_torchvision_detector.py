#!/usr/bin/python3
"""Export a torchvision detection model to TorchScript for vidscore (task `detect`, layout
`torchvision`).

Usage (Debian's python3, which has torch and torchvision; the pyenv python3 first on PATH does
not):
    /usr/bin/python3 scripts/export_torchvision_detector.py maskrcnn_resnet50_fpn OUT.ts.pt \\
        [--checkpoint FILE.pth] [--num-classes N] [--min-size S --max-size S] \\
        [--box-score-thresh T] [--write-names NAMES.txt]

Without --checkpoint the network has random weights (a smoke-test model that finds nothing
meaningful). FILE.pth is a state dict: torchvision's own downloads (e.g.
maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth) or a checkpoint of torchvision's
references/detection/train.py, which keeps the state dict under "model".

Model contract (what the exported file does): forward takes one float32 tensor [B,3,H,W], RGB,
values 0-255, and returns List[Dict[str, Tensor]], one dict per image, with `boxes` [N,4]
(x1, y1, x2, y2 in input pixels), `labels` [N] int64, `scores` [N], and for Mask R-CNN `masks`
[N,1,H,W] probabilities (keypoint R-CNN adds `keypoints`, `keypoints_scores`). The network resizes
internally (--min-size/--max-size) and maps boxes and masks back to the input size. Labels of the
COCO models are torchvision's 91 ids (0 = background, 1 = person, unused ids named "N/A"; keypoint
R-CNN has 2); --write-names writes those names one per line, line k+1 naming label k.

Running the file needs torchvision's C++ operators (nms, roi_align) registered: in C++ the
torchvision `_C` shared library must be loaded before the model (vidscore's
detect.operator_libraries); the script prints its path.
"""

import argparse
import glob
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models import detection

PROG = "export_torchvision_detector"

# R-CNN builders call the final score threshold box_score_thresh; RetinaNet, FCOS and SSD call
# it score_thresh. SSD models resize to the fixed size of their architecture (no min/max size).
_RCNN_PREFIXES = ("fasterrcnn_", "maskrcnn_", "keypointrcnn_")


def _model_names() -> List[str]:
    try:
        return sorted(torchvision.models.list_models(module=detection))
    except AttributeError:  # torchvision < 0.14 has no list_models
        return ["fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_fpn",
                "fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn", "keypointrcnn_resnet50_fpn",
                "retinanet_resnet50_fpn", "ssd300_vgg16", "ssdlite320_mobilenet_v3_large"]


def _score_thresh_kwarg(name: str) -> str:
    return "box_score_thresh" if name.startswith(_RCNN_PREFIXES) else "score_thresh"


def _takes_min_max_size(name: str) -> bool:
    return not name.startswith("ssd")


class DetectorWrapper(nn.Module):
    """Adapts a torchvision detector to vidscore's contract: one 0-255 batch tensor in, the list
    of per-image detection dicts out (scripted torchvision detectors return (losses,
    detections))."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> List[Dict[str, Tensor]]:
        images = list((x / 255.0).unbind(0))
        out = self.model(images)
        if torch.jit.is_scripting():  # folded when scripting: the eager branch is not compiled
            return out[1]
        return out


def load_checkpoint(path: str, trust: bool) -> Dict[str, Tensor]:
    """Reads a state dict from `path` (plain, or under "model"), dropping a DataParallel
    `module.` prefix. Raises ValueError when the file holds no state dict."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except OSError as err:
        raise ValueError(f"{path}: cannot read the checkpoint: {err.strerror or err}") from err
    except Exception as err:  # pickle and zip errors
        # torch's weights-only refusal is one long sentence; its last clause names the cause.
        msg = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        msg = msg[msg.find("WeightsUnpickler error:"):] if "WeightsUnpickler error:" in msg else msg
        hint = ""
        if not trust and "Unsupported class" in msg:
            hint = (": it holds Python objects besides tensors (train.py checkpoints keep their "
                    "argparse args); add --trust-checkpoint if you trust the file")
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({msg}){hint}") from err
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (or a dict with one under \"model\"), "
                         f"found {type(obj).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def _num_classes_in(state: Dict[str, Tensor]) -> Optional[int]:
    """The class count of an R-CNN state dict (background included), or None if unknown."""
    w = state.get("roi_heads.box_predictor.cls_score.weight")
    return int(w.shape[0]) if w is not None else None


def _first_problem(err: RuntimeError) -> str:
    """load_state_dict's multi-line report shortened to its first problem and a count."""
    problems = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
    if not problems:
        return str(err).strip()
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0][:300] + more


def build_model(args: argparse.Namespace) -> Tuple[nn.Module, int]:
    """The model in eval mode and its class count (background included)."""
    state = None
    num_classes = args.num_classes
    if args.checkpoint is not None:
        state = load_checkpoint(args.checkpoint, args.trust_checkpoint)
        if num_classes is None:
            num_classes = _num_classes_in(state)
    if num_classes is None:
        num_classes = len(category_names(args.model))  # as the builder's COCO weights
    kwargs = {"weights": None, "weights_backbone": None, "num_classes": num_classes}
    if args.min_size is not None:
        kwargs["min_size"] = args.min_size
    if args.max_size is not None:
        kwargs["max_size"] = args.max_size
    if args.box_score_thresh is not None:
        kwargs[_score_thresh_kwarg(args.model)] = args.box_score_thresh

    torch.manual_seed(0)
    model = detection.__dict__[args.model](**kwargs)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as err:  # missing/unexpected keys or shape mismatch
            raise ValueError(f"{args.checkpoint}: does not fit {args.model} with {num_classes} "
                             f"classes (see --num-classes): {_first_problem(err)}") from err
    else:
        print(f"{PROG}: no --checkpoint: {args.model} has RANDOM weights (smoke tests only)",
              file=sys.stderr)
    # The scripted R-CNN warns once per process that it returns (losses, detections); the
    # wrapper unpacks that, so the warning would only confuse vidscore's users.
    if hasattr(model, "_has_warned"):
        model._has_warned = True
    return model.eval(), num_classes


def export(model: nn.Module, out_path: str) -> None:
    """Scripts the wrapped model, saves it, loads it back and checks it against the eager model.

    Writes to a temporary name beside `out_path` and renames it only once the check passes, so a
    failed export never leaves a file under the final name."""
    wrapper = DetectorWrapper(model).eval()
    t0 = time.monotonic()
    scripted = torch.jit.script(wrapper)
    partial = f"{out_path}.partial"
    scripted.save(partial)
    print(f"scripted and saved in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    try:
        with_masks = isinstance(model, detection.MaskRCNN)
        _check_saved(partial, wrapper, out_path, with_masks)
    except BaseException:
        os.remove(partial)
        raise
    os.replace(partial, out_path)


def _check_saved(path: str, wrapper: nn.Module, name: str, with_masks: bool) -> None:
    """Loads the TorchScript file at `path`, runs it on a random 1x3x64x96 0-255 batch and checks
    the output's structure, types and shapes against the eager model; `name` is what error
    messages call the file."""
    loaded = torch.jit.load(path, map_location="cpu")
    loaded.eval()
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 96) * 255.0
    with torch.no_grad():
        t0 = time.monotonic()
        out = loaded(x)
        elapsed = time.monotonic() - t0
        eager = wrapper(x)
    if not isinstance(out, list) or len(out) != 1 or not isinstance(out[0], dict):
        raise RuntimeError(f"{name}: expected a list of one dict, got {type(out).__name__}")
    det = out[0]
    expected = {"boxes", "labels", "scores"} | ({"masks"} if with_masks else set())
    if not expected <= det.keys():
        raise RuntimeError(f"{name}: output keys {sorted(det)} lack {sorted(expected - det.keys())}")
    n = det["boxes"].shape[0]
    if tuple(det["boxes"].shape) != (n, 4) or tuple(det["scores"].shape) != (n,) \
            or tuple(det["labels"].shape) != (n,) or det["labels"].dtype != torch.int64:
        raise RuntimeError(f"{name}: unexpected shapes/dtypes: "
                           + ", ".join(f"{k} {list(v.shape)} {v.dtype}" for k, v in det.items()))
    if with_masks and tuple(det["masks"].shape) != (n, 1, 64, 96):
        raise RuntimeError(f"{name}: masks {list(det['masks'].shape)}, expected [{n}, 1, 64, 96]")
    if with_masks and n and (det["masks"].min() < -1e-4 or det["masks"].max() > 1 + 1e-4):  # float rounding
        raise RuntimeError(f"{name}: mask values outside 0..1")
    if n and (det["boxes"].min() < 0 or det["boxes"][:, 2].max() > 96
              or det["boxes"][:, 3].max() > 64):
        raise RuntimeError(f"{name}: boxes outside the 96x64 input")
    # Random weights often score near the threshold; compare only when both found the same count.
    if eager[0]["boxes"].shape[0] == n and n and \
            not torch.allclose(det["boxes"], eager[0]["boxes"], rtol=1e-3, atol=1e-2):
        diff = (det["boxes"] - eager[0]["boxes"]).abs().max().item()
        raise RuntimeError(f"{name}: TorchScript boxes differ from eager (max {diff:g} px)")
    print("checked: [1,3,64,96] -> list of 1 dict: "
          + ", ".join(f"{k} {list(v.shape)} {str(v.dtype).replace('torch.', '')}"
                      for k, v in det.items())
          + f" (eager found {eager[0]['boxes'].shape[0]}); forward took {elapsed:.2f} s",
          file=sys.stderr)


def torchvision_ops_library() -> Optional[str]:
    """Path of torchvision's C++ operator library (nms, roi_align), or None if absent."""
    found = sorted(glob.glob(os.path.join(os.path.dirname(torchvision.__file__), "_C*.so")))
    return found[0] if found else None


def category_names(model_name: str) -> List[str]:
    """The label names of the COCO weights torchvision publishes for `model_name`: the 91 COCO
    names (index 0 "__background__", unused ids "N/A"), or for keypoint R-CNN
    ["no person", "person"]. Weights metadata, read without downloading anything."""
    try:
        weights = torchvision.models.get_model_weights(model_name).DEFAULT
    except AttributeError:  # torchvision < 0.14 has no get_model_weights
        weights = detection.MaskRCNN_ResNet50_FPN_Weights.DEFAULT
    return list(weights.meta["categories"])


def main(argv=None) -> int:
    model_names = _model_names()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a torchvision detector to TorchScript for vidscore (task detect, "
                    "layout torchvision): input float32 RGB [B,3,H,W] 0-255, output "
                    "List[Dict[str, Tensor]] with boxes, labels, scores (and masks).")
    parser.add_argument("model", choices=model_names, metavar="MODEL",
                        help="torchvision builder: " + ", ".join(model_names))
    parser.add_argument("out", metavar="OUT.ts.pt", help="TorchScript file to write")
    parser.add_argument("--checkpoint", metavar="FILE.pth",
                        help="state dict to load (plain or under \"model\"); without it the "
                             "weights are random")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="unpickle Python objects in the checkpoint (train.py checkpoints "
                             "need it); only for files you trust")
    parser.add_argument("--num-classes", type=int, metavar="N",
                        help="classes including background (default: from the checkpoint's "
                             "R-CNN box predictor, else as torchvision's COCO weights: 91, "
                             "2 for keypoint R-CNN)")
    parser.add_argument("--min-size", type=int, metavar="S",
                        help="resize so the short side is S (model default: 800, 320 for the "
                             "_320_ model)")
    parser.add_argument("--max-size", type=int, metavar="S",
                        help="... unless the long side would exceed S (default 1333, 640 for "
                             "the _320_ model)")
    parser.add_argument("--box-score-thresh", type=float, metavar="T",
                        help="drop detections scoring below T inside the model (default: the "
                             "builder's, 0.05 for R-CNN; vidscore applies its own threshold "
                             "after)")
    parser.add_argument("--write-names", metavar="FILE",
                        help="also write torchvision's COCO label names (91; 2 for keypoint "
                             "R-CNN), one per line (line k+1 names label k)")
    args = parser.parse_args(argv)
    if (args.min_size is not None or args.max_size is not None) and \
            not _takes_min_max_size(args.model):
        parser.error(f"{args.model} resizes to a fixed size: --min-size/--max-size do not apply")
    for opt in ("num_classes", "min_size", "max_size"):
        value = getattr(args, opt)
        if value is not None and value < (2 if opt == "num_classes" else 1):
            parser.error(f"--{opt.replace('_', '-')} must be at least "
                         f"{2 if opt == 'num_classes' else 1}")
    if args.checkpoint is not None and os.path.abspath(args.checkpoint) == os.path.abspath(args.out):
        parser.error("OUT.ts.pt must differ from the checkpoint")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        print(f"{PROG}: error: {args.out}: directory {out_dir} does not exist", file=sys.stderr)
        return 1

    try:
        ops_lib = torchvision_ops_library()
        if ops_lib is None:
            raise RuntimeError(f"torchvision's C++ operator library (_C*.so) is missing beside "
                               f"{torchvision.__file__}; the exported model could not run")
        model, num_classes = build_model(args)
        names = category_names(args.model)
        if args.write_names is not None and num_classes != len(names):
            raise ValueError(f"--write-names writes torchvision's {len(names)} COCO names but the "
                             f"model has {num_classes} classes: write that names file yourself")
        export(model, args.out)
        if args.write_names is not None:
            with open(args.write_names, "w", encoding="utf-8") as f:
                f.write("\n".join(names) + "\n")
            print(f"wrote {args.write_names} ({len(names)} names; the config's "
                  f"detect.class_names)", file=sys.stderr)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    size_mb = os.path.getsize(args.out) / 1e6
    print(f"{PROG}: vidscore must load torchvision's operators before this model: list\n"
          f"  {ops_lib}\n  in the config's detect.operator_libraries (it is built for torch "
          f"{torch.__version__.split('+')[0]}; a vidscore linked to another libtorch needs the _C "
          f"library of a torchvision built for that one)", file=sys.stderr)
    print(f"{args.out} ({size_mb:.1f} MB)", file=sys.stderr)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
