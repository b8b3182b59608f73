#!/usr/bin/python3
"""What PIL and torchvision make of an image, for tests/test_images.cpp to compare with
vidscore's decoder and pre-processing byte for byte.

  pil_reference.py decode IMAGE OUT      # exif_transpose + convert("RGB")
  pil_reference.py center_crop IMAGE OUT SHORTER W H   # + Resize(SHORTER), CenterCrop((H, W))
  pil_reference.py stretch IMAGE OUT W H               # + Resize((H, W))

OUT gets "W H\\n" and then the packed RGB24 pixels."""
import sys

import torchvision.transforms as T
from PIL import Image, ImageOps


def main():
    mode, path, out = sys.argv[1:4]
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        if mode == "center_crop":
            s, w, h = map(int, sys.argv[4:7])
            im = T.CenterCrop((h, w))(T.Resize(s)(im))
        elif mode == "stretch":
            w, h = map(int, sys.argv[4:6])
            im = T.Resize((h, w))(im)
        with open(out, "wb") as f:
            f.write(b"%d %d\n" % im.size)
            f.write(im.tobytes())


if __name__ == "__main__":
    main()
