#include "vidscore/model/yuv_tensor.h"

#include <algorithm>
#include <vector>

#include "vidscore/error.h"
#include "vidscore/row_pool.h"

// The row loops below are where the float path spends its time. On x86-64 each is built twice,
// for the baseline (SSE2) and for AVX2, and the loader picks one for the CPU it runs on. The
// file is compiled with -ffp-contract=off, so both give the same bits (no fused multiply-add).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VIDSCORE_ROW_LOOP __attribute__((target_clones("avx2", "default"), noinline))
#else
#define VIDSCORE_ROW_LOOP
#endif

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

// YUV -> RGB

// A chroma row blended with its vertical neighbour (weights w0, w1), minus 128, written to
// out[1..n]; out[0] and out[n + 1] repeat the edges for the horizontal pass.
VIDSCORE_ROW_LOOP void blend_chroma_row(const uint8_t* __restrict a, const uint8_t* __restrict b,
                                        float* __restrict out, int n, float w0, float w1) {
  for (int j = 0; j < n; ++j)
    out[j + 1] = w0 * static_cast<float>(a[j]) + w1 * static_cast<float>(b[j]) - 128.f;
  out[0] = out[1];
  out[n + 1] = out[n];
}

// Horizontal 2x upsampling of an edge-padded chroma row: luma sample 2j takes 3/4 of chroma j and
// 1/4 of j - 1, sample 2j + 1 takes 1/4 of j + 1. Writes w samples.
VIDSCORE_ROW_LOOP void upsample_row(const float* __restrict padded, float* __restrict out, int w) {
  const int pairs = w / 2;
  for (int j = 0; j < pairs; ++j) {
    const float c = 0.75f * padded[j + 1];
    out[2 * j] = c + 0.25f * padded[j];
    out[2 * j + 1] = c + 0.25f * padded[j + 2];
  }
  if (w % 2) out[w - 1] = 0.75f * padded[pairs + 1] + 0.25f * padded[pairs];
}

// One row of RGB from luma and chroma already at full resolution (chroma minus 128).
VIDSCORE_ROW_LOOP void rgb_row(const uint8_t* __restrict luma, const float* __restrict u,
                               const float* __restrict v, float* __restrict red,
                               float* __restrict green, float* __restrict blue, int w, float ys,
                               float yo, float rv, float gu, float gv, float bu) {
  for (int x = 0; x < w; ++x) {
    const float l = ys * (static_cast<float>(luma[x]) - yo);
    red[x] = clamp255(l + rv * v[x]);
    green[x] = clamp255(l + gu * u[x] + gv * v[x]);
    blue[x] = clamp255(l + bu * u[x]);
  }
}

// RGB -> YUV

// One row of luma from RGB. The clamped RGB goes to r, g, b (first row of a chroma row), or is
// added to them (the rows after it).
template <bool kAdd>
VIDSCORE_ROW_LOOP void luma_row(const float* __restrict red, const float* __restrict green,
                                const float* __restrict blue, uint8_t* __restrict luma,
                                float* __restrict r, float* __restrict g, float* __restrict b,
                                int w, float yo, float wr, float wg, float wb) {
  for (int x = 0; x < w; ++x) {
    const float cr = clamp255(red[x]), cg = clamp255(green[x]), cb = clamp255(blue[x]);
    luma[x] = static_cast<uint8_t>(static_cast<int>(yo + wr * cr + wg * cg + wb * cb));
    if (kAdd) {
      r[x] += cr;
      g[x] += cg;
      b[x] += cb;
    } else {
      r[x] = cr;
      g[x] = cg;
      b[x] = cb;
    }
  }
}

// Chroma from RGB sums: sample j averages `span` (1 or 2) summed columns starting at span * j,
// each already the sum of `rows` rows. Writes n samples.
struct ChromaWeights {
  float kr, kg, kb, us, vs;
};

template <int kSpan>
VIDSCORE_ROW_LOOP void chroma_row(const float* __restrict sr, const float* __restrict sg,
                                  const float* __restrict sb, uint8_t* __restrict cb,
                                  uint8_t* __restrict cr, int n, float scale, ChromaWeights k) {
  for (int j = 0; j < n; ++j) {
    float r = sr[kSpan * j], g = sg[kSpan * j], b = sb[kSpan * j];
    if (kSpan == 2) {
      r += sr[2 * j + 1];
      g += sg[2 * j + 1];
      b += sb[2 * j + 1];
    }
    r *= scale;
    g *= scale;
    b *= scale;
    const float l = k.kr * r + k.kg * g + k.kb * b;
    cb[j] = static_cast<uint8_t>(static_cast<int>(clamp255(128.5f + k.us * (b - l))));
    cr[j] = static_cast<uint8_t>(static_cast<int>(clamp255(128.5f + k.vs * (r - l))));
  }
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

void rgb_tensor_to_yuv(const torch::Tensor& rgb_in, YuvImage& dst) {
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
  parallel_rows(ch, 8, torch::get_num_threads(), [=, &dst](int64_t begin, int64_t end) {
    // Clamped RGB summed over the luma rows a chroma row covers.
    std::vector<float> sr(w), sg(w), sb(w);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t r0 = k << sy, r1 = std::min<int64_t>(r0 + (int64_t{1} << sy), h);
      for (int64_t y = r0; y < r1; ++y) {
        const float* red = base + y * row;
        uint8_t* luma = dst.plane[0] + y * dst.stride[0];
        if (y == r0)
          luma_row<false>(red, red + plane, red + 2 * plane, luma, sr.data(), sg.data(),
                          sb.data(), w, yo, wr, wg, wb);
        else
          luma_row<true>(red, red + plane, red + 2 * plane, luma, sr.data(), sg.data(),
                         sb.data(), w, yo, wr, wg, wb);
      }
      uint8_t* cb = dst.plane[1] + k * dst.stride[1];
      uint8_t* cr = dst.plane[2] + k * dst.stride[2];
      const float rows = static_cast<float>(r1 - r0);
      if (!sx) {
        chroma_row<1>(sr.data(), sg.data(), sb.data(), cb, cr, cw, 1.f / rows, cwt);
      } else {
        // Whole pairs of columns, then a last lone column when the width is odd.
        chroma_row<2>(sr.data(), sg.data(), sb.data(), cb, cr, w / 2, 1.f / (2.f * rows), cwt);
        if (w % 2)
          chroma_row<1>(sr.data() + w - 1, sg.data() + w - 1, sb.data() + w - 1, cb + w / 2,
                        cr + w / 2, 1, 1.f / rows, cwt);
      }
    }
  });
}

}  // namespace vidscore
