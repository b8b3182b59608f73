// The float path's per-row loops (yuv_tensor.cpp drives them over a picture's rows). Plain
// pointers, no torch: this file's translation unit is compiled for speed with its own flags
// (CMakeLists.txt), which must not reach any other code.
#pragma once

#include <cstdint>

namespace vidscore {

// YUV -> RGB (values 0-255)

// A chroma row blended with its vertical neighbour (weights w0, w1), minus 128, written to
// out[1..n]; out[0] and out[n + 1] repeat the edges for the horizontal pass.
void blend_chroma_row(const uint8_t* a, const uint8_t* b, float* out, int n, float w0, float w1);

// Horizontal 2x upsampling of an edge-padded chroma row: luma sample 2j takes 3/4 of chroma j and
// 1/4 of j - 1, sample 2j + 1 takes 1/4 of j + 1. Writes w samples.
void upsample_row(const float* padded, float* out, int w);

// One row of RGB from luma and chroma already at full resolution (chroma minus 128), clamped.
void rgb_row(const uint8_t* luma, const float* u, const float* v, float* red, float* green,
             float* blue, int w, float ys, float yo, float rv, float gu, float gv, float bu);

// RGB -> YUV

// One row of luma from RGB (clamped to 0-255 first). The clamped RGB goes to r, g, b
// (luma_row_first: the first row of a chroma row) or is added to them (luma_row_add). Returns 1
// when a value of the row may be NaN or infinite (a broken model, or fp16 overflow): then what it
// wrote is unspecified, and the caller converts the row again from a finite copy.
int luma_row_first(const float* red, const float* green, const float* blue, uint8_t* luma,
                   float* r, float* g, float* b, int w, float yo, float wr, float wg, float wb);
int luma_row_add(const float* red, const float* green, const float* blue, uint8_t* luma,
                 float* r, float* g, float* b, int w, float yo, float wr, float wg, float wb);

// Chroma from RGB sums (each the sum of the rows a chroma row covers): sample j averages one
// (chroma_row_1) or two (chroma_row_2) summed columns starting at span * j. Writes n samples.
struct ChromaWeights {
  float kr, kg, kb, us, vs;
};
void chroma_row_1(const float* sr, const float* sg, const float* sb, uint8_t* cb, uint8_t* cr,
                  int n, float scale, ChromaWeights k);
void chroma_row_2(const float* sr, const float* sg, const float* sb, uint8_t* cb, uint8_t* cr,
                  int n, float scale, ChromaWeights k);

}  // namespace vidscore
