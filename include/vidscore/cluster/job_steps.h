// The steps every job takes on every rank, whether it scores videos (job.cpp) or an image folder
// (image_job.cpp): agreeing on errors before the work starts, broadcasting the job's set-up,
// loading the model and the rank's worker, and the summary lines after the work.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "vidscore/cluster/assembler.h"
#include "vidscore/cluster/mpi_env.h"
#include "vidscore/cluster/scheduler.h"
#include "vidscore/cluster/worker.h"
#include "vidscore/config.h"
#include "vidscore/error.h"
#include "vidscore/media/video_muxer.h"
#include "vidscore/model/task.h"

namespace vidscore {

constexpr int kMessageBytes = 1024;
// The "first input" broadcast to the ranks of an image-folder job: there is no video to set up.
constexpr int32_t kImageJob = -2;

// Whether a step succeeded on a rank, and if not, the exit code and message.
struct Status {
  int32_t code = 0;  // 0 ok, else the exit code
  char message[kMessageBytes] = {0};

  void set_error(int c, const std::string& text) {
    code = c;
    std::snprintf(message, sizeof(message), "%s", text.c_str());
  }
};

void print_error(const std::string& text);
void print_note(const std::string& text);

// Runs fn, turning what it throws into st's exit code (UsageError: 2, others: 1) and message.
template <typename Fn>
void capture_error(Status& st, Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    st.set_error(2, e.what());
  } catch (const std::exception& e) {
    st.set_error(1, e.what());
  }
}

// Every rank learns whether any rank failed; rank 0 prints the first failure. Returns the
// exit code all ranks use (0: go on).
int agree(const Status& mine, const MpiEnv& env);

// Rank 0's bytes to every rank (the others' vector is resized).
void broadcast_bytes(std::vector<uint8_t>& bytes, const MpiEnv& env);

// Loads the model and this rank's worker; gathers "host device" of every rank to rank 0.
struct RankSetup {
  std::unique_ptr<Task> task;
  std::unique_ptr<RankWorker> worker;
  std::vector<std::string> places;  // rank 0: per rank, "host device, batch N"
};

// Rank 0's start-up line's map of the ranks: "0: host cpu, batch 1; 1: host cpu, batch 1".
std::string rank_map(const RankSetup& rank);

// `first`: the job's first input and its stream parameters: the model warms up at its frame
// size, and every rank makes its decoder and encoder now, so that set-up failures of any rank
// are agreed before the work starts. An image job (first == kImageJob) warms up at the model's
// input size. Returns the agreed exit code (0: go on).
int set_up_rank(const Config& config, int32_t first,
                const std::shared_ptr<const std::vector<uint8_t>>& setup, const MpiEnv& env,
                RankSetup& out);

// CPU seconds this process has used.
double cpu_seconds();

// The lines after "done": per rank, per stage, rank 0's cost, memory. `unit`: "frame", "image".
void print_rank_summary(double cpu0_s, int64_t frames, const Assembler& assembler,
                        const SchedulerStats& sched, const WriterStats* ws, bool packets,
                        const char* unit = "frame");

}  // namespace vidscore
