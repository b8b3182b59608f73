#include "vidscore/model/yuv_tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "vidscore/error.h"
#include "vidscore/model/yuv_rows.h"
#include "vidscore/row_pool.h"

namespace vidscore {
namespace {

// One matrix and range, both ways. RGB is 0-255; L = kr R + kg G + kb B.
struct Matrix {
  float kr, kg, kb;
  float y_offset;  // 16 (limited range) or 0
  float y_scale;   // Y - y_offset = y_scale * L: 219/255 or 1
  float c_scale;   // Cb - 128 = c_scale * (B - L) / (2 (1 - kb)): 224/255 or 1

  explicit Matrix(const YuvImage& img)
      : kr(img.kr),
        kg(1.f - img.kr - img.kb),
        kb(img.kb),
        y_offset(img.full_range ? 0.f : 16.f),
        y_scale(img.full_range ? 1.f : 219.f / 255.f),
        c_scale(img.full_range ? 1.f : 224.f / 255.f) {}
};

void check_rgb_tensor(const torch::Tensor& t, const YuvImage& img) {
  VIDSCORE_ASSERT(t.dim() == 3 && t.size(0) == 3 && t.size(1) == img.height &&
                  t.size(2) == img.width && t.scalar_type() == torch::kFloat &&
                  t.stride(2) == 1 && t.device().is_cpu());
}

}  // namespace

void yuv_to_rgb_tensor(const YuvImage& src, torch::Tensor out) {
  check_rgb_tensor(out, src);
  const Matrix m(src);
  const int w = src.width, h = src.height;
  const int sx = src.chroma_shift_x, sy = src.chroma_shift_y;
  const int cw = (w + (1 << sx) - 1) >> sx, ch = (h + (1 << sy) - 1) >> sy;
  const float ys = 1.f / m.y_scale, yo = m.y_offset;
  const float rv = 2.f * (1.f - m.kr) / m.c_scale, bu = 2.f * (1.f - m.kb) / m.c_scale;
  const float gu = -bu * m.kb / m.kg, gv = -rv * m.kr / m.kg;
  float* const base = out.data_ptr<float>();
  const int64_t plane = out.stride(0), row = out.stride(1);

  parallel_rows(h, 16, torch::get_num_threads(), [=](int64_t begin, int64_t end) {
    std::vector<float> cu(cw + 2), cv(cw + 2), u, v;
    if (sx) {
      u.resize(w);
      v.resize(w);
    }
    for (int64_t y = begin; y < end; ++y) {
      // Vertically: the chroma row at the centre of this luma row's pair, and its neighbour.
      int k = static_cast<int>(y >> sy), n = k;
      float w0 = 1.f, w1 = 0.f;
      if (sy) {
        n = (y & 1) ? std::min(k + 1, ch - 1) : std::max(k - 1, 0);
        w0 = 0.75f;
        w1 = 0.25f;
      }
      blend_chroma_row(src.plane[1] + static_cast<int64_t>(k) * src.stride[1],
                       src.plane[1] + static_cast<int64_t>(n) * src.stride[1], cu.data(), cw, w0,
                       w1);
      blend_chroma_row(src.plane[2] + static_cast<int64_t>(k) * src.stride[2],
                       src.plane[2] + static_cast<int64_t>(n) * src.stride[2], cv.data(), cw, w0,
                       w1);
      const float* uu = cu.data() + 1;
      const float* vv = cv.data() + 1;
      if (sx) {
        upsample_row(cu.data(), u.data(), w);
        upsample_row(cv.data(), v.data(), w);
        uu = u.data();
        vv = v.data();
      }
      float* red = base + y * row;
      rgb_row(src.plane[0] + y * src.stride[0], uu, vv, red, red + plane, red + 2 * plane, w, ys,
              yo, rv, gu, gv, bu);
    }
  });
}

int finite_row(const float* red, const float* green, const float* blue, int w,
               std::vector<float>& out) {
  out.resize(3 * static_cast<size_t>(w));
  int replaced = 0;
  const float* planes[3] = {red, green, blue};
  for (int p = 0; p < 3; ++p)
    for (int x = 0; x < w; ++x) {
      const float v = planes[p][x];
      const bool finite = std::isfinite(v);
      replaced += !finite;
      out[static_cast<size_t>(p) * w + x] = finite ? v : std::isnan(v) ? 0.f : (v > 0 ? 255.f : 0.f);
    }
  return replaced;
}

int64_t rgb_tensor_to_yuv(const torch::Tensor& rgb_in, YuvImage& dst) {
  torch::Tensor rgb = rgb_in.scalar_type() == torch::kFloat ? rgb_in : rgb_in.to(torch::kFloat);
  if (rgb.stride(2) != 1) rgb = rgb.contiguous();
  check_rgb_tensor(rgb, dst);
  const Matrix m(dst);
  const int w = dst.width, h = dst.height;
  const int sx = dst.chroma_shift_x, sy = dst.chroma_shift_y;
  const int cw = (w + (1 << sx) - 1) >> sx, ch = (h + (1 << sy) - 1) >> sy;
  const float ys = m.y_scale, yo = m.y_offset + 0.5f;  // + 0.5: rounded half up
  const float wr = ys * m.kr, wg = ys * m.kg, wb = ys * m.kb;
  const ChromaWeights cwt{m.kr, m.kg, m.kb, m.c_scale / (2.f * (1.f - m.kb)),
                          m.c_scale / (2.f * (1.f - m.kr))};
  const float* const base = rgb.data_ptr<float>();
  const int64_t plane = rgb.stride(0), row = rgb.stride(1);

  // Each task takes whole chroma rows, with the luma rows they cover.
  std::atomic<int64_t> nonfinite{0};
  parallel_rows(ch, 8, torch::get_num_threads(), [=, &dst, &nonfinite](int64_t begin, int64_t end) {
    // Clamped RGB summed over the luma rows a chroma row covers.
    std::vector<float> sr(w), sg(w), sb(w);
    std::vector<float> finite;  // a row's three planes made finite, when they are not
    for (int64_t k = begin; k < end; ++k) {
      const int64_t r0 = k << sy, r1 = std::min<int64_t>(r0 + (int64_t{1} << sy), h);
      // The luma rows, summing their RGB for the chroma row; again from finite copies of the
      // rows when a value was NaN or infinite (the sums hold garbage then too). Returns how many
      // values the copies replaced.
      auto luma_rows = [&](bool make_finite) {
        int replaced = 0, suspect = 0;
        for (int64_t y = r0; y < r1; ++y) {
          const float* red = base + y * row;
          const float* green = red + plane;
          const float* blue = red + 2 * plane;
          if (make_finite) {
            replaced += finite_row(red, green, blue, w, finite);
            red = finite.data();
            green = red + w;
            blue = red + 2 * w;
          }
          uint8_t* luma = dst.plane[0] + y * dst.stride[0];
          suspect |= y == r0 ? luma_row_first(red, green, blue, luma, sr.data(), sg.data(),
                                              sb.data(), w, yo, wr, wg, wb)
                             : luma_row_add(red, green, blue, luma, sr.data(), sg.data(),
                                            sb.data(), w, yo, wr, wg, wb);
        }
        return make_finite ? replaced : suspect;
      };
      if (luma_rows(false)) nonfinite += luma_rows(true);
      uint8_t* cb = dst.plane[1] + k * dst.stride[1];
      uint8_t* cr = dst.plane[2] + k * dst.stride[2];
      const float rows = static_cast<float>(r1 - r0);
      if (!sx) {
        chroma_row_1(sr.data(), sg.data(), sb.data(), cb, cr, cw, 1.f / rows, cwt);
      } else {
        // Whole pairs of columns, then a last lone column when the width is odd.
        chroma_row_2(sr.data(), sg.data(), sb.data(), cb, cr, w / 2, 1.f / (2.f * rows), cwt);
        if (w % 2)
          chroma_row_1(sr.data() + w - 1, sg.data() + w - 1, sb.data() + w - 1, cb + w / 2,
                       cr + w / 2, 1, 1.f / rows, cwt);
      }
    }
  });
  return nonfinite.load();
}

}  // namespace vidscore
