// Drawing detections on RGB frames, and COCO run-length encoding of masks. Knows nothing of
// FFmpeg, MPI or torch. All functions are thread-safe (no shared state).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vidscore {

// One detected object, in frame pixels.
struct Detection {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // box corners, 0 <= x1 <= x2 <= width, same for y
  int class_id = 0;
  float score = 0;
  std::vector<uint8_t> mask;  // empty, or width*height bytes row-major, 1 inside the object
};

// A packed RGB24 image owned by someone else (rows without padding).
struct RgbView {
  uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
};

using Rgb = std::array<uint8_t, 3>;

// A stable, well-separated colour for a class id (the same id always gives the same colour).
Rgb class_color(int class_id);

// Draws each detection: its mask as a translucent fill (alpha 0..1) in the class colour, its
// box outline, and a filled label "name 0.87" above the box (inside when there is no room).
// Line width and text size scale with the frame height so labels read at 360p and at 1080p.
// class_names[class_id] names the class; ids outside the list print as the number.
// Boxes may lie partly or wholly outside the frame, corners in any order: they are clipped, and
// one with no pixel in the frame gets neither outline nor label. Throws std::invalid_argument,
// before drawing anything, when a non-empty mask is not width*height bytes.
void draw_detections(RgbView image, const std::vector<Detection>& detections,
                     const std::vector<std::string>& class_names, float mask_alpha = 0.45f);

// Text in the built-in 5x7 pixel font (printable ASCII), each font pixel drawn as a
// scale x scale square, top-left corner at (x, y), clipped to the image.
void draw_text(RgbView image, int x, int y, const std::string& text, int scale, Rgb color);
// Width and height in pixels of `text` at `scale`: {6 * n * scale - scale, 7 * scale} for n
// characters (5-pixel glyphs with a 1-pixel gap between them, none after the last); {0, 0} for
// empty text or scale < 1. Bytes outside printable ASCII draw as '?', one glyph each.
std::array<int, 2> text_size(const std::string& text, int scale);

// COCO run-length encoding (as pycocotools' encode): counts run over the mask in column-major
// order, starting with a run of zeros, compressed into pycocotools' ASCII string form.
struct CocoRle {
  int height = 0;
  int width = 0;
  std::string counts;
};
// `mask`: width*height bytes, row-major, non-zero = inside. Throws std::invalid_argument on
// negative sizes.
CocoRle encode_rle(const uint8_t* mask, int width, int height);
// Back to width*height bytes row-major, 0 or 1. Throws std::invalid_argument on bad input.
std::vector<uint8_t> decode_rle(const CocoRle& rle);

}  // namespace vidscore
