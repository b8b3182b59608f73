// One input of a job, as rank 0 sees it: its paths and outputs, its work folder (resume), its
// segment source, its muxer and detections, and its outcome. A single-video job has one; an
// archive job has one per video found (plan_inputs). Opened when its turn comes (open_input, on
// the planner thread; the first on the main thread), finished on the assembler's thread when its
// last segment is written (finish_input).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vidscore/cluster/assembler.h"
#include "vidscore/cluster/job.h"
#include "vidscore/cluster/work_folder.h"
#include "vidscore/config.h"
#include "vidscore/media/input_list.h"
#include "vidscore/media/segment_source.h"
#include "vidscore/media/video_muxer.h"
#include "vidscore/render/results_writer.h"

namespace vidscore {

// Closed when its last segment is written, so an archive job holds only the few inputs whose
// segments are in flight.
struct InputJob {
  enum class State { kPending, kOpen, kDone, kSkipped, kFailed };
  int id = 0;
  std::string input, output;  // output: the video, or the JSON when no video is written
  State state = State::kPending;

  std::unique_ptr<SegmentSource> source;
  std::unique_ptr<VideoMuxer> muxer;
  std::unique_ptr<ResultsWriter> results;  // detections, classes or embeddings; or null
  std::unique_ptr<WorkFolder> work;
  std::shared_ptr<const std::vector<uint8_t>> setup;  // stream parameters for the ranks
  VideoInfo info;
  TransportChoice choice;
  int segment_frames = 0;
  int64_t planned = 0;      // segments planned so far
  int64_t kept_before = 0;  // segments an earlier run kept, to reuse
  std::vector<std::string> open_notes;  // leftovers removed, encoder notes, muxer notes
  size_t muxer_notes_said = 0;
  // Known when its source ends (the source is closed then).
  std::vector<std::string> source_notes;
  bool damaged = false, checked_by_source = false;

  // The outcome.
  int exit_code = 0;         // kFailed: 1 or 2; kDone: 0 or kExitDamagedInput
  std::string failure;       // kFailed: the error
  std::vector<std::string> end_notes;
  InputTotals totals;
  std::string written;       // what was written ("out.mp4 + out.json")
};

// Whether the job writes video (detections-only jobs do not).
bool writes_video(const Config& config);
// Where a video input's per-frame results go: detect: the configured file, else the output
// itself when it is a .json (JSON only), else the output's name with .json; classify and embed:
// the output itself (a .json, a .npy); style: "" (none).
std::string results_path(const Config& config, const std::string& output);
// Every file an input's output consists of: the video, the results, the embeddings' index.
std::vector<std::string> result_files(const Config& config, const std::string& output);
// The results' extension when no video is written: ".json", ".npy".
const char* results_extension(const Config& config);
// Refuses an output that is the input, whose folder is missing, or that is a folder (UsageError).
void check_output_path(const std::string& input, const std::string& output);
const char* transport_name(Transport t);

// The inputs of the job with their outputs. Single-video jobs: the one input and --output.
// Archive jobs: every video `found` (media/input_list.h expand_inputs), each written under the
// output folder at its relative path. Throws UsageError for what no input could fix (output not
// a folder, ...).
std::vector<std::unique_ptr<InputJob>> plan_inputs(const Config& config, const JobPaths& paths,
                                                   bool archive,
                                                   const std::vector<JobInput>& found);
// Whether every output of an archive input exists already (a finished input: skipped).
bool outputs_exist(const Config& config, const InputJob& job);

// Opens the input: paths (leftover partial outputs removed), work folder (resume), source
// (transport, segment plan), encoder settings, outputs. Throws UsageError or RuntimeError.
void open_input(const Config& config, int ranks, InputJob& job);
// Writes the end of a finished input (trailer, rename, work folder removed) and its notes, or
// throws what makes it a failure (no decodable frame).
void finish_input(InputJob& job, InputTotals& totals);

}  // namespace vidscore
