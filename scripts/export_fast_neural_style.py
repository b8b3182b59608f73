#!/usr/bin/python3
"""Export a fast-neural-style TransformerNet checkpoint to TorchScript for vidscore.

Usage (Debian's python3, which has torch; the pyenv python3 first on PATH does not):
    /usr/bin/python3 scripts/export_fast_neural_style.py CHECKPOINT.pth OUT.ts.pt
    /usr/bin/python3 scripts/export_fast_neural_style.py --random-weights OUT.ts.pt

CHECKPOINT.pth is a state dict saved by pytorch/examples `fast_neural_style` (candy.pth,
mosaic.pth, rain_princess.pth, udnie.pth, or your own training run). `--random-weights` exports
an untrained network of the same shape, for smoke tests without a checkpoint.

Model contract (vidscore task `style`): input float32 RGB [B,3,H,W] with values 0-255; output
[B,3,H,W] RGB roughly 0-255, not clamped (vidscore clamps). The network downsamples by 4, so
H and W should be multiples of 4 (vidscore pads and crops frames that are not).

The network below is the Johnson et al. TransformerNet as in pytorch/examples, written anew with
the same module names, so upstream state dicts load unchanged.
"""

import argparse
import os
import re
import sys
from typing import Dict

import torch
from torch import nn

# Every conv/norm pair below halves (conv2, conv3) or doubles (deconv1, deconv2) H and W.
STRIDE = 4


class ConvLayer(nn.Module):
    """Reflection padding (kernel // 2) then a convolution; keeps H x W when stride is 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    """Two 3x3 conv + instance-norm layers with an identity skip (no ReLU after the sum)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.in2(self.conv2(y))
        return y + x


class UpsampleConvLayer(nn.Module):
    """Optional nearest-neighbour upsampling, then reflection padding and a convolution.

    Upsample-then-convolve instead of a transposed convolution avoids checkerboard artefacts.
    `upsample` is an integer factor; 0 means none (an int, not Optional, so TorchScript can
    branch on it).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 upsample: int = 0):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample > 0:
            x = nn.functional.interpolate(x, scale_factor=float(self.upsample), mode="nearest")
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """Image transformation network; input and output are RGB in the 0-255 range."""

    def __init__(self):
        super().__init__()
        # Downsampling: 9x9 at full size, then two stride-2 3x3 convolutions.
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        # Five residual blocks at 1/4 resolution.
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        # Upsampling back to full size; the last layer has no norm and no activation.
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


# Checkpoints saved by torch < 0.4 carry InstanceNorm running stats that current InstanceNorm2d
# (track_running_stats=False) rejects; pytorch/examples deletes them the same way.
_STALE_INSTANCE_NORM_KEY = re.compile(r"in\d+\.running_(mean|var)$")


def load_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Reads a state dict from `path`, dropping stale InstanceNorm keys and a DataParallel
    `module.` prefix. Raises ValueError when the file holds no state dict."""
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:  # torch < 1.13 has no weights_only argument
            obj = torch.load(path, map_location="cpu")
    except OSError:
        raise
    except Exception as err:  # pickle and zip errors from a file that is no checkpoint
        raise ValueError(f"{path}: cannot read a checkpoint ({type(err).__name__}: {err})") from err
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (as saved by pytorch/examples "
                         f"fast_neural_style), found {type(obj).__name__}")
    state = {}
    for key, value in obj.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if _STALE_INSTANCE_NORM_KEY.search(key):
            continue
        state[key] = value
    return state


def build_model(checkpoint: str = None) -> TransformerNet:
    torch.manual_seed(0)
    model = TransformerNet()
    if checkpoint is not None:
        try:
            model.load_state_dict(load_checkpoint(checkpoint))
        except RuntimeError as err:  # missing/unexpected keys or shape mismatch
            raise ValueError(f"{checkpoint}: not a fast_neural_style TransformerNet "
                             f"checkpoint:\n{err}") from err
    return model.eval()


def export(model: TransformerNet, out_path: str) -> None:
    """Scripts `model`, saves it, loads the file back and checks it against the eager model.

    Writes to a temporary name beside `out_path` and renames it only once the check passes, so a
    failed export never leaves a file under the final name."""
    scripted = torch.jit.script(model)
    partial = f"{out_path}.partial"
    scripted.save(partial)
    try:
        _check_saved(partial, model, out_path)
    except BaseException:
        os.remove(partial)
        raise
    os.replace(partial, out_path)


def _check_saved(path: str, model: TransformerNet, name: str) -> None:
    """Loads the TorchScript file at `path` and runs it on a 1x3x64x64 batch; `name` is what
    error messages call it."""
    loaded = torch.jit.load(path, map_location="cpu")
    loaded.eval()
    x = torch.rand(1, 3, 64, 64) * 255.0
    with torch.no_grad():
        y = loaded(x)
        y_eager = model(x)
    if tuple(y.shape) != tuple(x.shape):
        raise RuntimeError(f"{name}: output shape {tuple(y.shape)} != input {tuple(x.shape)}")
    if y.dtype != torch.float32:
        raise RuntimeError(f"{name}: output dtype {y.dtype}, expected float32")
    if not torch.allclose(y, y_eager, rtol=1e-4, atol=1e-2):
        diff = (y - y_eager).abs().max().item()
        raise RuntimeError(f"{name}: TorchScript output differs from eager (max {diff:g})")
    print(f"checked: [1,3,64,64] -> {list(y.shape)}, output range "
          f"{y.min().item():.1f}..{y.max().item():.1f}", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Export a pytorch/examples fast_neural_style TransformerNet to TorchScript "
                    "(input/output float32 RGB [B,3,H,W], 0-255; H, W multiples of 4).",
        usage="%(prog)s CHECKPOINT.pth OUT.ts.pt\n       %(prog)s --random-weights OUT.ts.pt")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="CHECKPOINT.pth OUT.ts.pt, or OUT.ts.pt with --random-weights")
    parser.add_argument("--random-weights", action="store_true",
                        help="export an untrained network (seeded), for smoke tests")
    args = parser.parse_args(argv)

    if args.random_weights:
        if len(args.paths) != 1:
            parser.error("--random-weights takes exactly one path: OUT.ts.pt")
        checkpoint, out_path = None, args.paths[0]
    else:
        if len(args.paths) != 2:
            parser.error("expected CHECKPOINT.pth OUT.ts.pt (or --random-weights OUT.ts.pt)")
        checkpoint, out_path = args.paths
        if checkpoint == out_path:
            parser.error("OUT.ts.pt must differ from CHECKPOINT.pth")

    try:
        model = build_model(checkpoint)
        export(model, out_path)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"export_fast_neural_style: error: {err}", file=sys.stderr)
        return 1
    print(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
