// Colour conversion between decoded/encoded YUV frames and packed RGB24, honouring the colour
// matrix (BT.601/709/2020) and range (limited/full) of the video. Not thread-safe: one converter
// per thread.
#pragma once

#include <cstdint>

#include "vidscore/ffmpeg_raii.h"
#include "vidscore/frame.h"

namespace vidscore {

struct ColorTags {
  AVColorSpace space = AVCOL_SPC_UNSPECIFIED;
  AVColorRange range = AVCOL_RANGE_UNSPECIFIED;
  AVColorPrimaries primaries = AVCOL_PRI_UNSPECIFIED;
  AVColorTransferCharacteristic transfer = AVCOL_TRC_UNSPECIFIED;
};

// The matrix FFmpeg uses for untagged video: BT.709 from 720 lines up, BT.601 below.
AVColorSpace effective_color_space(AVColorSpace tagged, FrameSize size);

// The view the float path works on: `f`'s planes when it is 8-bit planar YUV 4:2:0, 4:2:2 or
// 4:4:4 (yuvj* too) of `size`, with the matrix and range of its tags (untagged: as
// effective_color_space). False for anything else (10-bit, NV12, RGB, ...), which goes through
// swscale instead.
bool yuv_image_of(const AVFrame& f, FrameSize size, YuvImage* out);
// The same view of a frame about to be filled (the encoder's), with the matrix and range of `tags`.
YuvImage yuv_image_for(AVFrame& f, const ColorTags& tags);

// Any decoded frame -> RGB24 at `out` size (scaled when the source size differs). Chroma is
// interpolated bilinearly at full resolution with accurate rounding (swscale's fast path
// skips both and is off by up to 20 levels at colour edges); `threads` slices share the work.
class ToRgbConverter {
 public:
  explicit ToRgbConverter(FrameSize out, int threads = 1) : out_(out), threads_(threads) {}
  void convert(const AVFrame& src, uint8_t* rgb);

 private:
  FrameSize out_;
  int threads_;
  SwsContextPtr sws_;
  FramePtr dst_;
  int src_w_ = 0, src_h_ = 0, src_fmt_ = -1, src_space_ = -1, src_range_ = -1;
};

// RGB24 -> `fmt` frames of the same size, with the matrix and range of `tags` (bicubic chroma
// filtering, accurate rounding), in `threads` slices.
class FromRgbConverter {
 public:
  FromRgbConverter(FrameSize size, AVPixelFormat fmt, const ColorTags& tags, int threads = 1);
  // Writes into dst, whose buffers must already be allocated (av_frame_get_buffer).
  void convert(const uint8_t* rgb, AVFrame& dst);

 private:
  FrameSize size_;
  SwsContextPtr sws_;
  FramePtr src_;
};

}  // namespace vidscore
