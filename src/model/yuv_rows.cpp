#include "vidscore/model/yuv_rows.h"

#include <cstring>

// The float path spends its time in these loops. On x86-64 each is built twice, for the baseline
// (SSE2) and for AVX2, and the loader picks one for the CPU it runs on. This file is compiled
// with -ffp-contract=off, so both give the same bits (no fused multiply-add), and with
// -ffinite-math-only -fno-signed-zeros, so that the clamps to 0-255 become min/max instructions
// (GCC otherwise compares, blends and spills registers: 15-25% slower). For finite values the
// bytes are the same either way. NaN or infinity make the bytes unspecified: the luma loops
// notice them (by their bits) and the caller converts such rows again from a finite copy. No other code
// may share these flags: hence no torch here.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VIDSCORE_ROW_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define VIDSCORE_ROW_LOOP
#endif

namespace vidscore {
namespace {

inline float clamp255(float v) {
  v = v > 0.f ? v : 0.f;
  return v < 255.f ? v : 255.f;
}

// The bits of |v|: NaN and infinity are those from 0x7f800000 up. By the bits, as these flags
// would fold a floating-point test away.
inline uint32_t magnitude_bits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits & 0x7fffffffu;
}

template <bool kAdd>
inline __attribute__((always_inline)) int luma_row_impl(
    const float* __restrict red, const float* __restrict green, const float* __restrict blue,
    uint8_t* __restrict luma, float* __restrict r, float* __restrict g, float* __restrict b,
    int w, float yo, float wr, float wg, float wb) {
  // NaN or infinity in any of the three makes their sum NaN or infinite (as does a sum beyond
  // the float range, about 1e38, which the caller's finite copy then keeps as it is).
  uint32_t worst = 0;
  for (int x = 0; x < w; ++x) {
    const uint32_t m = magnitude_bits(red[x] + green[x] + blue[x]);
    worst = worst > m ? worst : m;
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
  return worst >= 0x7f800000u;
}

template <int kSpan>
inline __attribute__((always_inline)) void chroma_row_impl(
    const float* __restrict sr, const float* __restrict sg, const float* __restrict sb,
    uint8_t* __restrict cb, uint8_t* __restrict cr, int n, float scale, ChromaWeights k) {
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

}  // namespace

VIDSCORE_ROW_LOOP void blend_chroma_row(const uint8_t* __restrict a, const uint8_t* __restrict b,
                                        float* __restrict out, int n, float w0, float w1) {
  for (int j = 0; j < n; ++j)
    out[j + 1] = w0 * static_cast<float>(a[j]) + w1 * static_cast<float>(b[j]) - 128.f;
  out[0] = out[1];
  out[n + 1] = out[n];
}

VIDSCORE_ROW_LOOP void upsample_row(const float* __restrict padded, float* __restrict out, int w) {
  const int pairs = w / 2;
  for (int j = 0; j < pairs; ++j) {
    const float c = 0.75f * padded[j + 1];
    out[2 * j] = c + 0.25f * padded[j];
    out[2 * j + 1] = c + 0.25f * padded[j + 2];
  }
  if (w % 2) out[w - 1] = 0.75f * padded[pairs + 1] + 0.25f * padded[pairs];
}

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

VIDSCORE_ROW_LOOP int luma_row_first(const float* red, const float* green, const float* blue,
                                     uint8_t* luma, float* r, float* g, float* b, int w,
                                     float yo, float wr, float wg, float wb) {
  return luma_row_impl<false>(red, green, blue, luma, r, g, b, w, yo, wr, wg, wb);
}

VIDSCORE_ROW_LOOP int luma_row_add(const float* red, const float* green, const float* blue,
                                   uint8_t* luma, float* r, float* g, float* b, int w, float yo,
                                   float wr, float wg, float wb) {
  return luma_row_impl<true>(red, green, blue, luma, r, g, b, w, yo, wr, wg, wb);
}

VIDSCORE_ROW_LOOP void chroma_row_1(const float* sr, const float* sg, const float* sb,
                                    uint8_t* cb, uint8_t* cr, int n, float scale,
                                    ChromaWeights k) {
  chroma_row_impl<1>(sr, sg, sb, cb, cr, n, scale, k);
}

VIDSCORE_ROW_LOOP void chroma_row_2(const float* sr, const float* sg, const float* sb,
                                    uint8_t* cb, uint8_t* cr, int n, float scale,
                                    ChromaWeights k) {
  chroma_row_impl<2>(sr, sg, sb, cb, cr, n, scale, k);
}

}  // namespace vidscore
