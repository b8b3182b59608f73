#!/usr/bin/python3
"""The plain Python loop vidscore's detection benchmark compares against: ffmpeg's CLI decodes
the video to raw RGB on a pipe, torch letterboxes and batches the frames, runs the TorchScript
YOLOX/YOLOv5-layout model, torchvision's batched NMS keeps the boxes, and the detections go to a
JSON file. Nothing of vidscore is used.

  /usr/bin/python3 tools/peer_detect_loop.py MODEL INPUT OUT.json [--size 416] [--batch 4]
      [--threads 2] [--score 0.3] [--iou 0.45]

Prints frames, seconds and fps on stderr.
"""
import argparse
import json
import subprocess
import sys
import time

import torch
import torchvision


def probe_size(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout.strip()
    w, h = out.split(",")[:2]
    return int(w), int(h)


def letterbox(frames, size, pad):
    """[B,H,W,3] uint8 -> [B,3,size,size] float, scaled to fit, padded right/bottom."""
    b, h, w, _ = frames.shape
    r = min(size / w, size / h)
    nw, nh = round(w * r), round(h * r)
    x = frames.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    out = torch.full((b, 3, size, size), float(pad))
    out[:, :, :nh, :nw] = x
    return out, r


def detect(pred, r, score_thr, iou_thr):
    """pred [N, 5+C] in the YOLOv5 layout -> list of (x, y, w, h, class, score) in frame pixels."""
    scores_all = pred[:, 4:5] * pred[:, 5:]
    scores, classes = scores_all.max(dim=1)
    keep = scores >= score_thr
    boxes = pred[keep, :4]
    scores, classes = scores[keep], classes[keep]
    xyxy = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], dim=1) / r
    idx = torchvision.ops.batched_nms(xyxy, scores, classes, iou_thr)[:100]
    res = []
    for i in idx.tolist():
        x1, y1, x2, y2 = xyxy[i].tolist()
        res.append({"bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "category_id": int(classes[i]), "score": round(float(scores[i]), 4)})
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--score", type=float, default=0.3)
    ap.add_argument("--iou", type=float, default=0.45)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    start = time.time()
    model = torch.jit.load(a.model).eval()
    w, h = probe_size(a.input)
    ff = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", a.input, "-f", "rawvideo",
                           "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    frame_bytes = w * h * 3
    frames_out = []
    index = 0
    with torch.inference_mode():
        while True:
            batch = []
            for _ in range(a.batch):
                buf = ff.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                batch.append(torch.frombuffer(bytearray(buf), dtype=torch.uint8).view(h, w, 3))
            if not batch:
                break
            x, r = letterbox(torch.stack(batch), a.size, 114)
            pred = model(x)
            for p in pred:
                frames_out.append({"frame": index, "detections": detect(p, r, a.score, a.iou)})
                index += 1
    ff.wait()
    with open(a.output, "w") as f:
        json.dump({"frames": frames_out}, f)
    wall = time.time() - start
    print(f"peer: {index} frames in {wall:.2f} s, {index / wall:.2f} fps", file=sys.stderr)


if __name__ == "__main__":
    main()
