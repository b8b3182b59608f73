#include "vidscore/render/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace vidscore {

namespace {

// ---- Font -----------------------------------------------------------------------------------

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 7;
constexpr int kGlyphAdvance = kGlyphWidth + 1;  // one blank column between glyphs
constexpr char kFirstGlyph = ' ';
constexpr char kLastGlyph = '~';

// Classic 5x7 glyphs for ASCII 32..126, one byte per row from the top; bit 4 is the leftmost
// column. Lower-case descenders are folded into the 7 rows so every glyph fits the same cell.
constexpr uint8_t kFont[kLastGlyph - kFirstGlyph + 1][kGlyphHeight] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // space
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},  // !
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00},  // "
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},  // #
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04},  // $
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},  // %
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D},  // &
    {0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},  // '
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},  // (
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // )
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00},  // *
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},  // +
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08},  // ,
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},  // -
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C},  // .
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // /
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},  // 0
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 1
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},  // 2
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // 3
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},  // 4
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 5
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},  // 6
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 7
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},  // 8
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 9
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00},  // :
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08},  // ;
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},  // <
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},  // =
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},  // >
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},  // ?
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E},  // @
    {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11},  // A
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},  // B
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},  // C
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},  // D
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},  // E
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},  // F
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},  // G
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},  // H
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // I
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},  // J
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},  // K
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},  // L
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},  // M
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},  // N
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // O
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},  // P
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},  // Q
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},  // R
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},  // S
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // T
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // U
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},  // V
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},  // W
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},  // X
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04},  // Y
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},  // Z
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},  // [
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00},  // backslash
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},  // ]
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00},  // ^
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},  // _
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00},  // `
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F},  // a
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E},  // b
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E},  // c
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F},  // d
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E},  // e
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08},  // f
    {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // g
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},  // h
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E},  // i
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C},  // j
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},  // k
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // l
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11},  // m
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},  // n
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E},  // o
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10},  // p
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01},  // q
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},  // r
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E},  // s
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06},  // t
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D},  // u
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04},  // v
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A},  // w
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11},  // x
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // y
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F},  // z
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},  // {
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // |
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},  // }
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},  // ~
};

// Characters outside the font (control bytes, UTF-8) are drawn as '?', one cell per byte, so
// text_size() never disagrees with draw_text().
const uint8_t* glyph(char c) {
  if (c < kFirstGlyph || c > kLastGlyph) c = '?';
  return kFont[c - kFirstGlyph];
}

// ---- Pixels ---------------------------------------------------------------------------------

bool is_empty(const RgbView& image) {
  return image.data == nullptr || image.width <= 0 || image.height <= 0;
}

// Fills [x0, x1) x [y0, y1) clipped to the image. 64-bit so callers may pass coordinates far
// outside the frame (huge text scale, boxes beyond the edges) without overflow.
void fill_rect(RgbView image, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb color) {
  x0 = std::max<int64_t>(x0, 0);
  y0 = std::max<int64_t>(y0, 0);
  x1 = std::min<int64_t>(x1, image.width);
  y1 = std::min<int64_t>(y1, image.height);
  if (x0 >= x1 || y0 >= y1) return;
  for (int64_t y = y0; y < y1; ++y) {
    uint8_t* p = image.data + (static_cast<size_t>(y) * image.width + x0) * 3;
    for (int64_t x = x0; x < x1; ++x, p += 3) {
      p[0] = color[0];
      p[1] = color[1];
      p[2] = color[2];
    }
  }
}

// Blends `color` into every pixel whose mask byte is non-zero. The per-channel lookup table
// makes the rounding exact (round(p * (1 - alpha) + c * alpha)) at the cost of one lookup.
void blend_mask(RgbView image, const std::vector<uint8_t>& mask, Rgb color, float alpha) {
  uint8_t lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 256; ++p)
      lut[c][p] = static_cast<uint8_t>(std::lround(p * (1.0 - alpha) + color[c] * alpha));
  uint8_t* p = image.data;
  for (uint8_t m : mask) {
    if (m != 0) {
      p[0] = lut[0][p[0]];
      p[1] = lut[1][p[1]];
      p[2] = lut[2][p[2]];
    }
    p += 3;
  }
}

// ---- Detections -----------------------------------------------------------------------------

// A box in whole pixels: columns [left, right), rows [top, bottom).
struct PixelBox {
  int left = 0, top = 0, right = 0, bottom = 0;
};

// Rounds a box coordinate to a pixel edge. Clamping to `margin` pixels beyond [0, limit] keeps
// lround() in range for any float, and since margin exceeds the line width, an edge clamped
// there still draws its band wholly outside the frame, as the unclamped edge would have.
int to_pixel_edge(float v, int limit, int margin) {
  double c = std::min(std::max(static_cast<double>(v), -static_cast<double>(margin)),
                      static_cast<double>(limit) + margin);
  return static_cast<int>(std::lround(c));
}

// The detection's box in pixels, corners put in order; false when no pixel of it lies inside
// the frame (such a detection gets no outline and no label).
bool visible_box(const Detection& d, int width, int height, int margin, PixelBox* box) {
  if (std::isnan(d.x1) || std::isnan(d.y1) || std::isnan(d.x2) || std::isnan(d.y2)) return false;
  box->left = to_pixel_edge(std::min(d.x1, d.x2), width, margin);
  box->right = to_pixel_edge(std::max(d.x1, d.x2), width, margin);
  box->top = to_pixel_edge(std::min(d.y1, d.y2), height, margin);
  box->bottom = to_pixel_edge(std::max(d.y1, d.y2), height, margin);
  return box->left < box->right && box->top < box->bottom && box->left < width && box->right > 0 &&
         box->top < height && box->bottom > 0;
}

std::string label_text(const Detection& d, const std::vector<std::string>& class_names) {
  std::string name = d.class_id >= 0 && static_cast<size_t>(d.class_id) < class_names.size()
                         ? class_names[d.class_id]
                         : std::to_string(d.class_id);
  char score[64];  // enough for any float in %.2f (FLT_MAX has 39 digits)
  std::snprintf(score, sizeof(score), "%.2f", d.score);
  return name + " " + score;
}

// Black on light colours, white on dark ones (Rec. 601 luma).
Rgb text_color_on(Rgb background) {
  double luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luma >= 128 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
}

void draw_label(RgbView image, const PixelBox& box, const std::string& text, int scale, Rgb color) {
  const int pad = scale;  // one font pixel of background around the text
  std::array<int, 2> size = text_size(text, scale);
  int64_t w = size[0] + 2 * pad;
  int64_t h = size[1] + 2 * pad;
  // Left-aligned with the box, shifted to stay inside the frame (a label wider than the frame
  // starts at its left edge and is clipped on the right).
  int64_t x = std::max<int64_t>(0, std::min<int64_t>(box.left, image.width - w));
  // Above the box when it fits, else inside its top edge, kept on screen either way.
  int64_t y = box.top - h >= 0 ? box.top - h : std::max(box.top, 0);
  y = std::max<int64_t>(0, std::min<int64_t>(y, image.height - h));
  fill_rect(image, x, y, x + w, y + h, color);
  draw_text(image, static_cast<int>(x + pad), static_cast<int>(y + pad), text, scale,
            text_color_on(color));
}

}  // namespace

Rgb class_color(int class_id) {
  // 20 colours picked by farthest-point sampling in CIELAB among saturated HSV colours with
  // lightness L* >= 55, so each reads on dark video and any two differ by dE76 >= 29. Ids
  // wrap around; the table is fixed so colours stay the same across runs and versions.
  static constexpr Rgb kPalette[] = {
      {255, 56, 56},   {0, 255, 0},     {0, 204, 255},  {226, 38, 255},  {255, 212, 38},
      {102, 204, 129}, {204, 102, 163}, {77, 124, 255}, {204, 143, 102}, {196, 255, 77},
      {255, 136, 0},   {255, 0, 170},   {77, 255, 243}, {221, 128, 255}, {102, 136, 204},
      {38, 255, 125},  {197, 204, 102}, {255, 77, 124}, {204, 146, 31},  {204, 102, 109},
  };
  constexpr int kCount = sizeof(kPalette) / sizeof(kPalette[0]);
  int i = class_id % kCount;  // negative ids wrap too
  return kPalette[i < 0 ? i + kCount : i];
}

void draw_detections(RgbView image, const std::vector<Detection>& detections,
                     const std::vector<std::string>& class_names, float mask_alpha) {
  if (is_empty(image)) return;
  const size_t pixels = static_cast<size_t>(image.width) * image.height;
  // Check every mask before touching a pixel, so a bad one leaves the frame unchanged.
  for (size_t i = 0; i < detections.size(); ++i) {
    size_t n = detections[i].mask.size();
    if (n != 0 && n != pixels)
      throw std::invalid_argument("draw_detections: detection " + std::to_string(i) + " has a " +
                                  std::to_string(n) + "-byte mask, expected " +
                                  std::to_string(image.width) + "x" + std::to_string(image.height) +
                                  " = " + std::to_string(pixels));
  }
  // One scale step per 360 rows: 1 at 360p and 480p, 2 at 720p, 3 at 1080p.
  const int scale = std::max(1, static_cast<int>(std::lround(image.height / 360.0)));
  const int thickness = 2 * scale;

  // Masks first, then outlines, then labels, so no fill or line covers any label.
  if (mask_alpha > 0) {  // also skips NaN
    float alpha = std::min(mask_alpha, 1.0f);
    for (const Detection& d : detections)
      if (!d.mask.empty()) blend_mask(image, d.mask, class_color(d.class_id), alpha);
  }
  std::vector<PixelBox> boxes(detections.size());
  std::vector<bool> visible(detections.size());
  for (size_t i = 0; i < detections.size(); ++i) {
    visible[i] = visible_box(detections[i], image.width, image.height, thickness + 1, &boxes[i]);
    if (!visible[i]) continue;
    const PixelBox& b = boxes[i];
    Rgb color = class_color(detections[i].class_id);
    // The outline lies inside the box, so a box touching the frame edge keeps all its lines.
    fill_rect(image, b.left, b.top, b.right, std::min(b.top + thickness, b.bottom), color);
    fill_rect(image, b.left, std::max(b.bottom - thickness, b.top), b.right, b.bottom, color);
    fill_rect(image, b.left, b.top, std::min(b.left + thickness, b.right), b.bottom, color);
    fill_rect(image, std::max(b.right - thickness, b.left), b.top, b.right, b.bottom, color);
  }
  for (size_t i = 0; i < detections.size(); ++i)
    if (visible[i])
      draw_label(image, boxes[i], label_text(detections[i], class_names), scale,
                 class_color(detections[i].class_id));
}

void draw_text(RgbView image, int x, int y, const std::string& text, int scale, Rgb color) {
  if (is_empty(image) || scale <= 0) return;
  const int64_t s = scale;
  for (size_t i = 0; i < text.size(); ++i) {
    const int64_t gx = x + static_cast<int64_t>(i) * kGlyphAdvance * s;
    if (gx >= image.width) break;             // this and later glyphs are right of the frame
    if (gx + kGlyphWidth * s <= 0) continue;  // left of the frame
    const uint8_t* rows = glyph(text[i]);
    for (int r = 0; r < kGlyphHeight; ++r)
      for (int c = 0; c < kGlyphWidth; ++c)
        if (rows[r] & (0x10 >> c))
          fill_rect(image, gx + c * s, y + r * s, gx + (c + 1) * s, y + (r + 1) * s, color);
  }
}

std::array<int, 2> text_size(const std::string& text, int scale) {
  if (text.empty() || scale <= 0) return {0, 0};
  return {static_cast<int>(text.size()) * kGlyphAdvance * scale - scale, kGlyphHeight * scale};
}

// ---- COCO RLE -------------------------------------------------------------------------------
//
// Follows pycocotools' common/maskApi.c: rleEncode, rleToString, rleFrString, rleDecode. The
// string form stores each count as a little-endian run of 5-bit groups, one character per group
// ('0' + group, 0x20 set while more groups follow, 0x10 of the last group the sign); from the
// fourth count on it stores the difference to the count two before (the previous run of the
// same value), which is small for smooth shapes.

namespace {

constexpr int kRleCharOffset = 48;  // '0'
constexpr int kRleMaxGroups = 12;   // 60 bits: more than any count of an int-sized mask needs

std::string rle_error(const std::string& what) {
  return "COCO RLE: " + what;
}

}  // namespace

CocoRle encode_rle(const uint8_t* mask, int width, int height) {
  if (width < 0 || height < 0)
    throw std::invalid_argument(
        rle_error("negative mask size " + std::to_string(width) + "x" + std::to_string(height)));
  if (mask == nullptr && width > 0 && height > 0)
    throw std::invalid_argument(
        rle_error("null mask of size " + std::to_string(width) + "x" + std::to_string(height)));
  // Runs over the column-major flattening, alternating 0s and 1s, starting with 0s (a mask
  // whose first pixel is set starts with an empty run).
  std::vector<int64_t> counts;
  bool value = false;
  int64_t run = 0;
  for (int x = 0; x < width; ++x) {
    for (int y = 0; y < height; ++y) {
      bool inside = mask[static_cast<size_t>(y) * width + x] != 0;
      if (inside != value) {
        counts.push_back(run);
        run = 0;
        value = inside;
      }
      ++run;
    }
  }
  counts.push_back(run);

  CocoRle rle;
  rle.height = height;
  rle.width = width;
  for (size_t i = 0; i < counts.size(); ++i) {
    int64_t v = counts[i];
    if (i > 2) v -= counts[i - 2];
    bool more = true;
    while (more) {
      int group = static_cast<int>(v & 0x1f);
      v >>= 5;  // arithmetic shift: negative deltas keep their sign
      more = (group & 0x10) ? v != -1 : v != 0;
      if (more) group |= 0x20;
      rle.counts.push_back(static_cast<char>(group + kRleCharOffset));
    }
  }
  return rle;
}

std::vector<uint8_t> decode_rle(const CocoRle& rle) {
  if (rle.height < 0 || rle.width < 0)
    throw std::invalid_argument(rle_error("negative size [" + std::to_string(rle.height) + ", " +
                                          std::to_string(rle.width) + "] (height, width)"));
  const int64_t area = static_cast<int64_t>(rle.height) * rle.width;
  const std::string& s = rle.counts;

  std::vector<int64_t> counts;
  int64_t total = 0;
  size_t p = 0;
  while (p < s.size()) {
    const size_t start = p;
    int64_t v = 0;
    int groups = 0;
    bool more = true;
    while (more) {
      if (p >= s.size())
        throw std::invalid_argument(
            rle_error("counts end inside a number starting at offset " + std::to_string(start)));
      int c = static_cast<unsigned char>(s[p]) - kRleCharOffset;
      if (c < 0 || c > 0x3f)
        throw std::invalid_argument(rle_error("invalid character '" + std::string(1, s[p]) +
                                              "' at offset " + std::to_string(p) +
                                              " of counts (expected '0'..'o')"));
      if (groups == kRleMaxGroups)
        throw std::invalid_argument(
            rle_error("number too long at offset " + std::to_string(start)));
      v |= static_cast<int64_t>(c & 0x1f) << (5 * groups);
      more = (c & 0x20) != 0;
      ++p;
      ++groups;
      if (!more && (c & 0x10)) v -= int64_t{1} << (5 * groups);  // sign-extend
    }
    if (counts.size() > 2) v += counts[counts.size() - 2];
    if (v < 0 || v > area - total)
      throw std::invalid_argument(
          rle_error("run " + std::to_string(counts.size()) + " (offset " + std::to_string(start) +
                    ") has length " + std::to_string(v) + ", which does not fit a mask of size [" +
                    std::to_string(rle.height) + ", " + std::to_string(rle.width) + "] after " +
                    std::to_string(total) + " pixels"));
    counts.push_back(v);
    total += v;
  }
  if (total != area)
    throw std::invalid_argument(rle_error("counts cover " + std::to_string(total) +
                                          " pixels but size [" + std::to_string(rle.height) + ", " +
                                          std::to_string(rle.width) + "] has " +
                                          std::to_string(area)));

  // Runs alternate 0s and 1s in column-major order; the output is row-major.
  std::vector<uint8_t> mask(static_cast<size_t>(area), 0);
  int64_t pos = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (i % 2 == 1) {
      for (int64_t k = pos; k < pos + counts[i]; ++k) {
        int64_t x = k / rle.height, y = k % rle.height;
        mask[static_cast<size_t>(y * rle.width + x)] = 1;
      }
    }
    pos += counts[i];
  }
  return mask;
}

}  // namespace vidscore
