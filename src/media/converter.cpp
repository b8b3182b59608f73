#include "vidscore/media/converter.h"

#include <algorithm>
#include <tuple>
#include <utility>

extern "C" {
#include <libavutil/opt.h>
}

#include "vidscore/error.h"

namespace vidscore {
namespace {

// libswscale names matrices by SWS_CS_* constants, which are not AVColorSpace values.
int sws_matrix(AVColorSpace space) {
  switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return SWS_CS_ITU601;  // BT470BG, SMPTE170M
  }
}

bool is_full_range(AVColorRange range, AVPixelFormat fmt) {
  if (range == AVCOL_RANGE_JPEG) return true;
  // The deprecated yuvj* formats mean full range even when the tag is missing.
  return fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P ||
         fmt == AV_PIX_FMT_YUVJ440P;
}

AVPixelFormat unjpeg(AVPixelFormat fmt) {
  switch (fmt) {
    case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P;
    default: return fmt;
  }
}

constexpr int kExact = SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP;

// A scaler with `threads` slice threads (used by sws_scale_frame).
SwsContextPtr make_scaler(FrameSize from, AVPixelFormat from_fmt, FrameSize to,
                          AVPixelFormat to_fmt, int flags, int threads) {
  SwsContextPtr c(sws_alloc_context());
  if (!c) throw std::bad_alloc();
  av_opt_set_int(c.get(), "srcw", from.width, 0);
  av_opt_set_int(c.get(), "srch", from.height, 0);
  av_opt_set_int(c.get(), "src_format", from_fmt, 0);
  av_opt_set_int(c.get(), "dstw", to.width, 0);
  av_opt_set_int(c.get(), "dsth", to.height, 0);
  av_opt_set_int(c.get(), "dst_format", to_fmt, 0);
  av_opt_set_int(c.get(), "sws_flags", flags, 0);
  av_opt_set_int(c.get(), "threads", std::max(1, threads), 0);
  if (sws_init_context(c.get(), nullptr, nullptr) < 0) return nullptr;
  return c;
}

void no_free(void*, uint8_t*) {}

// An AVFrame over packed RGB24 memory it does not own (sws_scale_frame wants refcounted frames).
void wrap_rgb(AVFrame& f, const uint8_t* rgb, FrameSize size) {
  av_frame_unref(&f);
  const int bytes = static_cast<int>(size.rgb_bytes());
  f.buf[0] = av_buffer_create(const_cast<uint8_t*>(rgb), bytes, no_free, nullptr, 0);
  if (!f.buf[0]) throw std::bad_alloc();
  f.data[0] = const_cast<uint8_t*>(rgb);
  f.linesize[0] = size.width * 3;
  f.format = AV_PIX_FMT_RGB24;
  f.width = size.width;
  f.height = size.height;
}

// Luma weights (Kr, Kb) of the matrices FFmpeg knows, as swscale's tables have them.
std::pair<float, float> luma_weights(AVColorSpace space) {
  switch (space) {
    case AVCOL_SPC_BT709: return {0.2126f, 0.0722f};
    case AVCOL_SPC_FCC: return {0.30f, 0.11f};
    case AVCOL_SPC_SMPTE240M: return {0.212f, 0.087f};
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return {0.2627f, 0.0593f};
    default: return {0.299f, 0.114f};  // BT470BG, SMPTE170M
  }
}

YuvImage yuv_planes(const AVFrame& f, AVColorSpace space, bool full_range) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f.format));
  YuvImage img;
  for (int i = 0; i < 3; ++i) {
    img.plane[i] = f.data[i];
    img.stride[i] = f.linesize[i];
  }
  img.width = f.width;
  img.height = f.height;
  img.chroma_shift_x = d->log2_chroma_w;
  img.chroma_shift_y = d->log2_chroma_h;
  std::tie(img.kr, img.kb) = luma_weights(space);
  img.full_range = full_range;
  return img;
}

bool is_planar_yuv8(AVPixelFormat fmt) {
  switch (unjpeg(fmt)) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUV444P: return true;
    default: return false;
  }
}

}  // namespace

bool yuv_image_of(const AVFrame& f, FrameSize size, YuvImage* out) {
  const auto fmt = static_cast<AVPixelFormat>(f.format);
  if (!is_planar_yuv8(fmt) || f.width != size.width || f.height != size.height) return false;
  *out = yuv_planes(f, effective_color_space(f.colorspace, size),
                    is_full_range(f.color_range, fmt));
  return true;
}

YuvImage yuv_image_for(AVFrame& f, const ColorTags& tags) {
  VIDSCORE_ASSERT(is_planar_yuv8(static_cast<AVPixelFormat>(f.format)));
  return yuv_planes(f, effective_color_space(tags.space, {f.width, f.height}),
                    tags.range == AVCOL_RANGE_JPEG);
}

AVColorSpace effective_color_space(AVColorSpace tagged, FrameSize size) {
  if (tagged != AVCOL_SPC_UNSPECIFIED && tagged != AVCOL_SPC_RESERVED) return tagged;
  return size.height >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_BT470BG;
}

void ToRgbConverter::convert(const AVFrame& src, uint8_t* rgb) {
  auto fmt = static_cast<AVPixelFormat>(src.format);
  if (!sws_ || src.width != src_w_ || src.height != src_h_ || src.format != src_fmt_ ||
      src.colorspace != src_space_ || src.color_range != src_range_) {
    bool full = is_full_range(src.color_range, fmt);
    // Bilinear: chroma upsampling (and the downscale for a model's input size).
    sws_ = make_scaler({src.width, src.height}, unjpeg(fmt), out_, AV_PIX_FMT_RGB24,
                       SWS_BILINEAR | kExact, threads_);
    if (!sws_)
      throw RuntimeError(std::string("cannot convert ") +
                         (av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "?") +
                         " frames to RGB");
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(fmt);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
      AVColorSpace space = effective_color_space(src.colorspace, {src.width, src.height});
      const int* coeffs = sws_getCoefficients(sws_matrix(space));
      // Output RGB is always full range; only the source side carries the video's range.
      sws_setColorspaceDetails(sws_.get(), coeffs, full ? 1 : 0, coeffs, 1, 0, 1 << 16, 1 << 16);
    }
    src_w_ = src.width;
    src_h_ = src.height;
    src_fmt_ = src.format;
    src_space_ = src.colorspace;
    src_range_ = src.color_range;
  }
  if (!dst_) dst_ = make_frame();
  wrap_rgb(*dst_, rgb, out_);
  // The source as swscale sees it: its format without the deprecated yuvj flag.
  FramePtr in = make_frame();
  av_check(av_frame_ref(in.get(), &src), "frame");
  in->format = unjpeg(fmt);
  av_check(sws_scale_frame(sws_.get(), dst_.get(), in.get()), "converting a frame to RGB");
  av_frame_unref(dst_.get());
}

FromRgbConverter::FromRgbConverter(FrameSize size, AVPixelFormat fmt, const ColorTags& tags,
                                   int threads)
    : size_(size), src_(make_frame()) {
  sws_ = make_scaler(size, AV_PIX_FMT_RGB24, size, fmt, SWS_BICUBIC | kExact, threads);
  if (!sws_) throw RuntimeError("cannot convert RGB frames to " +
                                std::string(av_get_pix_fmt_name(fmt)));
  AVColorSpace space = effective_color_space(tags.space, size);
  const int* coeffs = sws_getCoefficients(sws_matrix(space));
  sws_setColorspaceDetails(sws_.get(), coeffs, 1, coeffs, tags.range == AVCOL_RANGE_JPEG ? 1 : 0,
                           0, 1 << 16, 1 << 16);
}

void FromRgbConverter::convert(const uint8_t* rgb, AVFrame& dst) {
  wrap_rgb(*src_, rgb, size_);
  av_check(sws_scale_frame(sws_.get(), &dst, src_.get()), "converting a frame from RGB");
  av_frame_unref(src_.get());
}

}  // namespace vidscore
