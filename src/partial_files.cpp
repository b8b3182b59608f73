#include "vidscore/partial_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "vidscore/error.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;

// An archive job holds the outputs of every input with segments in flight (at most
// pipeline.window_segments + 1 inputs, two files each for detections with video). The paths are
// in static storage for the signal handler; untouched slots cost no memory.
constexpr int kSlots = 1024;
std::mutex g_slots_mutex;  // create and release (the planner and assembler threads)
constexpr size_t kPathBytes = 4096;
char g_paths[kSlots][kPathBytes];
int g_fds[kSlots];
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

std::string host_name() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0 || !host[0]) return "host";
  std::string h(host);
  // Only characters that are safe in a file name.
  for (char& c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) c = '_';
  return h;
}

std::string prefix_for(const std::string& final_path) { return final_path + ".partial-"; }

}  // namespace

std::string partial_path_for(const std::string& final_path) {
  return prefix_for(final_path) + host_name() + "-" + std::to_string(::getpid());
}

std::string create_partial_file(const std::string& final_path) {
  const std::string path = partial_path_for(final_path);
  if (path.size() >= kPathBytes) throw RuntimeError("output path too long: " + final_path);
  // The lock lives with this open file description (flock, not fcntl): closing other
  // descriptors of the same file (FFmpeg's own) does not drop it.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw RuntimeError("cannot write " + path + " (for " + final_path + "): " +
                       std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    // Some network file systems do not lock; the signal handler still covers SIGTERM.
  }
  std::lock_guard<std::mutex> lock(g_slots_mutex);
  for (int i = 0; i < kSlots; ++i) {
    if (g_used[i].load()) continue;
    std::memcpy(g_paths[i], path.c_str(), path.size() + 1);
    g_fds[i] = fd;
    g_used[i].store(true);
    return path;
  }
  ::close(fd);
  ::unlink(path.c_str());
  throw RuntimeError("more than " + std::to_string(kSlots) + " outputs open at once (" +
                     final_path + "); lower pipeline.window_segments");
}

void release_partial_file(const std::string& partial_path) {
  std::lock_guard<std::mutex> lock(g_slots_mutex);
  for (int i = 0; i < kSlots; ++i)
    if (g_used[i].load() && partial_path == g_paths[i]) {
      const int fd = g_fds[i];  // before the slot can be taken again
      g_used[i].store(false);
      ::close(fd);
    }
}

std::vector<std::string> remove_stale_partial_files(const std::string& final_path) {
  std::vector<std::string> removed;
  const fs::path target(final_path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".partial-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || !entry.is_regular_file(ec)) continue;
    const std::string path = entry.path().string();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile
    bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    int lock_errno = errno;
    if (free) ::unlink(path.c_str());  // while we hold the lock, so no writer can be starting
    ::close(fd);
    if (free)
      removed.push_back(path);
    else if (lock_errno == EWOULDBLOCK)
      throw RuntimeError("output " + final_path + " is being written by another running "
                         "vidscore (" + path + " is locked); wait for it or choose another "
                         "output");
  }
  return removed;
}

void install_termination_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
}

}  // namespace vidscore
