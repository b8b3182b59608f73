#include "vidscore/model/image_transform.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "vidscore/error.h"

namespace vidscore {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images
constexpr double kMaxScaledSide = 1 << 24;

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1), for
// output positions [from, to) of `out_size` (each position's coefficients depend on it alone):
// the first input index, the number of taps, and fixed-point weights. Index i is position
// from + i.
struct Coefficients {
  int taps = 0;  // per output position (the widest)
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // taps per output position
};

Coefficients coefficients(int in_size, int out_size, int from, int to) {
  Coefficients c;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  c.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  const int n = to - from;
  c.first.resize(n);
  c.count.resize(n);
  c.weights.assign(static_cast<size_t>(n) * c.taps, 0);
  std::vector<double> k(c.taps);
  for (int xx = from; xx < to; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double arg = (x + xmin - center + 0.5) * ss;
      if (arg < 0.0) arg = -arg;
      const double w = arg < 1.0 ? 1.0 - arg : 0.0;
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<size_t>(xx - from) * c.taps + x] =
          v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.first[xx - from] = xmin;
    c.count[xx - from] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// Python's int(round(d / 2.0)) for d >= 0: halves round to even.
int half_rounded_to_even(int d) {
  int k = d / 2;
  if (d % 2 != 0 && k % 2 != 0) ++k;
  return k;
}

// torchvision's CenterCrop offset along one axis: where the crop starts in the scaled picture
// (negative: the picture is padded, centred with the odd pixel of padding after it).
int crop_offset(int scaled, int crop) {
  return crop > scaled ? -((crop - scaled) / 2) : half_rounded_to_even(scaled - crop);
}

}  // namespace

void resize_like_pil(const uint8_t* src, FrameSize from, FrameSize to, int x0, int x1, int y0,
                     int y1, uint8_t* out) {
  VIDSCORE_ASSERT(0 <= x0 && x0 <= x1 && x1 <= to.width && 0 <= y0 && y0 <= y1 &&
                  y1 <= to.height);
  const int ow = x1 - x0, oh = y1 - y0;
  if (ow == 0 || oh == 0) return;
  const bool horizontal = to.width != from.width, vertical = to.height != from.height;
  // The input rows the output rows need.
  Coefficients cv;
  int row_first = y0, row_last = y1;  // [first, last) of the input
  if (vertical) {
    cv = coefficients(from.height, to.height, y0, y1);
    row_first = cv.first[0];
    row_last = cv.first[y1 - 1 - y0] + cv.count[y1 - 1 - y0];
  }
  // Horizontal pass into `temp`: rows [row_first, row_last), output columns [x0, x1).
  const size_t in_stride = static_cast<size_t>(from.width) * 3;
  const size_t temp_stride = static_cast<size_t>(ow) * 3;
  std::vector<uint8_t> temp(static_cast<size_t>(row_last - row_first) * temp_stride);
  if (horizontal) {
    Coefficients ch = coefficients(from.width, to.width, x0, x1);
    for (int y = row_first; y < row_last; ++y) {
      const uint8_t* in = src + static_cast<size_t>(y) * in_stride;
      uint8_t* t = &temp[static_cast<size_t>(y - row_first) * temp_stride];
      for (int xx = x0; xx < x1; ++xx) {
        const int32_t* k = &ch.weights[static_cast<size_t>(xx - x0) * ch.taps];
        const uint8_t* p = in + static_cast<size_t>(ch.first[xx - x0]) * 3;
        int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < ch.count[xx - x0]; ++x, p += 3) {
          s0 += p[0] * k[x];
          s1 += p[1] * k[x];
          s2 += p[2] * k[x];
        }
        uint8_t* o = t + static_cast<size_t>(xx - x0) * 3;
        o[0] = clip8(s0);
        o[1] = clip8(s1);
        o[2] = clip8(s2);
      }
    }
  } else {
    for (int y = row_first; y < row_last; ++y)
      std::memcpy(&temp[static_cast<size_t>(y - row_first) * temp_stride],
                  src + static_cast<size_t>(y) * in_stride + static_cast<size_t>(x0) * 3,
                  temp_stride);
  }
  if (!vertical) {
    std::memcpy(out, temp.data(), temp.size());
    return;
  }
  for (int yy = y0; yy < y1; ++yy) {
    const int32_t* k = &cv.weights[static_cast<size_t>(yy - y0) * cv.taps];
    const uint8_t* base = &temp[static_cast<size_t>(cv.first[yy - y0] - row_first) * temp_stride];
    uint8_t* o = out + static_cast<size_t>(yy - y0) * temp_stride;
    for (size_t i = 0; i < temp_stride; ++i) {
      int32_t s = 1 << (kPrecisionBits - 1);
      const uint8_t* p = base + i;
      for (int y = 0; y < cv.count[yy - y0]; ++y, p += temp_stride) s += *p * k[y];
      o[i] = clip8(s);
    }
  }
}

FrameSize scaled_size(FrameSize picture, const ImageInput& t) {
  const int w = picture.width, h = picture.height;
  if (t.resize == "stretch") return {t.width, t.height};
  if (t.resize == "letterbox") {
    const double r = std::min(static_cast<double>(t.width) / w, static_cast<double>(t.height) / h);
    return {std::clamp(static_cast<int>(std::lround(w * r)), 1, t.width),
            std::clamp(static_cast<int>(std::lround(h * r)), 1, t.height)};
  }
  // torchvision's Resize(int): the shorter side becomes shorter_side, the longer one
  // int(shorter_side * long / short).
  const int s = t.shorter_side;
  const double longer = static_cast<double>(s) * std::max(w, h) / std::min(w, h);
  if (longer > kMaxScaledSide)
    throw RuntimeError(std::to_string(w) + "x" + std::to_string(h) + " is too thin: its longer "
                       "side would be scaled to " + std::to_string(static_cast<int64_t>(longer)) +
                       " pixels");
  if (w <= h) return {s, static_cast<int>(longer)};
  return {static_cast<int>(longer), s};
}

void transform_image(const uint8_t* rgb, FrameSize size, const ImageInput& t, uint8_t* out) {
  const FrameSize scaled = scaled_size(size, t);
  // Where the output's pixel (0, 0) lies in the scaled picture; outside it: padding.
  int left = 0, top = 0;
  uint8_t pad = 0;
  if (t.resize == "center_crop") {
    left = crop_offset(scaled.width, t.width);
    top = crop_offset(scaled.height, t.height);
  } else if (t.resize == "letterbox") {
    pad = static_cast<uint8_t>(t.pad_value);
  }
  const int x0 = std::max(0, left), x1 = std::min(scaled.width, left + t.width);
  const int y0 = std::max(0, top), y1 = std::min(scaled.height, top + t.height);
  const size_t out_stride = static_cast<size_t>(t.width) * 3;
  const bool covered = x0 == left && y0 == top && x1 - x0 == t.width && y1 - y0 == t.height;
  if (covered) {
    resize_like_pil(rgb, size, scaled, x0, x1, y0, y1, out);
    return;
  }
  std::memset(out, pad, out_stride * t.height);
  if (x1 <= x0 || y1 <= y0) return;
  std::vector<uint8_t> part(static_cast<size_t>(x1 - x0) * (y1 - y0) * 3);
  resize_like_pil(rgb, size, scaled, x0, x1, y0, y1, part.data());
  for (int y = y0; y < y1; ++y)
    std::memcpy(out + static_cast<size_t>(y - top) * out_stride + static_cast<size_t>(x0 - left) * 3,
                &part[static_cast<size_t>(y - y0) * (x1 - x0) * 3], static_cast<size_t>(x1 - x0) * 3);
}

}  // namespace vidscore
