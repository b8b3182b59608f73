// Progress of a long job on stderr: a live bar on a terminal, plain periodic lines in batch
// logs (Slurm, Azure ML), nothing when off. Thread-safe: update() may come from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace vidscore {

class Progress {
 public:
  // mode: "auto", "bar", "lines", "off". total_frames: 0 when unknown (no percentage, no ETA).
  Progress(const std::string& mode, double interval_s, int64_t total_frames);
  void update(int64_t frames_done);
  // Shown before the frames ("videos 3/40"): archive jobs, whose total of frames is unknown.
  void set_label(const std::string& label);
  // What is counted, and its rate: "frames", "fps" (the default); "images", "img/s".
  void set_unit(const std::string& unit, const std::string& rate) {
    unit_ = unit;
    rate_ = rate;
  }
  // Ends the bar's line.
  void finish(int64_t frames_done);

 private:
  void print(int64_t frames_done, bool final);

  bool bar_ = false, off_ = false;
  double interval_s_;
  int64_t total_;
  std::string label_;
  std::string unit_ = "frames", rate_ = "fps";
  std::chrono::steady_clock::time_point start_, last_print_;
  std::mutex mu_;
};

// "1:02:03" or "2:03" for seconds.
std::string format_duration(double seconds);

}  // namespace vidscore
