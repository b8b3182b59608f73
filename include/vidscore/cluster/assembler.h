// Rank 0's in-order end of the job: takes segment results from any thread (the local worker, the
// MPI thread) in any order, and on its own thread writes them in order (input by input, segment
// by segment): packets to the input's muxer (which joins them), per-frame results (detections,
// classes, embeddings; per image for image folders) to its results writer,
// progress; when an input's last segment is written it hands the input's totals on. Holds
// out-of-order results until their turn; the scheduler's window bounds how many.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "vidscore/media/video_muxer.h"
#include "vidscore/progress.h"
#include "vidscore/render/results_writer.h"
#include "vidscore/segment.h"

namespace vidscore {

// What the ranks did, as the results reported it.
struct RankStats {
  int64_t frames = 0, segments = 0;
  double decode_s = 0, convert_s = 0, inference_s = 0, encode_s = 0;  // running totals
  double peak_rss_mib = 0;
};

// Where one input's segments go, and what came back for it.
struct InputSinks {
  VideoMuxer* muxer = nullptr;            // null: no video written
  ResultsWriter* results = nullptr;       // null: no per-frame results (style)
  double time_base_s = 0;                 // of the input's video stream
};
struct InputTotals {
  int64_t frames = 0, segments = 0, reused = 0;
  int64_t invalid_packets = 0, repeated_pts = 0;
  std::vector<std::string> notes;  // from the ranks, each once
  std::string error;               // the first segment a rank could not do: the input failed
  // Image folders: the images that could not be scored (index in the job, reason).
  std::vector<std::pair<int64_t, std::string>> failed_items;
};

class Assembler {
 public:
  // `sinks(input)`: where input's segments go (asked before its first segment is written);
  // `finished(input, totals)`: called when its last segment is written (or at once for an input
  // with no segments, one that could not be opened). Both on the assembler's thread.
  Assembler(Progress& progress, int ranks, std::function<InputSinks(int)> sinks,
            std::function<void(int, InputTotals&)> finished);
  // Called on the assembler's thread after each segment is written. Set before run().
  void on_written(std::function<void()> fn) { written_ = std::move(fn); }
  // Whether an error writing an input's output (its muxer, its copied audio) ends the job (the
  // default: run() throws) or fails only that input (archive jobs: in its totals' error).
  void fail_input_on_write_error(bool input_only) { write_errors_fail_input_ = input_only; }

  void deliver(SegmentResult result);                // any thread
  void input_planned(int input, int64_t segments);   // the input's segment count is known
  void planning_done();                              // no input beyond those announced
  void run();                                        // its thread: until everything is written
  void stop();                                       // failure elsewhere: run() returns early

  int64_t frames_written() const { return frames_written_; }
  const std::vector<RankStats>& ranks() const { return ranks_; }

 private:
  bool finish_next_input();  // with the lock held: whether the next input ended
  // Writes the next segment to its input's outputs and counts it; throws what the outputs throw.
  void write(SegmentResult& seg);

  Progress& progress_;
  std::function<InputSinks(int)> sinks_;
  std::function<void(int, InputTotals&)> finished_;
  std::function<void()> written_;
  bool write_errors_fail_input_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<int, int64_t>, SegmentResult> waiting_;  // by (input, segment index)
  std::map<int, int64_t> planned_;  // segments per input, once known
  bool planning_done_ = false;
  bool stopped_ = false;

  int next_input_ = 0;  // assembler thread only, from here down
  int64_t next_index_ = 0;
  InputSinks sink_;
  bool sink_known_ = false;
  InputTotals totals_;  // of next_input_
  std::set<std::string> notes_seen_;
  int64_t frames_written_ = 0;
  std::vector<RankStats> ranks_;
};

}  // namespace vidscore
