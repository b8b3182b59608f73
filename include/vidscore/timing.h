// Wall-clock seconds for the per-stage figures of the summary and the benchmarks, and the
// text of a signed duration for notes.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace vidscore {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

inline double seconds_since(Clock::time_point t0) { return seconds_between(t0, Clock::now()); }

// "+2.000", "-0.040": a signed time in seconds for notes about timestamp jumps.
inline std::string signed_seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%+.3f", s);
  return buf;
}

}  // namespace vidscore
