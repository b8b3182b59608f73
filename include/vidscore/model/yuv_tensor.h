// The float path's two conversions: 8-bit YUV planes straight into a model's float RGB input, and
// its float RGB output straight into YUV planes for the encoder. Each is one pass that does the
// matrix, the range, the chroma resampling, the clamp and the rounding together, where the packed
// path costs swscale to RGB24, a uint8 -> float transpose, a float -> uint8 transpose and swscale
// back. Chroma samples sit at the centre of the luma samples they cover, as swscale assumes:
// upsampling is bilinear (3/4, 1/4 weights), downsampling averages them.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "vidscore/frame.h"

namespace vidscore {

// Writes the picture as RGB (values 0-255, clamped, not rounded) into `out`, a float [3, H, W]
// tensor of the picture's size whose rows are contiguous (a slot of a batch). Rows are shared
// among torch's intra-op threads.
void yuv_to_rgb_tensor(const YuvImage& src, torch::Tensor out);

// Writes a float [3, H, W] RGB tensor (values 0-255; clamped here, rounded half up) of the
// picture's size into `dst`'s planes, with `dst`'s matrix and range. Returns how many values were
// NaN or infinite (see finite_row).
int64_t rgb_tensor_to_yuv(const torch::Tensor& rgb, YuvImage& dst);

// A model's output on its way to 8 bits: NaN becomes 0, infinity 0 or 255 (by its sign), and
// every finite value stays. Copies a row's three planes (w values each) to `out` (red, green,
// blue one after the other) that way and returns how many values were not finite; the
// conversions use it for the rare row that is not all finite.
int finite_row(const float* red, const float* green, const float* blue, int w,
               std::vector<float>& out);

}  // namespace vidscore
