// Rank 0's scheduler: hands segments out dynamically and collects their results.
//
// With a work folder (resume), a segment an earlier run finished goes straight from the folder
// to the assembler, and every segment finished now is kept there as it comes back.
//
// Threads on rank 0: a planner thread pulls segments from the source (demux + segment planner,
// or decode for the frames transport); a local worker thread runs rank 0's own SegmentWorker; the
// assembler thread writes results in order; the calling thread, the only one that makes MPI
// calls, gives the next segment to whichever rank has free capacity (a rank holds at most
// `kCreditsPerRank` segments: one being processed, one waiting), so a slow rank gets fewer
// segments, and receives results. At most `window` segments exist at once (planned, in flight,
// or waiting for their turn to be written), whatever the video's length.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "vidscore/cluster/assembler.h"
#include "vidscore/cluster/mpi_env.h"
#include "vidscore/cluster/work_folder.h"
#include "vidscore/cluster/worker.h"
#include "vidscore/segment.h"

namespace vidscore {

constexpr int kCreditsPerRank = 2;

// Returns the next segment in order (input by input), or nothing at the end. Called on the
// planner thread.
using NextSegment = std::function<std::optional<SegmentWork>()>;

struct SchedulerStats {
  int64_t segments = 0;
  int64_t bytes_sent = 0, bytes_received = 0;  // over MPI, both ways
  double plan_s = 0;      // demux (and decode, frames transport) on the planner thread
  double transfer_s = 0;  // MPI calls on rank 0
  int peak_alive = 0;     // segments held at once
  int64_t reused = 0;     // read back from the work folder, not computed
};

class Scheduler {
 public:
  // `work_of(input)`: the input's work folder, which keeps each finished segment and gives back
  // those an earlier run kept (resume), or null.
  Scheduler(const MpiEnv& env, NextSegment source, RankWorker& local, Assembler& assembler,
            int window, std::function<WorkFolder*(int)> work_of = nullptr);
  // Runs the job to the end. Throws the first failure of any thread or rank (after stopping
  // rank 0's threads); workers are told to stop only on success (the caller aborts otherwise).
  void run();
  const SchedulerStats& stats() const { return stats_; }
  // Whether a segment a rank could not do ends the job (a single-video job, the default) or only
  // fails its input (an archive job: the assembler hands the error on with the input's totals).
  void end_job_on_segment_error(bool end) { end_on_segment_error_ = end; }
  // Whether a rank failed a segment of `input` (then its other segments need not be planned).
  // Any thread.
  bool input_failed(int input) const {
    std::lock_guard<std::mutex> lock(failed_mu_);
    return failed_inputs_.count(input) > 0;
  }

 private:
  struct InFlight {
    int32_t input;
    int64_t index;
    std::vector<uint8_t> bytes;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  void plan_loop();
  void local_loop();
  void dispatch_loop();
  bool poll_results();
  void send_to(int rank, SegmentWork work);
  void finished(SegmentResult res);  // a result from any rank: keep it, pass it on
  void segment_written();
  void fail(std::exception_ptr e);
  void shutdown();

  const MpiEnv& env_;
  NextSegment source_;
  RankWorker& local_;
  Assembler& assembler_;
  const int window_;
  std::function<WorkFolder*(int)> work_of_;
  bool end_on_segment_error_ = true;
  mutable std::mutex failed_mu_;
  std::set<int> failed_inputs_;

  std::mutex mu_;  // guards the fields below it
  std::condition_variable cv_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
  int alive_ = 0;
  bool planning_done_ = false;
  std::deque<SegmentWork> planned_;
  std::deque<SegmentWork> local_queue_;
  int local_busy_ = 0;  // segments given to the local worker and not yet delivered

  std::vector<std::deque<InFlight>> in_flight_;  // MPI thread only
  std::vector<int32_t> input_sent_;              // per rank: the input of its last segment
  int64_t next_rank_hint_ = 0;
  SchedulerStats stats_;
};

}  // namespace vidscore
