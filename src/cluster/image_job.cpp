#include "vidscore/cluster/image_job.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "vidscore/cluster/assembler.h"
#include "vidscore/cluster/input_job.h"
#include "vidscore/cluster/job_steps.h"
#include "vidscore/cluster/scheduler.h"
#include "vidscore/partial_files.h"
#include "vidscore/progress.h"
#include "vidscore/render/npy_writer.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;

// A file larger than this is refused (an MPI message counts its bytes in an int), and a run of
// images ends when its files reach kRunBytes.
constexpr std::streamoff kMaxFileBytes = 1 << 30;
constexpr size_t kRunBytes = 256u << 20;

ImageFile read_file(const std::string& path) {
  ImageFile f;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    f.read_error = std::string("cannot open: ") + std::strerror(errno);
    return f;
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0);
  if (size < 0) {
    f.read_error = "cannot read it";
    return f;
  }
  if (size > kMaxFileBytes) {
    f.read_error = "larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
    return f;
  }
  f.data.resize(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(f.data.data()), size);
  if (in.gcount() != size) f.read_error = std::string("cannot read: ") + std::strerror(errno);
  return f;
}

// The output file, checked: a .jsonl (classify) or .npy (embed) name in an existing folder.
std::vector<std::string> check_output(const Config& config, const std::string& output) {
  const std::string ext = config.task == "embed" ? ".npy" : ".jsonl";
  if (output.empty())
    throw UsageError("no output: pass --output RESULTS" + ext);
  std::error_code ec;
  if (fs::is_directory(output, ec))
    throw UsageError("output " + output + " is a folder; an image job writes one file: give "
                     "--output NAME" + ext);
  if (fs::path(output).extension() != ext)
    throw UsageError("output " + output + ": " + config.task + " of images writes " +
                     (config.task == "embed" ? "a NumPy file with its index" : "JSON Lines") +
                     "; give a name ending in " + ext);
  const fs::path dir = fs::path(output).parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec))
    throw UsageError("output " + output + ": folder " + dir.string() + " does not exist");
  std::vector<std::string> notes;
  std::vector<std::string> files{output};
  if (config.task == "embed") files.push_back(npy_index_path(output));
  for (const auto& f : files)
    for (const auto& left : remove_stale_partial_files(f))
      notes.push_back("removed " + left + ", left by an earlier run that was killed");
  return notes;
}

}  // namespace

bool is_image_job(const Config& config, const std::vector<JobInput>& inputs,
                  const std::string& output) {
  if (config.task != "classify" && config.task != "embed") return false;
  bool images = false, videos = false;
  for (const auto& in : inputs) (in.image ? images : videos) = true;
  if (!images) return false;
  // Both: the output says which (one results file for images, a folder for videos).
  const std::string ext = std::filesystem::path(output).extension().string();
  return !videos || ext == ".jsonl" || ext == ".npy";
}

int run_image_job_rank0(const Config& config, const JobPaths& paths, const MpiEnv& env,
                        const std::vector<JobInput>& inputs, std::vector<std::string> notes) {
  auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  auto names = std::make_shared<std::vector<std::string>>();
  std::vector<std::string> files;
  std::vector<std::string> videos;
  for (const auto& in : inputs) {
    if (!in.image) {
      videos.push_back(in.path);
      continue;
    }
    files.push_back(in.path);
    // A file given by itself is named as given; one found in a folder by its path inside it.
    // With several --input values two folders may hold the same relative path: paths as found.
    names->push_back(in.in_folder && paths.inputs.size() == 1 ? in.relative : in.path);
  }
  if (!videos.empty())
    notes.push_back("skipped " + std::to_string(videos.size()) + " video" +
                    (videos.size() > 1 ? "s" : "") + " (" + videos[0] +
                    (videos.size() > 1 ? ", ..." : "") +
                    "): this job scores images; run the videos as a job of their own");

  Status status;
  std::unique_ptr<ResultsWriter> writer;
  capture_error(status, [&] {
    if (files.empty()) throw UsageError("no images found in " + paths.inputs.at(0));
    for (auto& n : check_output(config, paths.output)) notes.push_back(std::move(n));
    if (config.task == "embed")
      writer = std::make_unique<NpyWriter>(paths.output, config.embed.dtype, "", names);
    else
      writer = std::make_unique<JsonLinesWriter>(paths.output, names);
  });
  env.broadcast(&status, sizeof(Status));
  if (status.code) {
    print_error(status.message);
    return status.code;
  }
  int32_t first = kImageJob;
  env.broadcast(&first, sizeof(first));
  std::vector<uint8_t> no_setup;
  broadcast_bytes(no_setup, env);
  RankSetup rank;
  if (int code = set_up_rank(config, kImageJob, nullptr, env, rank)) return code;

  const std::string map = rank_map(rank);
  std::fprintf(stderr, "vidscore: %zu images -> %s; %s %dx%d (%s); %d rank%s (%s)\n",
               files.size(), paths.output.c_str(), config.task.c_str(), config.image.width,
               config.image.height, config.image.resize.c_str(), env.size(),
               env.size() > 1 ? "s" : "", map.c_str());
  for (const auto& n : notes) print_note(n);

  Progress progress(config.progress, config.progress_interval_s,
                    static_cast<int64_t>(files.size()));
  progress.set_unit("images", "img/s");
  InputTotals totals;
  auto sinks = [&](int) { return InputSinks{nullptr, writer.get(), 0}; };
  auto on_finished = [&](int, InputTotals& t) {
    totals = t;
    if (t.error.empty()) writer->finish();
  };
  Assembler assembler(progress, env.size(), sinks, on_finished);

  // Runs of images, read in order on the planner thread: segment_images each, or an eighth of a
  // small job so that a few ranks share it; whole batches, and the same runs on any number of
  // ranks (so the model sees the same batches: results do not depend on the rank count).
  const size_t batch = static_cast<size_t>(rank.task->batch_size());
  auto whole_batches = [&](size_t n) { return std::max<size_t>(1, (n + batch - 1) / batch) * batch; };
  const size_t run = std::min(whole_batches((files.size() + 7) / 8),
                              whole_batches(static_cast<size_t>(std::max(1, config.segment_images))));
  size_t next = 0;
  int64_t segments = 0;
  auto next_run = [&]() -> std::optional<SegmentWork> {
    if (next >= files.size()) {
      assembler.input_planned(0, segments);
      return std::nullopt;
    }
    SegmentWork w;
    w.input = 0;
    w.index = segments++;
    w.image_first = static_cast<int64_t>(next);
    size_t bytes = 0;
    for (; next < files.size() && w.images.size() < run && bytes < kRunBytes; ++next) {
      w.images.push_back(read_file(files[next]));
      bytes += w.images.back().data.size();
    }
    return w;
  };
  const int window = config.window_segments > 0 ? config.window_segments
                                                : kCreditsPerRank * env.size() + 2;
  Scheduler scheduler(env, next_run, *rank.worker, assembler, window);
  scheduler.run();
  if (!totals.error.empty()) throw RuntimeError(totals.error);
  progress.finish(assembler.frames_written());
  const double wall_s = seconds_since(start);
  const int64_t total = static_cast<int64_t>(files.size());
  const int64_t failed = static_cast<int64_t>(totals.failed_items.size());
  std::fprintf(stderr,
               "vidscore: done: %lld of %lld images scored, %lld failed; %.1f img/s in %.2f s -> "
               "%s\n",
               static_cast<long long>(total - failed), static_cast<long long>(total),
               static_cast<long long>(failed), wall_s > 0 ? total / wall_s : 0.0, wall_s,
               writer->written().c_str());
  print_rank_summary(cpu_seconds() - cpu_start, total, assembler, scheduler.stats(), nullptr,
                     true, "image");
  if (failed == 0) return 0;
  constexpr size_t kListed = 20;
  for (size_t i = 0; i < totals.failed_items.size() && i < kListed; ++i)
    std::fprintf(stderr, "vidscore: failed: %s: %s\n",
                 files[totals.failed_items[i].first].c_str(), totals.failed_items[i].second.c_str());
  if (totals.failed_items.size() > kListed)
    std::fprintf(stderr, "vidscore: failed: ... %zu more, each with its reason in %s\n",
                 totals.failed_items.size() - kListed,
                 config.task == "embed" ? npy_index_path(paths.output).c_str()
                                        : paths.output.c_str());
  print_error(std::to_string(failed) + " of " + std::to_string(total) +
              " images could not be scored (listed above, and in the results)" +
              (failed < total ? "; the others were" : ""));
  return failed < total ? kExitFailedInputs : 1;
}

}  // namespace vidscore
