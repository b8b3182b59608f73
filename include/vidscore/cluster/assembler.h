// Rank 0's in-order end of the job: takes segment results from any thread (the local worker, the
// MPI thread) in any order, and on its own thread writes them in segment order: packets to the
// muxer (which joins them), detections to the JSON, progress. Holds out-of-order results until
// their turn; the scheduler's window bounds how many.
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
#include "vidscore/render/detections_writer.h"
#include "vidscore/segment.h"

namespace vidscore {

// What the ranks did, as the results reported it.
struct RankStats {
  int64_t frames = 0, segments = 0;
  double decode_s = 0, convert_s = 0, inference_s = 0, encode_s = 0;  // running totals
  double peak_rss_mib = 0;
};

class Assembler {
 public:
  // `muxer` and `detections` may be null (no video; not a detection task).
  Assembler(VideoMuxer* muxer, DetectionsWriter* detections, const VideoInfo& video,
            Progress& progress, int ranks);
  // Called on the assembler's thread after each segment is written. Set before run().
  void on_written(std::function<void()> fn) { written_ = std::move(fn); }

  void deliver(SegmentResult result);       // any thread
  void set_segment_count(int64_t segments);  // when planning is over
  void run();                                // its thread: until every segment is written
  void stop();                               // failure elsewhere: run() returns early

  int64_t frames_written() const { return frames_written_; }
  int64_t invalid_packets() const { return invalid_packets_; }
  int64_t repeated_pts() const { return repeated_pts_; }
  const std::vector<std::string>& notes() const { return notes_; }
  const std::vector<RankStats>& ranks() const { return ranks_; }

 private:
  VideoMuxer* muxer_;
  DetectionsWriter* detections_;
  double time_base_s_;
  Progress& progress_;
  std::function<void()> written_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, SegmentResult> waiting_;  // by segment index
  int64_t segment_count_ = -1;                // unknown until planning ends
  bool stopped_ = false;

  int64_t next_ = 0;  // assembler thread only, from here down
  int64_t frames_written_ = 0;
  int64_t invalid_packets_ = 0, repeated_pts_ = 0;
  std::vector<std::string> notes_;
  std::set<std::string> notes_seen_;
  std::vector<RankStats> ranks_;
};

}  // namespace vidscore
