// The pre-processing of classification and embedding models: a picture of any size becomes the
// model's input size in packed RGB24, exactly as torchvision's evaluation transform does on a PIL
// image, so results match the Python pipelines these models come from:
//   "center_crop" (default): Resize(shorter_side) then CenterCrop(size): the shorter side scaled
//                  to shorter_side (the longer one truncated as torchvision does), then the
//                  centre cut out (padded with 0 where the crop is larger);
//   "stretch":     Resize(size), aspect ratio not kept;
//   "letterbox":   scaled to fit inside size, aspect ratio kept, padded right and bottom.
// Scaling is PIL's bilinear filter (antialiased when shrinking) bit for bit: 22-bit fixed-point
// coefficients, a horizontal then a vertical pass, each rounded to 8 bits. Only the pixels the
// crop keeps are computed. Knows nothing of torch or FFmpeg.
#pragma once

#include <cstdint>

#include "vidscore/config.h"
#include "vidscore/frame.h"

namespace vidscore {

// The size a picture of `picture` size is scaled to before cropping or padding. Throws
// RuntimeError for a picture so thin that a side would exceed 2^24 pixels.
FrameSize scaled_size(FrameSize picture, const ImageInput& t);

// `rgb` (packed RGB24 of `size`) -> `out`, t.width x t.height packed RGB24.
void transform_image(const uint8_t* rgb, FrameSize size, const ImageInput& t, uint8_t* out);

// PIL's Image.resize(..., BILINEAR) of `src` to `to`, computing only output columns [x0, x1)
// and rows [y0, y1), written packed into `out` ((x1 - x0) x (y1 - y0) pixels).
void resize_like_pil(const uint8_t* src, FrameSize from, FrameSize to, int x0, int x1, int y0,
                     int y1, uint8_t* out);

}  // namespace vidscore
