// Resume: rank 0 keeps every finished segment of a job (its encoded packets and annotations, the
// compressed size of the output, never frames) in a work folder beside the output, so that the
// same command run again after the job died (a rank or mpirun killed, scancel, a lost node, the
// time limit) redoes only the segments that were not finished, and writes the same output.
//
// The folder's manifest.json records what decides the result: the input (size, mtime and a hash
// of its first and last 4 MiB), the model file (a hash of all of it), every setting that changes
// the output, vidscore's version, and the segment plan (transport and segment length, kept so a
// rerun on another number of ranks cuts the same segments). A folder whose manifest differs is
// emptied, with a note that says what changed. The folder is removed once its output is
// complete. Segments are written under a temporary name and renamed, so a segment file is
// complete or absent whatever moment the job died.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vidscore/config.h"
#include "vidscore/segment.h"

namespace vidscore {

// The segment plan a job used, so that a resumed job cuts the same segments.
struct SegmentPlan {
  Transport transport = Transport::kPackets;
  int segment_frames = 0;
};

// What decides the result of a job on `input` with `config` (see above). Throws RuntimeError
// when the input or the model cannot be read.
nlohmann::json result_identity(const Config& config, const std::string& input);

// "<output>.vidscore-work" beside the output, or inside `work_dir` when set (named by the
// output's name and a hash of its full path, so outputs of the same name do not meet).
std::string work_folder_for(const std::string& output, const std::string& work_dir);

class WorkFolder {
 public:
  // Opens `path` for a job of `identity`, creating it when missing. Kept segments are reused
  // when the manifest matches; otherwise they are removed and `notes` says why.
  WorkFolder(std::string path, nlohmann::json identity, std::vector<std::string>& notes);

  // The plan of the kept segments (when there are some to reuse).
  const std::optional<SegmentPlan>& previous_plan() const { return previous_plan_; }
  // Records the plan this run uses. Call once, before any keep(). The manifest is written, and
  // the segments of a different job removed, when the first segment is kept.
  void begin(const SegmentPlan& plan);

  // A kept segment with this index, if any (read from disk). Any thread.
  std::optional<SegmentResult> reuse(int64_t index);
  // Keeps a finished segment. Any thread; a failure to write is reported once as a note and the
  // job goes on (it only loses the ability to resume).
  void keep(const SegmentResult& result);

  // Whether this run made the folder and has kept nothing in it yet: then a failed run removes it.
  bool unused_and_new() const;
  int64_t kept_on_disk() const;  // segments in the folder now
  const std::string& path() const { return path_; }
  // Notes found while keeping (a full disk, ...).
  std::vector<std::string> take_notes();
  // The output is complete: the folder goes.
  void remove();

 private:
  std::string segment_path(int64_t index) const;
  void commit();  // with mu_ held: the stale segments go, the manifest is written

  std::string path_;
  nlohmann::json identity_;
  std::optional<SegmentPlan> previous_plan_;
  SegmentPlan plan_;
  std::vector<int64_t> stale_;  // segments of a different job, removed at commit()
  bool created_here_ = false;
  bool committed_ = false;
  std::set<int64_t> on_disk_;  // guarded by mu_
  mutable std::mutex mu_;
  bool write_failed_ = false;
  std::vector<std::string> notes_;
};

}  // namespace vidscore
