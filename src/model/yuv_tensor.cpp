#include "vidscore/model/yuv_tensor.h"

#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>

#include "vidscore/error.h"

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

// Written as comparisons so that the vectoriser turns them into min/max instructions.
inline float clamp255(float v) {
  v = v > 0.f ? v : 0.f;
  return v < 255.f ? v : 255.f;
}

// One row of RGB from luma and chroma already at full resolution (chroma minus 128).
void rgb_row(const uint8_t* __restrict luma, const float* __restrict u, const float* __restrict v,
             float* __restrict red, float* __restrict green, float* __restrict blue, int w,
             float ys, float yo, float rv, float gu, float gv, float bu) {
  for (int x = 0; x < w; ++x) {
    const float l = ys * (static_cast<float>(luma[x]) - yo);
    red[x] = clamp255(l + rv * v[x]);
    green[x] = clamp255(l + gu * u[x] + gv * v[x]);
    blue[x] = clamp255(l + bu * u[x]);
  }
}

// One row of luma from RGB; the clamped RGB goes to r, g, b for the chroma.
void luma_row(const float* __restrict red, const float* __restrict green,
              const float* __restrict blue, uint8_t* __restrict luma, float* __restrict r,
              float* __restrict g, float* __restrict b, int w, float yo, float wr, float wg,
              float wb) {
  for (int x = 0; x < w; ++x) {
    r[x] = clamp255(red[x]);
    g[x] = clamp255(green[x]);
    b[x] = clamp255(blue[x]);
    luma[x] = static_cast<uint8_t>(static_cast<int>(yo + wr * r[x] + wg * g[x] + wb * b[x]));
  }
}

void add_row(float* __restrict sum, const float* __restrict row, int w) {
  for (int x = 0; x < w; ++x) sum[x] += row[x];
}

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

  at::parallel_for(0, h, 16, [=](int64_t begin, int64_t end) {
    std::vector<float> cu(cw), cv(cw), u(w), v(w);
    for (int64_t y = begin; y < end; ++y) {
      // Vertically: the chroma row at the centre of this luma row's pair, and its neighbour.
      int k = static_cast<int>(y >> sy), n = k;
      float w0 = 1.f, w1 = 0.f;
      if (sy) {
        n = (y & 1) ? std::min(k + 1, ch - 1) : std::max(k - 1, 0);
        w0 = 0.75f;
        w1 = 0.25f;
      }
      const uint8_t* u0 = src.plane[1] + static_cast<int64_t>(k) * src.stride[1];
      const uint8_t* u1 = src.plane[1] + static_cast<int64_t>(n) * src.stride[1];
      const uint8_t* v0 = src.plane[2] + static_cast<int64_t>(k) * src.stride[2];
      const uint8_t* v1 = src.plane[2] + static_cast<int64_t>(n) * src.stride[2];
      for (int j = 0; j < cw; ++j) {
        cu[j] = w0 * u0[j] + w1 * u1[j] - 128.f;
        cv[j] = w0 * v0[j] + w1 * v1[j] - 128.f;
      }
      // Horizontally: luma sample 2j takes 3/4 of chroma j and 1/4 of j-1, 2j+1 of j+1.
      if (sx) {
        for (int j = 0; j < cw; ++j) {
          const int l = std::max(j - 1, 0), r = std::min(j + 1, cw - 1);
          u[2 * j] = 0.75f * cu[j] + 0.25f * cu[l];
          v[2 * j] = 0.75f * cv[j] + 0.25f * cv[l];
          if (2 * j + 1 < w) {
            u[2 * j + 1] = 0.75f * cu[j] + 0.25f * cu[r];
            v[2 * j + 1] = 0.75f * cv[j] + 0.25f * cv[r];
          }
        }
      } else {
        std::copy(cu.begin(), cu.end(), u.begin());
        std::copy(cv.begin(), cv.end(), v.begin());
      }
      float* red = base + y * row;
      rgb_row(src.plane[0] + y * src.stride[0], u.data(), v.data(), red, red + plane,
              red + 2 * plane, w, ys, yo, rv, gu, gv, bu);
    }
  });
}

void rgb_tensor_to_yuv(const torch::Tensor& rgb_in, YuvImage& dst) {
  torch::Tensor rgb = rgb_in.scalar_type() == torch::kFloat ? rgb_in : rgb_in.to(torch::kFloat);
  if (rgb.stride(2) != 1) rgb = rgb.contiguous();
  check_rgb_tensor(rgb, dst);
  const Matrix m(dst);
  const int w = dst.width, h = dst.height;
  const int sx = dst.chroma_shift_x, sy = dst.chroma_shift_y;
  const int cw = (w + (1 << sx) - 1) >> sx, ch = (h + (1 << sy) - 1) >> sy;
  const float kr = m.kr, kg = m.kg, kb = m.kb;
  const float ys = m.y_scale, yo = m.y_offset + 0.5f;  // + 0.5: rounded half up
  const float us = m.c_scale / (2.f * (1.f - kb)), vs = m.c_scale / (2.f * (1.f - kr));
  const float* const base = rgb.data_ptr<float>();
  const int64_t plane = rgb.stride(0), row = rgb.stride(1);

  // Each task takes whole chroma rows, with the luma rows they cover.
  at::parallel_for(0, ch, 8, [=, &dst](int64_t begin, int64_t end) {
    // Clamped RGB summed over the covered rows, and the next row's before it is added.
    std::vector<float> sr(w), sg(w), sb(w), next_r(w), next_g(w), next_b(w);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t r0 = k << sy, r1 = std::min<int64_t>(r0 + (int64_t{1} << sy), h);
      for (int64_t y = r0; y < r1; ++y) {
        const float* red = base + y * row;
        uint8_t* luma = dst.plane[0] + y * dst.stride[0];
        if (y == r0) {
          luma_row(red, red + plane, red + 2 * plane, luma, sr.data(), sg.data(), sb.data(), w,
                   yo, ys * kr, ys * kg, ys * kb);
        } else {
          luma_row(red, red + plane, red + 2 * plane, luma, next_r.data(), next_g.data(),
                   next_b.data(), w, yo, ys * kr, ys * kg, ys * kb);
          add_row(sr.data(), next_r.data(), w);
          add_row(sg.data(), next_g.data(), w);
          add_row(sb.data(), next_b.data(), w);
        }
      }
      uint8_t* cb = dst.plane[1] + k * dst.stride[1];
      uint8_t* cr = dst.plane[2] + k * dst.stride[2];
      const float rows = static_cast<float>(r1 - r0);
      for (int j = 0; j < cw; ++j) {
        const int x0 = j << sx, x1 = std::min(x0 + (1 << sx), w);
        float r = 0, g = 0, b = 0;
        for (int x = x0; x < x1; ++x) {
          r += sr[x];
          g += sg[x];
          b += sb[x];
        }
        const float scale = 1.f / (rows * static_cast<float>(x1 - x0));
        r *= scale;
        g *= scale;
        b *= scale;
        const float l = kr * r + kg * g + kb * b;
        cb[j] = static_cast<uint8_t>(static_cast<int>(clamp255(128.5f + us * (b - l))));
        cr[j] = static_cast<uint8_t>(static_cast<int>(clamp255(128.5f + vs * (r - l))));
      }
    }
  });
}

}  // namespace vidscore
