#include "vidscore/ffmpeg_raii.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

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

namespace {

std::mutex g_log_mu;
int g_print_level = AV_LOG_QUIET;
std::string g_last_error;  // FFmpeg's last error-level line, folded into the next error text

void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_WARNING && level > g_print_level) return;  // cheap exit for chatter
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &print_prefix);
  size_t n = std::strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (level <= AV_LOG_ERROR) g_last_error = line;
  if (level <= g_print_level) std::fprintf(stderr, "vidscore: ffmpeg: %s\n", line);
}

}  // namespace

void install_ffmpeg_log(int print_level) {
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_print_level = print_level;
  }
  av_log_set_level(std::max(print_level, AV_LOG_WARNING));
  av_log_set_callback(log_callback);
}

std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  std::string text = av_strerror(code, buf, sizeof(buf)) < 0
                         ? "FFmpeg error " + std::to_string(code)
                         : std::string(buf);
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (!g_last_error.empty()) {
    text += " (ffmpeg: " + g_last_error + ")";
    g_last_error.clear();
  }
  return text;
}

int av_check(int code, const std::string& what) {
  if (code < 0) throw RuntimeError(what + ": " + av_error_text(code));
  return code;
}

}  // namespace vidscore
