#include "vidscore/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace vidscore {

std::string format_duration(double seconds) {
  long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  return buf;
}

Progress::Progress(const std::string& mode, double interval_s, int64_t total_frames)
    : interval_s_(interval_s), total_(total_frames) {
  off_ = mode == "off";
  bar_ = mode == "bar" || (mode == "auto" && ::isatty(STDERR_FILENO));
  start_ = last_print_ = std::chrono::steady_clock::now();
}

void Progress::set_label(const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  label_ = label.empty() ? "" : label + ", ";
}

void Progress::update(int64_t frames_done) {
  if (off_) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if (since < (bar_ ? 0.2 : interval_s_)) return;
  last_print_ = now;
  print(frames_done, false);
}

void Progress::finish(int64_t frames_done) {
  if (off_) return;
  std::lock_guard<std::mutex> lock(mu_);
  print(frames_done, true);
}

void Progress::print(int64_t done, bool final) {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double fps = elapsed > 0 ? done / elapsed : 0;
  int64_t total = std::max(total_, done);
  std::string eta = (total_ > 0 && fps > 0 && !final) ? format_duration((total - done) / fps) : "";
  if (bar_) {
    constexpr int kWidth = 30;
    int filled = total_ > 0 ? static_cast<int>(kWidth * std::min(1.0, double(done) / total)) : 0;
    std::string bar(filled, '#');
    bar.resize(kWidth, total_ > 0 ? '.' : ' ');
    std::fprintf(stderr, "\r[%s] %s%lld/%s %s  %.1f %s  %s %s\033[K", bar.c_str(),
                 label_.c_str(),
                 static_cast<long long>(done),
                 total_ > 0 ? std::to_string(total).c_str() : "?", unit_.c_str(), fps, rate_.c_str(),
                 final ? "elapsed" : "ETA", final ? format_duration(elapsed).c_str() : eta.c_str());
    if (final) std::fputc('\n', stderr);
  } else {
    if (total_ > 0)
      std::fprintf(stderr, "vidscore: %lld/%lld %s (%.0f%%), %.1f %s, %s %s\n",
                   static_cast<long long>(done), static_cast<long long>(total), unit_.c_str(),
                   100.0 * done / total, fps, rate_.c_str(), final ? "elapsed" : "ETA",
                   final ? format_duration(elapsed).c_str() : eta.c_str());
    else
      std::fprintf(stderr, "vidscore: %s%lld %s, %.1f %s, elapsed %s\n", label_.c_str(),
                   static_cast<long long>(done), unit_.c_str(), fps, rate_.c_str(), format_duration(elapsed).c_str());
  }
  std::fflush(stderr);
}

}  // namespace vidscore
