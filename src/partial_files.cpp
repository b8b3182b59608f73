#include "vidscore/partial_files.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace vidscore {
namespace {

constexpr int kSlots = 8;
constexpr size_t kPathBytes = 4096;
char g_paths[kSlots][kPathBytes];
std::atomic<bool> g_used[kSlots];

void on_signal(int sig) {
  // Async-signal-safe calls only.
  for (int i = 0; i < kSlots; ++i)
    if (g_used[i].load()) ::unlink(g_paths[i]);
  static const char msg[] = "vidscore: error: stopped by a signal (job cancelled, or another "
                            "rank failed); partial output removed\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
  ::_exit(128 + sig);
}

}  // namespace

void register_partial_file(const std::string& path) {
  if (path.size() >= kPathBytes) return;
  for (int i = 0; i < kSlots; ++i) {
    if (g_used[i].load()) continue;
    std::memcpy(g_paths[i], path.c_str(), path.size() + 1);
    g_used[i].store(true);
    return;
  }
}

void unregister_partial_file(const std::string& path) {
  for (int i = 0; i < kSlots; ++i)
    if (g_used[i].load() && path == g_paths[i]) g_used[i].store(false);
}

void install_termination_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
}

}  // namespace vidscore
