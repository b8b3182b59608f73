// Decodes one image file held in memory (its compressed bytes, as they travel to a rank) into
// packed RGB24, the way PIL's Image.open(...).convert("RGB") followed by
// ImageOps.exif_transpose does, so scores match the usual Python pipelines: JPEG through
// libjpeg-turbo (the library PIL uses, with its defaults: accurate integer IDCT, fancy
// upsampling; CMYK converted with PIL's formula), every other format (PNG, WebP, BMP, TIFF, GIF,
// ...) through FFmpeg's image decoders (16-bit samples keep their high byte, alpha is dropped).
// JPEG EXIF orientation is applied. Throws RuntimeError with the reason for anything that is not
// a whole, decodable image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vidscore/frame.h"

namespace vidscore {

RgbImage decode_image(const uint8_t* data, size_t size);

// The EXIF orientation (1-8) in a JPEG's APP1 segment, 1 when there is none. Exposed for tests.
int exif_orientation(const uint8_t* app1, size_t size);

// Applies EXIF orientation `o` (2-8: mirror and/or rotate, as PIL's exif_transpose).
void apply_orientation(RgbImage& image, int o);

}  // namespace vidscore
