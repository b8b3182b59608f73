// Wall-clock seconds for the per-stage figures of the summary and the benchmarks.
#pragma once

#include <chrono>

namespace vidscore {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace vidscore
