// Image decoding and pre-processing against PIL and torchvision, byte for byte: the JPEG decoder
// (libjpeg-turbo, as PIL), EXIF orientation, CMYK and 16-bit files, and the resize / centre crop
// of torchvision's evaluation transform. The reference is tests/pil_reference.py run by
// Debian's /usr/bin/python3.
#include <algorithm>
#include <cstdio>
#include <tuple>
#include <fstream>
#include <iterator>

#include "vidscore/error.h"
#include "vidscore/media/image_decoder.h"
#include "vidscore/model/image_transform.h"
#include "support.h"
#include <catch2/catch.hpp>

using namespace vidscore;
using namespace vidscore::test;

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

RgbImage decode_file(const std::string& path) {
  std::vector<uint8_t> bytes = read_bytes(path);
  return decode_image(bytes.data(), bytes.size());
}

// PIL's result: pil_reference.py MODE IMAGE OUT ARGS.
RgbImage pil(const std::string& mode, const std::string& image, const std::string& args,
             const TempDir& dir) {
  const std::string out = dir.path("pil.rgb");
  CommandResult r = run("/usr/bin/python3 " + quote(std::string(VIDSCORE_SOURCE_DIR) +
                                                    "/tests/pil_reference.py") +
                        " " + mode + " " + quote(image) + " " + quote(out) + " " + args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::vector<uint8_t> bytes = read_bytes(out);
  RgbImage im;
  auto nl = std::find(bytes.begin(), bytes.end(), '\n');
  REQUIRE(nl != bytes.end());
  std::sscanf(std::string(bytes.begin(), nl).c_str(), "%d %d", &im.size.width, &im.size.height);
  im.pixels.assign(nl + 1, bytes.end());
  REQUIRE(im.pixels.size() == im.size.rgb_bytes());
  return im;
}

void python(const std::string& code) {
  CommandResult r = run("/usr/bin/python3 -c " + quote(code));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

int max_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  int d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(int(a[i]) - int(b[i])));
  return d;
}

const char* kPhoto = "/usr/share/doc/opencv-doc/examples/data/fruits.jpg";

}  // namespace

TEST_CASE("JPEGs decode as PIL decodes them, EXIF orientation 1-8 applied", "[images]") {
  TempDir dir;
  python(std::string("from PIL import Image\n"
                     "src = Image.open('") + kPhoto + "').convert('RGB').crop((10, 20, 310, 220))\n"
         "for o in range(1, 9):\n"
         "    ex = Image.Exif(); ex[0x0112] = o\n"
         "    src.save('" + dir.path("o") + "%d.jpg' % o, exif=ex.tobytes(), quality=90)\n"
         "src.convert('L').save('" + dir.path("grey.jpg") + "')\n"
         "src.convert('CMYK').save('" + dir.path("cmyk.jpg") + "', quality=92)\n"
         "src.save('" + dir.path("sub444.jpg") + "', subsampling=0)\n");
  std::vector<std::string> files;
  for (int o = 1; o <= 8; ++o) files.push_back(dir.path("o" + std::to_string(o) + ".jpg"));
  files.push_back(dir.path("grey.jpg"));
  files.push_back(dir.path("cmyk.jpg"));
  files.push_back(dir.path("sub444.jpg"));
  for (const auto& f : files) {
    INFO(f);
    RgbImage mine = decode_file(f);
    RgbImage ref = pil("decode", f, "", dir);
    CHECK(mine.size == ref.size);
    CHECK(max_difference(mine.pixels, ref.pixels) == 0);
  }
  // Turned by a quarter: width and height swap.
  CHECK(decode_file(dir.path("o6.jpg")).size == FrameSize{200, 300});
  CHECK(decode_file(dir.path("o1.jpg")).size == FrameSize{300, 200});
}

TEST_CASE("PNG, 16-bit PNG, palette, grey with alpha, BMP, TIFF and WebP decode", "[images]") {
  TempDir dir;
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 -pix_fmt rgb48be " + dir.path("deep.png"));
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 -pix_fmt rgba " + dir.path("alpha.png"));
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 -pix_fmt pal8 " + dir.path("pal.png"));
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 -pix_fmt ya8 " + dir.path("greya.png"));
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 " + dir.path("p.bmp"));
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 -pix_fmt rgb24 " + dir.path("p.tiff"));
  python("from PIL import Image\nImage.new('RGB', (1, 1), (200, 30, 40)).save('" +
         dir.path("one.png") + "')\n");
  // Lossless formats: exactly PIL's pixels.
  for (const char* name : {"deep.png", "alpha.png", "pal.png", "greya.png", "p.bmp", "p.tiff",
                           "one.png"}) {
    INFO(name);
    RgbImage mine = decode_file(dir.path(name));
    RgbImage ref = pil("decode", dir.path(name), "", dir);
    CHECK(mine.size == ref.size);
    CHECK(max_difference(mine.pixels, ref.pixels) == 0);
  }
  // Lossy WebP goes through FFmpeg's decoder, not libwebp's: close, not identical.
  ffmpeg(std::string("-i ") + kPhoto + " -vf scale=160:120 -c:v libwebp -quality 90 " +
         dir.path("p.webp"));
  RgbImage webp = decode_file(dir.path("p.webp"));
  RgbImage webp_ref = pil("decode", dir.path("p.webp"), "", dir);
  CHECK(webp.size == webp_ref.size);
  CHECK(psnr(webp.pixels, webp_ref.pixels) > 35);
}

TEST_CASE("damaged and foreign files are refused with their reason", "[images]") {
  TempDir dir;
  std::vector<uint8_t> photo = read_bytes(kPhoto);
  auto reason = [](const std::vector<uint8_t>& bytes) {
    try {
      decode_image(bytes.data(), bytes.size());
    } catch (const RuntimeError& e) {
      return std::string(e.what());
    }
    return std::string("decoded");
  };
  CHECK_THAT(reason({photo.begin(), photo.begin() + photo.size() / 2}),
             Catch::Contains("truncated JPEG: Premature end of JPEG file"));
  const std::string text = "this is not a picture\n";
  CHECK_THAT(reason({text.begin(), text.end()}), Catch::Contains("not an image FFmpeg can read"));
  CHECK(reason({}) == "empty file");
  ffmpeg(std::string("-i ") + kPhoto + " " + dir.path("p.png"));
  std::vector<uint8_t> png = read_bytes(dir.path("p.png"));
  CHECK_THAT(reason({png.begin(), png.begin() + png.size() / 2}), Catch::Contains("png"));
  std::vector<uint8_t> header_only(photo.begin(), photo.begin() + 200);
  CHECK_THAT(reason(header_only), Catch::Contains("JPEG"));
  // EXIF segments with offsets beyond their end (one wraps 32 bits) are ignored, not followed.
  const uint8_t wraps[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 0xFF, 0xFF, 0xFF, 0xFF};
  CHECK(exif_orientation(wraps, sizeof(wraps)) == 1);
  const uint8_t beyond[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 5};
  CHECK(exif_orientation(beyond, sizeof(beyond)) == 1);
  const uint8_t six[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                         1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0};
  CHECK(exif_orientation(six, sizeof(six)) == 6);
}

TEST_CASE("pre-processing equals torchvision's Resize + CenterCrop on PIL images", "[images]") {
  TempDir dir;
  // Photos cut to awkward sizes (odd, portrait, wide, smaller than the crop), saved lossless.
  const std::vector<FrameSize> sizes = {{640, 480}, {333, 500}, {1000, 257}, {100, 80},
                                        {224, 300}, {7, 3},     {256, 256},  {255, 1021}};
  for (const FrameSize s : sizes) {
    const std::string png = dir.path(std::to_string(s.width) + "x" + std::to_string(s.height) + ".png");
    ffmpeg(std::string("-i ") + kPhoto + " -vf scale=" + std::to_string(s.width) + ":" +
           std::to_string(s.height) + " " + png);
    RgbImage picture = decode_file(png);
    REQUIRE(picture.size == s);
    for (const auto& [mode, shorter, w, h] :
         std::vector<std::tuple<std::string, int, int, int>>{{"center_crop", 256, 224, 224},
                                                             {"center_crop", 240, 300, 200},
                                                             {"stretch", 0, 224, 224},
                                                             {"stretch", 0, 97, 131}}) {
      INFO(png << " " << mode << " " << shorter << " " << w << "x" << h);
      ImageInput t;
      t.resize = mode;
      t.shorter_side = shorter;
      t.width = w;
      t.height = h;
      std::vector<uint8_t> mine(FrameSize{w, h}.rgb_bytes());
      transform_image(picture.pixels.data(), picture.size, t, mine.data());
      const std::string args = mode == "center_crop" ? std::to_string(shorter) + " " +
                                                           std::to_string(w) + " " + std::to_string(h)
                                                     : std::to_string(w) + " " + std::to_string(h);
      RgbImage ref = pil(mode, png, args, dir);
      REQUIRE(ref.size == (FrameSize{w, h}));
      CHECK(max_difference(mine, ref.pixels) == 0);
    }
  }
}

TEST_CASE("letterbox keeps the aspect ratio and pads right and bottom", "[images]") {
  RgbImage picture;
  picture.size = {400, 100};
  picture.pixels.assign(picture.size.rgb_bytes(), 200);
  ImageInput t;
  t.resize = "letterbox";
  t.width = t.height = 200;
  t.pad_value = 7;
  REQUIRE(scaled_size(picture.size, t) == (FrameSize{200, 50}));
  std::vector<uint8_t> out(FrameSize{200, 200}.rgb_bytes());
  transform_image(picture.pixels.data(), picture.size, t, out.data());
  CHECK(out[0] == 200);                                 // top-left: picture
  CHECK(out[(49 * 200 + 199) * 3] == 200);              // last picture row
  CHECK(out[(50 * 200) * 3] == 7);                      // first padded row
  CHECK(out[(199 * 200 + 199) * 3 + 2] == 7);           // bottom-right: padding
}
