#include "vidscore/ffmpeg_raii.h"

#include "vidscore/error.h"

namespace vidscore {

namespace detail {
void free_output_context(AVFormatContext* ctx) {
  if (ctx->pb && !(ctx->oformat->flags & AVFMT_NOFILE)) avio_closep(&ctx->pb);
  avformat_free_context(ctx);
}
}  // namespace detail

FramePtr make_frame() {
  FramePtr frame(av_frame_alloc());
  if (!frame) throw std::bad_alloc();
  return frame;
}

PacketPtr make_packet() {
  PacketPtr packet(av_packet_alloc());
  if (!packet) throw std::bad_alloc();
  return packet;
}

std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  if (av_strerror(code, buf, sizeof(buf)) < 0) return "FFmpeg error " + std::to_string(code);
  return buf;
}

int av_check(int code, const std::string& what) {
  if (code < 0) throw RuntimeError(what + ": " + av_error_text(code));
  return code;
}

}  // namespace vidscore
