// Drawing (boxes, labels, masks, text) and COCO RLE: RLE strings checked against vectors derived
// by hand from pycocotools' maskApi.c, drawing checked pixel by pixel and against writes
// outside the frame buffer.
#include <climits>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "vidscore/render/render.h"

using namespace vidscore;

namespace {

constexpr Rgb kBlack{0, 0, 0};

// An RGB frame with guard bytes before and after it, to catch writes outside the buffer.
class GuardedImage {
 public:
  GuardedImage(int width, int height, Rgb fill = kBlack)
      : width_(width),
        height_(height),
        bytes_(2 * kGuard + static_cast<size_t>(width) * height * 3, kGuardByte) {
    for (size_t i = 0; i < static_cast<size_t>(width) * height; ++i)
      for (int c = 0; c < 3; ++c) bytes_[kGuard + i * 3 + c] = fill[c];
  }
  RgbView view() { return {bytes_.data() + kGuard, width_, height_}; }
  Rgb at(int x, int y) const {
    const uint8_t* p = bytes_.data() + kGuard + (static_cast<size_t>(y) * width_ + x) * 3;
    return {p[0], p[1], p[2]};
  }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (bytes_[i] != kGuardByte || bytes_[bytes_.size() - 1 - i] != kGuardByte) return false;
    return true;
  }
  // Pixels that are not `background`, counted inside and outside [x0, x1) x [y0, y1).
  std::array<int, 2> changed_inside_outside(int x0, int y0, int x1, int y1,
                                            Rgb background = kBlack) const {
    std::array<int, 2> n{0, 0};
    for (int y = 0; y < height_; ++y)
      for (int x = 0; x < width_; ++x)
        if (at(x, y) != background) ++n[x >= x0 && x < x1 && y >= y0 && y < y1 ? 0 : 1];
    return n;
  }

 private:
  static constexpr size_t kGuard = 4096;
  static constexpr uint8_t kGuardByte = 0xA5;
  int width_, height_;
  std::vector<uint8_t> bytes_;
};

Detection box(float x1, float y1, float x2, float y2, int class_id = 0, float score = 0.87f) {
  Detection d;
  d.x1 = x1;
  d.y1 = y1;
  d.x2 = x2;
  d.y2 = y2;
  d.class_id = class_id;
  d.score = score;
  return d;
}

// Row-major mask from rows of '#' (inside) and '.'.
std::vector<uint8_t> mask_from_rows(const std::vector<std::string>& rows) {
  std::vector<uint8_t> m;
  for (const std::string& r : rows)
    for (char c : r) m.push_back(c == '#' ? 1 : 0);
  return m;
}

std::vector<uint8_t> round_trip(const std::vector<uint8_t>& mask, int width, int height) {
  CocoRle rle = encode_rle(mask.data(), width, height);
  REQUIRE(rle.width == width);
  REQUIRE(rle.height == height);
  return decode_rle(rle);
}

// CIE 1976 colour difference of two sRGB colours (D65): about 2.3 is just noticeable.
double delta_e76(Rgb a, Rgb b) {
  auto lab = [](Rgb rgb) {
    double lin[3];
    for (int i = 0; i < 3; ++i) {
      double c = rgb[i] / 255.0;
      lin[i] = c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
    }
    double x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
    double y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    double z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883;
    auto f = [](double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116; };
    return std::array<double, 3>{116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))};
  };
  auto p = lab(a), q = lab(b);
  return std::hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}

std::string decode_error(int height, int width, const std::string& counts) {
  try {
    decode_rle({height, width, counts});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("COCO RLE strings match pycocotools", "[unit][render]") {
  // Each expected string is worked out by hand from maskApi.c (rleEncode + rleToString).
  SECTION("3x3 pattern: runs [3,2,2,1,1], the last two stored as deltas -1") {
    // Column-major: 0 0 0 | 1 1 0 | 0 1 0.
    auto mask = mask_from_rows({".#.",  //
                                ".##",  //
                                "..."});
    CocoRle rle = encode_rle(mask.data(), 3, 3);
    CHECK(rle.height == 3);
    CHECK(rle.width == 3);
    CHECK(rle.counts == "322OO");
    CHECK(decode_rle(rle) == mask);
  }
  SECTION("counts of 16 and more take two characters (bit 4 of a group is the sign)") {
    std::vector<uint8_t> empty(16, 0);
    CHECK(encode_rle(empty.data(), 4, 4).counts == "`0");  // [16]
    std::vector<uint8_t> full(100, 1);
    CHECK(encode_rle(full.data(), 10, 10).counts == "0T3");  // [0, 100]: 100 = 4 + 3*32
  }
  SECTION("a negative delta of two groups") {
    // 8 rows x 4 columns, all set but two pixels of the last column: runs [0, 25, 2, 5], the
    // last stored as 5 - 25 = -20.
    auto mask = mask_from_rows({"####", "###.", "###.", "####",  //
                                "####", "####", "####", "####"});
    CocoRle rle = encode_rle(mask.data(), 4, 8);
    CHECK(rle.counts == "0i02\\O");
    CHECK(decode_rle(rle) == mask);
  }
  SECTION("one pixel, and no pixels") {
    uint8_t on = 1, off = 0;
    CHECK(encode_rle(&on, 1, 1).counts == "01");
    CHECK(encode_rle(&off, 1, 1).counts == "1");
    CocoRle none = encode_rle(nullptr, 0, 0);
    CHECK(none.counts == "0");
    CHECK(decode_rle(none).empty());
  }
  SECTION("any non-zero byte is inside") {
    auto ones = mask_from_rows({".#.", "##.", "..#"});
    std::vector<uint8_t> bytes = ones;
    for (uint8_t& b : bytes) b *= 255;
    CHECK(encode_rle(bytes.data(), 3, 3).counts == encode_rle(ones.data(), 3, 3).counts);
    CHECK(round_trip(bytes, 3, 3) == ones);
  }
}

TEST_CASE("COCO RLE round trip", "[unit][render]") {
  SECTION("empty and full masks of odd sizes") {
    for (auto [w, h] :
         std::vector<std::pair<int, int>>{{1, 1}, {7, 5}, {5, 7}, {1, 9}, {9, 1}, {64, 48}}) {
      CAPTURE(w, h);
      std::vector<uint8_t> empty(static_cast<size_t>(w) * h, 0);
      std::vector<uint8_t> full(static_cast<size_t>(w) * h, 1);
      CHECK(round_trip(empty, w, h) == empty);
      CHECK(round_trip(full, w, h) == full);
    }
  }
  SECTION("a single pixel at each corner") {
    const int w = 7, h = 5;
    for (auto [x, y] :
         std::vector<std::pair<int, int>>{{0, 0}, {w - 1, 0}, {0, h - 1}, {w - 1, h - 1}}) {
      CAPTURE(x, y);
      std::vector<uint8_t> mask(w * h, 0);
      mask[y * w + x] = 1;
      CHECK(round_trip(mask, w, h) == mask);
      std::vector<uint8_t> hole(w * h, 1);
      hole[y * w + x] = 0;
      CHECK(round_trip(hole, w, h) == hole);
    }
  }
  SECTION("random blobs") {
    std::mt19937 rng(12345);
    for (auto [w, h] : std::vector<std::pair<int, int>>{{7, 5}, {33, 17}, {17, 33}, {160, 90}}) {
      for (int trial = 0; trial < 5; ++trial) {
        CAPTURE(w, h, trial);
        std::vector<uint8_t> mask(static_cast<size_t>(w) * h, 0);
        std::uniform_int_distribution<int> xs(0, w - 1), ys(0, h - 1), rs(0, std::max(w, h) / 3);
        for (int blob = 0; blob < 4; ++blob) {
          int cx = xs(rng), cy = ys(rng), r = rs(rng);
          for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
              if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) mask[y * w + x] = 1;
        }
        // Salt and pepper, for runs of length 1 and counts that differ a lot from two before.
        for (int i = 0; i < w * h / 20; ++i) mask[ys(rng) * w + xs(rng)] ^= 1;
        CHECK(round_trip(mask, w, h) == mask);
      }
    }
  }
  SECTION("long runs (counts of several groups, deltas of both signs)") {
    const int w = 1920, h = 1080;
    std::vector<uint8_t> mask(static_cast<size_t>(w) * h, 0);
    for (int y = 100; y < 900; ++y)
      for (int x = 200 + y / 3; x < 1700; ++x) mask[static_cast<size_t>(y) * w + x] = 1;
    CHECK(round_trip(mask, w, h) == mask);
  }
}

TEST_CASE("COCO RLE decode rejects bad input", "[unit][render]") {
  CHECK(decode_error(3, 3, "3") == "COCO RLE: counts cover 3 pixels but size [3, 3] has 9");
  CHECK(decode_error(2, 2, "") == "COCO RLE: counts cover 0 pixels but size [2, 2] has 4");
  CHECK(decode_error(3, 3, "37") ==
        "COCO RLE: run 1 (offset 1) has length 7, which does not fit a mask of size [3, 3] "
        "after 3 pixels");
  CHECK(decode_error(3, 3, "O") ==
        "COCO RLE: run 0 (offset 0) has length -1, which does not fit a mask of size [3, 3] "
        "after 0 pixels");
  CHECK(decode_error(3, 3, "~") ==
        "COCO RLE: invalid character '~' at offset 0 of counts (expected '0'..'o')");
  CHECK(decode_error(3, 3, "3 ") ==
        "COCO RLE: invalid character ' ' at offset 1 of counts (expected '0'..'o')");
  CHECK(decode_error(3, 3, "3i") == "COCO RLE: counts end inside a number starting at offset 1");
  CHECK(decode_error(3, 3, std::string(13, 'o') + "0") == "COCO RLE: number too long at offset 0");
  CHECK(decode_error(-1, 3, "") == "COCO RLE: negative size [-1, 3] (height, width)");
  CHECK(decode_error(0, 5, "") == "(no error)");
  CHECK_THROWS_AS(encode_rle(nullptr, -1, 2), std::invalid_argument);
}

TEST_CASE("class colours", "[unit][render]") {
  for (int id = 0; id < 20; ++id) {
    CAPTURE(id);
    Rgb c = class_color(id);
    CHECK(class_color(id) == c);
    CHECK(class_color(id + 20) == c);                         // the palette wraps
    CHECK(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] >= 90);  // readable on dark video
    for (int other = 0; other < id; ++other) {
      CAPTURE(other);
      CHECK(delta_e76(c, class_color(other)) >= 29);  // well apart to the eye
    }
  }
  CHECK(class_color(-1) == class_color(19));
  CHECK_NOTHROW(class_color(INT_MIN));
  CHECK_NOTHROW(class_color(INT_MAX));
}

TEST_CASE("draw_text and text_size", "[unit][render]") {
  SECTION("sizes: 6 pixels a glyph less the trailing gap, 7 high, times the scale") {
    CHECK(text_size("", 2) == std::array<int, 2>{0, 0});
    CHECK(text_size("A", 1) == std::array<int, 2>{5, 7});
    CHECK(text_size("ab", 3) == std::array<int, 2>{33, 21});
    CHECK(text_size("person 0.87", 1) == std::array<int, 2>{65, 7});
  }
  SECTION("pixels land inside the text rectangle only") {
    GuardedImage image(100, 40);
    const std::string text = "Hi 0.5 {|}~";
    draw_text(image.view(), 7, 5, text, 2, {255, 255, 255});
    auto size = text_size(text, 2);
    auto [inside, outside] = image.changed_inside_outside(7, 5, 7 + size[0], 5 + size[1]);
    CHECK(inside > 0);
    CHECK(outside == 0);
    CHECK(image.at(7, 5) == Rgb{255, 255, 255});  // 'H' starts with a full left column
    CHECK(image.at(8, 18) == Rgb{255, 255, 255});
    CHECK(image.at(9, 5) == kBlack);
  }
  SECTION("every printable character but space has pixels, each within its 5x7 cell") {
    for (char c = 32; c < 127; ++c) {
      CAPTURE(c);
      GuardedImage image(9, 11);
      draw_text(image.view(), 2, 2, std::string(1, c), 1, {255, 255, 255});
      auto [inside, outside] = image.changed_inside_outside(2, 2, 7, 9);
      CHECK(outside == 0);
      CHECK((inside == 0) == (c == ' '));
    }
  }
  SECTION("clipped at every edge, without writing outside the buffer") {
    GuardedImage image(20, 10);
    draw_text(image.view(), -4, -3, "-Clip", 2, {9, 9, 9});
    draw_text(image.view(), 15, 6, "WWW", 3, {9, 9, 9});
    draw_text(image.view(), INT_MIN, INT_MAX, "far", 1000, {9, 9, 9});
    draw_text(image.view(), INT_MAX, INT_MIN, "far", 1000, {9, 9, 9});
    draw_text(image.view(), 0, 0, "no scale", 0, {9, 9, 9});
    CHECK(image.guards_intact());
    // The dash (row 3 of the first glyph) spans x -4..5, y 3..4 at scale 2.
    CHECK(image.at(0, 3) == Rgb{9, 9, 9});
    CHECK(image.at(5, 4) == Rgb{9, 9, 9});
    CHECK(image.at(0, 2) == kBlack);
  }
  SECTION("empty images") {
    draw_text(RgbView{}, 0, 0, "x", 1, {1, 2, 3});
    uint8_t byte = 7;
    draw_text(RgbView{&byte, 0, 5}, 0, 0, "x", 1, {1, 2, 3});
    CHECK(byte == 7);
  }
}

TEST_CASE("draw_detections", "[unit][render]") {
  const std::vector<std::string> names = {"person", "bicycle", "car", "dog"};

  SECTION("a box colours exactly its 2-pixel outline; the label sits above it") {
    GuardedImage image(64, 48);  // 48 rows: scale 1, lines 2 pixels wide
    draw_detections(image.view(), {box(10, 20, 30, 40, 3)}, names);
    const Rgb color = class_color(3);
    // Label "dog 0.87": 47x7 text plus 1 pixel of padding all round, above the box.
    auto text = text_size("dog 0.87", 1);
    const int label_x0 = 10, label_y0 = 20 - (text[1] + 2);
    const int label_x1 = label_x0 + text[0] + 2, label_y1 = 20;
    int label_pixels = 0;
    for (int y = 0; y < 48; ++y) {
      for (int x = 0; x < 64; ++x) {
        CAPTURE(x, y);
        bool in_box = x >= 10 && x < 30 && y >= 20 && y < 40;
        bool on_outline = in_box && (x < 12 || x >= 28 || y < 22 || y >= 38);
        bool in_label = x >= label_x0 && x < label_x1 && y >= label_y0 && y < label_y1;
        if (on_outline) {
          CHECK(image.at(x, y) == color);
        } else if (in_label) {
          Rgb text_color = color[1] > 128 ? kBlack : Rgb{255, 255, 255};
          bool ok = image.at(x, y) == color || image.at(x, y) == text_color;
          CHECK(ok);
          label_pixels += image.at(x, y) == color;
        } else {
          CHECK(image.at(x, y) == kBlack);
        }
      }
    }
    CHECK(label_pixels > 0);
    CHECK(image.at(label_x0, label_y0) == color);          // padding
    CHECK(image.at(label_x1 - 1, label_y1 - 1) == color);  // padding
    CHECK(image.guards_intact());
  }

  SECTION("a box on the frame edges keeps all four lines") {
    GuardedImage image(64, 48);
    draw_detections(image.view(), {box(0, 0, 64, 48, 1)}, names);
    const Rgb color = class_color(1);
    CHECK(image.at(0, 30) == color);
    CHECK(image.at(1, 30) == color);
    CHECK(image.at(2, 30) == kBlack);
    CHECK(image.at(63, 30) == color);
    CHECK(image.at(62, 30) == color);
    CHECK(image.at(61, 30) == kBlack);
    CHECK(image.at(40, 47) == color);
    CHECK(image.at(40, 46) == color);
    CHECK(image.at(40, 45) == kBlack);
    CHECK(image.guards_intact());
  }

  SECTION("with no room above, the label goes inside the top of the box") {
    GuardedImage image(64, 48);
    draw_detections(image.view(), {box(4, 3, 60, 40, 0)}, names);
    const Rgb color = class_color(0);
    // Label rows 3..11 inside the box; its bottom padding row (11) would otherwise be black.
    CHECK(image.at(30, 11) == color);
    CHECK(image.at(30, 12) == kBlack);
    CHECK(image.at(30, 2) == kBlack);
  }

  SECTION("a label near the right edge shifts left to stay inside the frame") {
    GuardedImage image(64, 48);
    draw_detections(image.view(), {box(58, 20, 63, 40, 3)}, names);
    const int label_width = text_size("dog 0.87", 1)[0] + 2;
    CHECK(image.at(64 - label_width, 11) == class_color(3));
    CHECK(image.at(63, 11) == class_color(3));
    CHECK(image.at(63 - label_width, 11) == kBlack);
  }

  SECTION("unknown class ids print as numbers") {
    GuardedImage named(64, 48), numbered(64, 48);
    draw_detections(named.view(), {box(10, 20, 30, 40, 3)}, {"a", "b", "c", "3"});
    draw_detections(numbered.view(), {box(10, 20, 30, 40, 3)}, {});
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x) REQUIRE(named.at(x, y) == numbered.at(x, y));
  }

  SECTION("a mask blends its class colour into the masked pixels only") {
    const Rgb base{100, 50, 200};
    const int w = 8, h = 6;
    for (float alpha : {0.45f, 0.5f, 1.0f, 0.0f}) {
      CAPTURE(alpha);
      GuardedImage image(w, h, base);
      Detection d = box(0, 0, 0, 0, 2);  // zero-size box: no outline, no label
      d.mask.assign(w * h, 0);
      d.mask[3 * w + 2] = 1;
      d.mask[5 * w + 7] = 255;
      draw_detections(image.view(), {d}, names, alpha);
      const Rgb color = class_color(2);
      Rgb expected;
      for (int c = 0; c < 3; ++c)
        expected[c] = static_cast<uint8_t>(std::lround(base[c] * (1.0 - alpha) + color[c] * alpha));
      CHECK(image.at(2, 3) == expected);
      CHECK(image.at(7, 5) == expected);
      CHECK(image.at(3, 3) == base);
      CHECK(image.at(0, 0) == base);
    }
    GuardedImage image(w, h, base);
    Detection d = box(0, 0, 0, 0, 0);
    d.mask.assign(w * h, 1);
    draw_detections(image.view(), {d}, names, 0.5f);
    CHECK(image.at(2, 3) == Rgb{178, 53, 128});  // round((100, 50, 200) / 2 + (255, 56, 56) / 2)
  }

  SECTION("masks go under outlines") {
    GuardedImage image(64, 48);
    Detection d = box(10, 20, 30, 40, 1);
    d.mask.assign(64 * 48, 1);
    draw_detections(image.view(), {d}, names, 0.5f);
    CHECK(image.at(10, 30) == class_color(1));  // outline, not blended
    CHECK(image.at(20, 30) != kBlack);          // blended
    CHECK(image.at(20, 30) != class_color(1));
  }

  SECTION("a mask of the wrong size is refused before anything is drawn") {
    GuardedImage image(64, 48);
    Detection good = box(10, 20, 30, 40, 1);
    Detection bad = box(10, 20, 30, 40, 1);
    bad.mask.assign(10, 1);
    CHECK_THROWS_WITH(draw_detections(image.view(), {good, bad}, names),
                      "draw_detections: detection 1 has a 10-byte mask, expected 64x48 = 3072");
    CHECK(image.changed_inside_outside(0, 0, 0, 0)[1] == 0);
  }

  SECTION("text and lines scale with the frame height") {
    // The label's left padding column and the box's top line, measured at 360p and 1080p.
    auto measure = [&](int width, int height) {
      GuardedImage image(width, height);
      draw_detections(image.view(), {box(100, 200, 400, 300, 0)}, names);
      int label_rows = 0, line_rows = 0;
      for (int y = 0; y < 200; ++y) label_rows += image.at(100, y) != kBlack;
      for (int y = 200; y < 250; ++y) line_rows += image.at(250, y) != kBlack;
      return std::array<int, 2>{label_rows, line_rows};
    };
    auto small = measure(640, 360);
    auto large = measure(1920, 1080);
    CHECK(small == std::array<int, 2>{9, 2});   // 7 + 2 padding; 2-pixel lines
    CHECK(large == std::array<int, 2>{27, 6});  // everything 3x at 1080p
  }

  SECTION("boxes anywhere never write outside the frame") {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<Detection> detections = {
        box(-100, -100, -50, -50),
        box(-10, -10, 10, 10, 1),
        box(50, 40, 200, 300, 2),
        box(1e9f, 1e9f, 2e9f, 2e9f, 3),
        box(-1e30f, -1e30f, 1e30f, 1e30f),
        box(30, 30, 10, 10, 5),
        box(20, 20, 20, 20, 6),
        box(20.4f, 20.4f, 20.6f, 20.6f, 7),
        box(-inf, -inf, inf, inf, 8),
        box(inf, inf, -inf, -inf, 9),
        box(nan, 0, 10, 10, 10),
        box(60, 0, 64, 1, -5, 1e30f),
        box(0, 47, 1, 48, INT_MIN, -1),
        box(63.9f, 47.9f, 64.1f, 48.1f, INT_MAX),
    };
    for (auto [w, h] : std::vector<std::pair<int, int>>{
             {64, 48}, {1, 1}, {3, 2}, {10, 2000}, {2000, 4}, {640, 360}}) {
      CAPTURE(w, h);
      GuardedImage image(w, h);
      std::vector<Detection> with_masks = detections;
      for (size_t i = 0; i < with_masks.size(); i += 2)
        with_masks[i].mask.assign(static_cast<size_t>(w) * h, 1);
      draw_detections(image.view(), with_masks, names, 0.45f);
      CHECK(image.guards_intact());
    }
  }

  SECTION("empty images and empty lists") {
    draw_detections(RgbView{}, {box(0, 0, 10, 10)}, names);
    uint8_t byte = 7;
    draw_detections(RgbView{&byte, 5, 0}, {box(0, 0, 10, 10)}, names);
    CHECK(byte == 7);
    GuardedImage image(8, 8);
    draw_detections(image.view(), {}, names);
    CHECK(image.changed_inside_outside(0, 0, 0, 0)[1] == 0);
  }
}
