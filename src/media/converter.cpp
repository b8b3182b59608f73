#include "vidscore/media/converter.h"

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

constexpr int kSwsFlags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP;

}  // namespace

AVColorSpace effective_color_space(AVColorSpace tagged, FrameSize size) {
  if (tagged != AVCOL_SPC_UNSPECIFIED && tagged != AVCOL_SPC_RESERVED) return tagged;
  return size.height >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_BT470BG;
}

void ToRgbConverter::convert(const AVFrame& src, uint8_t* rgb) {
  auto fmt = static_cast<AVPixelFormat>(src.format);
  if (!sws_ || src.width != src_w_ || src.height != src_h_ || src.format != src_fmt_ ||
      src.colorspace != src_space_ || src.color_range != src_range_) {
    bool full = is_full_range(src.color_range, fmt);
    sws_.reset(sws_getContext(src.width, src.height, unjpeg(fmt), out_.width, out_.height,
                              AV_PIX_FMT_RGB24, kSwsFlags, nullptr, nullptr, nullptr));
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
  uint8_t* dst[4] = {rgb, nullptr, nullptr, nullptr};
  int dst_stride[4] = {out_.width * 3, 0, 0, 0};
  sws_scale(sws_.get(), src.data, src.linesize, 0, src.height, dst, dst_stride);
}

FromRgbConverter::FromRgbConverter(FrameSize size, AVPixelFormat fmt, const ColorTags& tags)
    : size_(size) {
  sws_.reset(sws_getContext(size.width, size.height, AV_PIX_FMT_RGB24, size.width, size.height,
                            fmt, kSwsFlags, nullptr, nullptr, nullptr));
  if (!sws_) throw RuntimeError("cannot convert RGB frames to " +
                                std::string(av_get_pix_fmt_name(fmt)));
  AVColorSpace space = effective_color_space(tags.space, size);
  const int* coeffs = sws_getCoefficients(sws_matrix(space));
  sws_setColorspaceDetails(sws_.get(), coeffs, 1, coeffs, tags.range == AVCOL_RANGE_JPEG ? 1 : 0,
                           0, 1 << 16, 1 << 16);
}

void FromRgbConverter::convert(const uint8_t* rgb, AVFrame& dst) {
  const uint8_t* src[4] = {rgb, nullptr, nullptr, nullptr};
  int src_stride[4] = {size_.width * 3, 0, 0, 0};
  sws_scale(sws_.get(), src, src_stride, 0, size_.height, dst.data, dst.linesize);
}

}  // namespace vidscore
