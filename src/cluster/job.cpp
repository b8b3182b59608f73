#include "vidscore/cluster/job.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "vidscore/bytes.h"
#include "vidscore/cluster/assembler.h"
#include "vidscore/cluster/scheduler.h"
#include "vidscore/cluster/work_folder.h"
#include "vidscore/cluster/worker.h"
#include "vidscore/media/input_list.h"
#include "vidscore/media/segment_source.h"
#include "vidscore/media/stream_params.h"
#include "vidscore/media/video_muxer.h"
#include "vidscore/model/task.h"
#include "vidscore/partial_files.h"
#include "vidscore/progress.h"
#include "vidscore/render/detections_writer.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;
constexpr int kMessageBytes = 1024;

// Whether a step succeeded on a rank, and if not, the exit code and message.
struct Status {
  int32_t code = 0;  // 0 ok, else the exit code
  char message[kMessageBytes] = {0};

  void set_error(int c, const std::string& text) {
    code = c;
    std::snprintf(message, sizeof(message), "%s", text.c_str());
  }
};

void print_error(const std::string& text) {
  std::fprintf(stderr, "vidscore: error: %s\n", text.c_str());
  std::fflush(stderr);
}

void print_note(const std::string& text) {
  std::fprintf(stderr, "vidscore: note: %s\n", text.c_str());
}

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
int agree(const Status& mine, const MpiEnv& env) {
  std::vector<Status> all(env.rank() == 0 ? env.size() : 0);
  MPI_CHECK(MPI_Gather(&mine, sizeof(Status), MPI_BYTE, all.data(), sizeof(Status), MPI_BYTE, 0,
                       MPI_COMM_WORLD));
  int32_t code = 0;
  if (env.rank() == 0) {
    for (int r = 0; r < env.size() && code == 0; ++r) {
      if (all[r].code == 0) continue;
      code = all[r].code;
      print_error((env.size() > 1 && r > 0 ? "rank " + std::to_string(r) + ": " : "") +
                  all[r].message);
    }
  }
  MPI_CHECK(MPI_Bcast(&code, 1, MPI_INT32_T, 0, MPI_COMM_WORLD));
  return code;
}

void broadcast_bytes(std::vector<uint8_t>& bytes) {
  uint64_t n = bytes.size();
  MPI_CHECK(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD));
  bytes.resize(n);
  MPI_CHECK(MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD));
}

void check_output_path(const std::string& input, const std::string& output) {
  std::error_code ec;
  if (fs::weakly_canonical(input, ec) == fs::weakly_canonical(output, ec) ||
      (fs::exists(output, ec) && fs::equivalent(input, output, ec)))
    throw UsageError("output " + output + " is the input file; vidscore never overwrites "
                     "its input, choose another output name");
  fs::path dir = fs::path(output).parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec))
    throw UsageError("output " + output + ": folder " + dir.string() + " does not exist");
  if (fs::is_directory(output, ec))
    throw UsageError("output " + output + " is an existing folder; give a file name");
}

// The detections JSON: the configured file, else the output itself when it is a .json (JSON
// only), else the output's name with .json.
std::string detections_path(const Config& config, const std::string& output) {
  if (!config.detect.json_path.empty()) return config.detect.json_path;
  fs::path p(output);
  if (p.extension() == ".json") return output;
  return p.replace_extension(".json").string();
}

bool writes_video(const Config& config) { return config.task != "detect" || config.detect.write_video; }

// Checks one input's paths before any work and removes partial outputs that killed runs left
// behind (returned as notes).
std::vector<std::string> check_paths(const Config& config, const std::string& input,
                                     const std::string& output) {
  std::error_code ec;
  if (input.empty()) throw UsageError("no input: pass --input FILE");
  if (output.empty()) throw UsageError("no output: pass --output FILE");
  if (!fs::exists(input, ec))
    throw RuntimeError("cannot open input " + input + ": No such file or directory");
  // The video and the carried streams are read by two demuxers, so the input is opened twice:
  // a pipe would hang on the second open.
  if (fs::is_fifo(input, ec) || fs::is_character_file(input, ec) || fs::is_socket(input, ec))
    throw UsageError("input " + input + " is a pipe or device; vidscore reads its input "
                     "twice (video, then audio), so save the stream to a file first");
  if (fs::is_directory(input, ec))
    throw UsageError("input " + input + " is a folder; give a video file");
  const bool video = writes_video(config);
  if (video) output_format_for(output);
  if (video && fs::path(output).extension() == ".json")
    throw UsageError("output " + output + " is a .json name but a video is written; set "
                     "detect.write_video to false (--no-video) for detections only");
  std::vector<std::string> outputs;
  if (video) outputs.push_back(output);
  if (config.task == "detect") outputs.push_back(detections_path(config, output));
  std::vector<std::string> notes;
  for (const auto& out : outputs) {
    check_output_path(input, out);
    for (const auto& left : remove_stale_partial_files(out))
      notes.push_back("removed " + left + ", left by an earlier run that was killed");
  }
  return notes;
}

std::unique_ptr<DetectionsWriter> open_detections(const Config& config, const std::string& input,
                                                  const std::string& output,
                                                  const VideoInfo& info) {
  DetectionsHeader h;
  h.input_path = input;
  h.width = info.size.width;
  h.height = info.size.height;
  h.frame_rate = std::to_string(info.frame_rate.num) + "/" + std::to_string(info.frame_rate.den);
  h.time_base = std::to_string(info.time_base.num) + "/" + std::to_string(info.time_base.den);
  h.duration_s = info.duration_s;
  h.model_path = config.model_path;
  h.layout = config.detect.layout;
  if (!config.detect.class_names.empty()) h.class_names = load_class_names(config.detect.class_names);
  return std::make_unique<DetectionsWriter>(detections_path(config, output), h);
}

// Rank 0's view of one input of the job: opened on the planner thread when its turn comes (the
// first one on the main thread), written on the assembler's thread, closed when its last segment
// is written, so an archive job holds only the few inputs whose segments are in flight.
struct InputJob {
  enum class State { kPending, kOpen, kDone, kSkipped, kFailed };
  int id = 0;
  std::string input, output;  // output: the video, or the JSON when no video is written
  State state = State::kPending;

  std::unique_ptr<SegmentSource> source;
  std::unique_ptr<VideoMuxer> muxer;
  std::unique_ptr<DetectionsWriter> detections;
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

const char* transport_name(Transport t) { return t == Transport::kPackets ? "packets" : "frames"; }

// Opens the input: paths, work folder (resume), source (transport, segment plan), encoder
// settings, outputs. Throws UsageError or RuntimeError.
void open_input(const Config& config, int ranks, InputJob& job) {
  job.open_notes = check_paths(config, job.input, job.output);
  const std::string video_out = writes_video(config) ? job.output : "";
  // Without a readable model there is nothing to resume: loading it fails with its own message.
  std::error_code ec;
  if (config.resume && fs::is_regular_file(config.model_path, ec)) {
    job.work = std::make_unique<WorkFolder>(
        work_folder_for(writes_video(config) ? job.output : detections_path(config, job.output),
                        config.work_dir),
        result_identity(config, job.input), job.open_notes);
    job.kept_before = job.work->kept_on_disk();
  }
  // A resumed job cuts the segments the kept ones came from, whatever the number of ranks.
  const std::optional<SegmentPlan> plan = job.work ? job.work->previous_plan() : std::nullopt;
  if (plan)
    job.source = std::make_unique<SegmentSource>(
        job.input, transport_name(plan->transport), [&](double) { return plan->segment_frames; },
        false, ranks);
  else
    job.source = std::make_unique<SegmentSource>(
        job.input, config.transport,
        [&](double fps) { return config.effective_segment_frames(fps); },
        config.segment_frames == 0, ranks);
  job.segment_frames = job.source->segment_frames();
  job.choice = job.source->choice();
  job.info = job.source->info();
  if (job.work) job.work->begin({job.choice.transport, job.segment_frames});
  if (writes_video(config)) {
    WriterOptions wo{config.codec, config.crf, config.preset, config.pix_fmt,
                     config.audio_fallback_codec, config.audio_fallback_bitrate};
    SegmentEncoder probe(job.info, wo);  // checks the settings; rank 0 encodes no frame
    for (const auto& n : probe.notes()) job.open_notes.push_back(n);
    job.muxer = std::make_unique<VideoMuxer>(job.output, job.info, probe.params(), wo);
    for (const auto& n : job.muxer->notes()) job.open_notes.push_back(n);
    job.muxer_notes_said = job.muxer->notes().size();
  }
  if (config.task == "detect") job.detections = open_detections(config, job.input, job.output, job.info);
  ByteWriter w;
  pack_video_info(w, job.info);
  pack_codec_parameters(w, job.source->codec_parameters());
  job.setup = std::make_shared<const std::vector<uint8_t>>(std::move(w.bytes()));
  job.state = InputJob::State::kOpen;
}

// Writes the end of a finished input (trailer, rename), or throws what makes it a failure.
void finish_input(InputJob& job, InputTotals& totals) {
  if (totals.frames == 0)
    throw RuntimeError(job.input + ": video stream " + std::to_string(job.info.stream_index) +
                       " has no decodable frames; nothing written");
  if (job.muxer) job.muxer->finish();
  if (job.detections) job.detections->finish();
  if (job.work) job.work->remove();  // the output is complete
  job.written = job.muxer ? job.output : "";
  if (job.detections)
    job.written += (job.written.empty() ? "" : " + ") + job.detections->path();
  std::vector<std::string>& notes = job.end_notes;
  if (job.muxer) {  // found while copying (timestamp resets in the audio)
    auto later = job.muxer->notes();
    for (size_t i = job.muxer_notes_said; i < later.size(); ++i) notes.push_back(later[i]);
  }
  notes.insert(notes.end(), job.source_notes.begin(), job.source_notes.end());
  notes.insert(notes.end(), totals.notes.begin(), totals.notes.end());
  if (job.work)
    for (auto& n : job.work->take_notes()) notes.push_back(std::move(n));
  bool damaged = job.damaged;
  if (!job.checked_by_source)
    damaged |= end_of_input_notes(job.info, totals.frames, totals.invalid_packets,
                                  totals.repeated_pts, notes);
  job.exit_code = damaged ? kExitDamagedInput : 0;
  job.state = InputJob::State::kDone;
}

// Loads the model and this rank's worker; gathers "host device" of every rank to rank 0.
struct RankSetup {
  std::unique_ptr<Task> task;
  std::unique_ptr<RankWorker> worker;
  std::vector<std::string> places;  // rank 0: per rank
};

int set_up_rank(const Config& config, FrameSize frame, const MpiEnv& env, RankSetup& out) {
  Status mine;
  auto load = [&] {
    capture_error(mine, [&] {
      out.task = make_task(config, frame, env.local_rank(), env.local_size());
      out.worker = std::make_unique<RankWorker>(config, *out.task, writes_video(config),
                                                env.rank());
    });
  };
  if (env.rank() == 0) {
    // Rank 0 runs its model on a worker thread, not this one. The warm-up in make_task would
    // leave this thread an OpenMP team of its own, whose idle threads then compete for the cores
    // with the worker's team (the forward pass ran 2x slower): warm up on a thread that ends.
    std::thread(load).join();
  } else {
    load();
  }
  char where[128] = {0};
  std::snprintf(where, sizeof(where), "%s %s", env.host().c_str(),
                out.task ? out.task->device_name().c_str() : "-");
  std::vector<char> all(env.rank() == 0 ? env.size() * 128 : 0, 0);
  MPI_CHECK(MPI_Gather(where, 128, MPI_CHAR, all.data(), 128, MPI_CHAR, 0, MPI_COMM_WORLD));
  for (int r = 0; env.rank() == 0 && r < env.size(); ++r) out.places.emplace_back(&all[r * 128]);
  return agree(mine, env);
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

// The lines after "done": per rank, per stage, rank 0's cost, memory.
void print_rank_summary(double cpu0_s, int64_t frames, const Assembler& assembler,
                        const SchedulerStats& sched, const WriterStats* ws, bool packets) {
  const auto& ranks = assembler.ranks();
  std::string per_rank, memory;
  RankStats sum;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const RankStats& s = ranks[r];
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%s%zu: %lld (%lld segments)", r ? ", " : "", r,
                  static_cast<long long>(s.frames), static_cast<long long>(s.segments));
    per_rank += buf;
    std::snprintf(buf, sizeof(buf), "%s%zu: %.0f MiB", r ? ", " : "", r, s.peak_rss_mib);
    memory += buf;
    sum.decode_s += s.decode_s;
    sum.convert_s += s.convert_s;
    sum.inference_s += s.inference_s;
    sum.encode_s += s.encode_s;
  }
  std::fprintf(stderr, "vidscore: frames per rank: %s\n", per_rank.c_str());
  std::fprintf(stderr,
               "vidscore: stage seconds (all ranks): %s %.2f, decode %.2f, convert %.2f, "
               "inference %.2f, encode %.2f; rank 0: transfer %.2f, mux %.2f\n",
               packets ? "demux" : "demux+decode (rank 0)", sched.plan_s, sum.decode_s,
               sum.convert_s, sum.inference_s, sum.encode_s, sched.transfer_s,
               ws ? ws->mux_s : 0.0);
  const double per_frame = frames > 0 ? 1.0 / frames : 0.0;
  std::fprintf(stderr,
               "vidscore: rank 0: %.4f CPU s per frame; MPI %.0f bytes per frame (%lld sent, "
               "%lld received)\n",
               cpu0_s * per_frame, (sched.bytes_sent + sched.bytes_received) * per_frame,
               static_cast<long long>(sched.bytes_sent),
               static_cast<long long>(sched.bytes_received));
  if (ws) {
    if (ws->copied.audio_end_s > 0)
      std::fprintf(stderr, "vidscore: durations: video %.3f s, audio %.3f s, difference %+.3f s\n",
                   ws->video_end_s, ws->copied.audio_end_s, ws->copied.audio_end_s - ws->video_end_s);
    else
      std::fprintf(stderr, "vidscore: durations: video %.3f s, no audio\n", ws->video_end_s);
  }
  std::fprintf(stderr, "vidscore: peak RSS per rank: %s; peak segments held %d\n", memory.c_str(),
               sched.peak_alive);
}

std::string reused_text(int64_t reused) {
  return reused > 0 ? " (" + std::to_string(reused) + " reused from an earlier run)" : "";
}

// The inputs of the job with their outputs. Single-video jobs: the one input and --output.
// Archive jobs: every input found, each written under the output folder at its relative path.
std::vector<std::unique_ptr<InputJob>> plan_inputs(const Config& config, const JobPaths& paths,
                                                   bool archive, std::vector<std::string>& notes) {
  std::vector<std::unique_ptr<InputJob>> jobs;
  if (!archive) {
    auto j = std::make_unique<InputJob>();
    j->input = paths.inputs.empty() ? "" : paths.inputs[0];
    j->output = paths.output;
    jobs.push_back(std::move(j));
    return jobs;
  }
  if (paths.output.empty()) throw UsageError("no output: pass --output FOLDER");
  std::error_code ec;
  if (fs::exists(paths.output, ec) && !fs::is_directory(paths.output, ec))
    throw UsageError("output " + paths.output + " is a file; with several inputs, a folder, or "
                     "a list, --output is the folder the outputs go to");
  if (!config.detect.json_path.empty())
    throw UsageError("detect.json names one file; with several inputs each gets its own JSON "
                     "beside its video (leave detect.json empty)");
  const fs::path out_dir = fs::weakly_canonical(paths.output, ec);
  for (const auto& v : paths.inputs) {
    if (v.rfind("@", 0) == 0 || !fs::is_directory(v, ec)) continue;
    const fs::path in_dir = fs::weakly_canonical(v, ec);
    auto rel = out_dir.lexically_relative(in_dir);
    if (!rel.empty() && *rel.begin() != "..")
      throw UsageError("output folder " + paths.output + " is inside input folder " + v +
                       "; its outputs would be taken as inputs next time");
  }
  std::vector<JobInput> inputs = expand_inputs(paths.inputs, notes);
  if (inputs.empty()) throw UsageError("no input videos found in " + paths.inputs[0]);
  fs::create_directories(paths.output, ec);
  if (ec) throw RuntimeError("cannot create output folder " + paths.output + ": " + ec.message());
  const std::string ext = writes_video(config) ? config.output_extension : ".json";
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto j = std::make_unique<InputJob>();
    j->id = static_cast<int>(i);
    j->input = inputs[i].path;
    j->output = (fs::path(paths.output) / fs::path(inputs[i].relative).replace_extension(ext))
                    .string();
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Whether every output of an archive input exists already (a finished input: skipped).
bool outputs_exist(const Config& config, const InputJob& job) {
  std::error_code ec;
  if (writes_video(config) && !fs::exists(job.output, ec)) return false;
  if (config.task == "detect" && !fs::exists(detections_path(config, job.output), ec)) return false;
  return true;
}

int run_rank0(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  const bool archive = is_archive_job(paths.inputs);
  Status status;
  std::vector<std::string> job_notes;
  std::vector<std::unique_ptr<InputJob>> jobs;
  capture_error(status, [&] { jobs = plan_inputs(config, paths, archive, job_notes); });

  // Opens input i when its turn comes; an archive job goes on past inputs that fail.
  auto open = [&](InputJob& job) {
    if (archive && !paths.overwrite && outputs_exist(config, job)) {
      job.state = InputJob::State::kSkipped;
      return;
    }
    Status st;
    capture_error(st, [&] {
      if (archive) {  // outputs mirror the input's subfolders
        std::error_code ec;
        const fs::path dir = fs::path(job.output).parent_path();
        if (!dir.empty()) fs::create_directories(dir, ec);
        if (ec) throw RuntimeError("cannot create folder " + dir.string() + ": " + ec.message());
      }
      open_input(config, env.size(), job);
    });
    if (st.code) {
      if (job.work && job.work->kept_on_disk() == 0) job.work->remove();  // made for nothing
      job.work.reset();
      job.state = InputJob::State::kFailed;
      job.exit_code = st.code;
      job.failure = st.message;
      job.source.reset();
      job.muxer.reset();
      job.detections.reset();
    }
  };
  // The first input that opens sets the model's warm-up size.
  int first = -1;
  for (size_t i = 0; status.code == 0 && i < jobs.size() && first < 0; ++i) {
    open(*jobs[i]);
    if (jobs[i]->state == InputJob::State::kOpen) first = static_cast<int>(i);
    else if (!archive) status.set_error(jobs[i]->exit_code, jobs[i]->failure);
  }
  // An archive job with nothing to open: each input is skipped (its output exists) or failed.
  int no_work_code = 0;
  if (status.code == 0 && first < 0) {
    for (const auto& n : job_notes) print_note(n);
    int skipped = 0, failed = 0;
    std::string names;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const InputJob& j = *jobs[i];
      if (j.state == InputJob::State::kSkipped) {
        ++skipped;
        std::fprintf(stderr, "vidscore: [%zu/%zu] %s: skipped, %s exists (--overwrite redoes it)\n",
                     i + 1, jobs.size(), j.input.c_str(), j.output.c_str());
      } else {
        ++failed;
        names += (names.empty() ? "" : ", ") + j.input;
        std::fprintf(stderr, "vidscore: [%zu/%zu] %s: failed: %s\n", i + 1, jobs.size(),
                     j.input.c_str(), j.failure.c_str());
      }
    }
    std::fprintf(stderr, "vidscore: done: 0 of %zu inputs written, %d skipped, %d failed -> %s\n",
                 jobs.size(), skipped, failed, paths.output.c_str());
    if (failed > 0)
      print_error(std::to_string(failed) + " of " + std::to_string(jobs.size()) +
                  " inputs failed (" + names + ")" +
                  (skipped ? "; the others' outputs exist" : ""));
    no_work_code = failed == 0 ? 0 : skipped > 0 ? kExitFailedInputs : 1;
    status.code = -1;  // the ranks have nothing to do
  }
  MPI_CHECK(MPI_Bcast(&status, sizeof(Status), MPI_BYTE, 0, MPI_COMM_WORLD));
  if (status.code == -1) return no_work_code;
  if (status.code) {
    print_error(status.message);
    return status.code;
  }
  FrameSize warm_up = jobs[first]->info.size;
  MPI_CHECK(MPI_Bcast(&warm_up, sizeof(warm_up), MPI_BYTE, 0, MPI_COMM_WORLD));

  // A failed job keeps the work folders that hold finished segments (the next run resumes from
  // them) and removes the others.
  auto drop_empty_work_folders = [&] {
    for (const auto& job : jobs)
      if (job->work && job->work->kept_on_disk() == 0) {
        job->work->remove();
        job->work.reset();
      }
  };
  RankSetup rank;
  if (int code = set_up_rank(config, warm_up, env, rank)) {
    drop_empty_work_folders();
    return code;
  }

  std::string map;
  for (int r = 0; r < env.size(); ++r) map += (r ? ", " : "") + std::to_string(r) + ": " + rank.places[r];
  auto say_notes = [&](const InputJob& job, const std::vector<std::string>& notes) {
    for (const auto& n : notes) print_note(archive ? job.input + ": " + n : n);
  };
  if (!archive) {
    const InputJob& job = *jobs[0];
    const VideoInfo& info = job.info;
    std::fprintf(stderr, "vidscore: %s: %dx%d %s, %lld frames%s, %.2f s; %d rank%s (%s)\n",
                 job.input.c_str(), info.size.width, info.size.height, info.codec_name.c_str(),
                 static_cast<long long>(info.expected_frames()),
                 info.frame_count > 0 ? "" : " (estimated)", info.duration_s, env.size(),
                 env.size() > 1 ? "s" : "", map.c_str());
    std::fprintf(stderr, "vidscore: transport: %s (%s); segments of %d frames\n",
                 transport_name(job.choice.transport), job.choice.reason.c_str(),
                 job.segment_frames);
    say_notes(job, job.open_notes);
    if (job.kept_before > 0)
      std::fprintf(stderr, "vidscore: resuming: %lld finished segments kept in %s are reused\n",
                   static_cast<long long>(job.kept_before), job.work->path().c_str());
  } else {
    std::fprintf(stderr, "vidscore: %zu inputs -> %s; %d rank%s (%s)\n", jobs.size(),
                 paths.output.c_str(), env.size(), env.size() > 1 ? "s" : "", map.c_str());
    for (const auto& n : job_notes) print_note(n);
  }

  Progress progress(config.progress, config.progress_interval_s,
                    archive ? 0 : jobs[0]->info.expected_frames());
  const int total = static_cast<int>(jobs.size());
  int finished = 0;
  if (archive) progress.set_label("videos 0/" + std::to_string(total));
  // Archive jobs: one line per input as it ends, in order.
  auto report = [&](InputJob& job) {
    ++finished;
    char head[64];
    std::snprintf(head, sizeof(head), "vidscore: [%d/%d] ", finished, total);
    switch (job.state) {
      case InputJob::State::kDone:
        std::fprintf(stderr, "%s%s -> %s: %lld frames%s%s\n", head, job.input.c_str(),
                     job.written.c_str(), static_cast<long long>(job.totals.frames),
                     reused_text(job.totals.reused).c_str(),
                     job.exit_code == kExitDamagedInput ? " (damaged input: see the note)" : "");
        break;
      case InputJob::State::kSkipped:
        std::fprintf(stderr, "%s%s: skipped, %s exists (--overwrite redoes it)\n", head,
                     job.input.c_str(), job.output.c_str());
        break;
      default:
        std::fprintf(stderr, "%s%s: failed: %s\n", head, job.input.c_str(), job.failure.c_str());
        if (job.work && job.work->kept_on_disk() > 0)
          print_note(job.input + ": " + std::to_string(job.work->kept_on_disk()) +
                     " finished segments are kept in " + job.work->path() +
                     ": the same command resumes from them");
    }
    say_notes(job, job.open_notes);
    say_notes(job, job.end_notes);
    progress.set_label("videos " + std::to_string(finished) + "/" + std::to_string(total));
  };

  auto sinks = [&](int id) {
    InputJob& job = *jobs[id];
    return InputSinks{job.muxer.get(), job.detections.get(), av_q2d(job.info.time_base)};
  };
  auto on_finished = [&](int id, InputTotals& totals) {
    InputJob& job = *jobs[id];
    job.totals = totals;
    if (job.state == InputJob::State::kOpen && !totals.error.empty()) {
      job.state = InputJob::State::kFailed;  // a rank could not do one of its segments
      job.exit_code = 1;
      job.failure = totals.error;
    } else if (job.state == InputJob::State::kOpen) {
      try {
        finish_input(job, totals);
      } catch (const std::exception& e) {
        if (!archive) throw;  // a single-video job fails as a whole
        job.state = InputJob::State::kFailed;
        job.exit_code = 1;
        job.failure = e.what();
      }
    }
    if (archive) {
      report(job);
      // Closed now: an archive job keeps only the inputs in flight open.
      job.muxer.reset();  // unfinished: its partial file goes
      job.detections.reset();
      job.work.reset();
      job.setup.reset();
    }
  };
  Assembler assembler(progress, env.size(), sinks, on_finished);

  // The planner's source: the segments of every input in turn.
  size_t current = 0;
  auto next_segment = [&]() -> std::optional<SegmentWork> {
    while (current < jobs.size()) {
      InputJob& job = *jobs[current];
      if (job.state == InputJob::State::kPending) open(job);
      if (job.state == InputJob::State::kOpen) {
        std::optional<SegmentWork> w;
        try {
          w = job.source->next();
        } catch (const std::exception& e) {
          if (!archive) throw;
          job.state = InputJob::State::kFailed;
          job.exit_code = 1;
          job.failure = e.what();
        }
        if (w) {
          w->input = job.id;
          w->setup = job.setup;
          ++job.planned;
          return w;
        }
        if (job.source) {
          job.source_notes = job.source->notes();
          job.damaged = job.source->damaged();
          job.checked_by_source = job.source->frames_checked_here();
          if (archive) job.source.reset();  // the input is closed once planned
        }
      }
      assembler.input_planned(job.id, job.planned);
      ++current;
    }
    return std::nullopt;
  };
  const int window = config.window_segments > 0 ? config.window_segments
                                                : kCreditsPerRank * env.size() + 2;
  Scheduler scheduler(env, next_segment, *rank.worker, assembler, window,
                      [&](int id) { return jobs[id]->work.get(); });
  scheduler.end_job_on_segment_error(!archive);
  try {
    scheduler.run();
  } catch (...) {
    drop_empty_work_folders();
    for (const auto& job : jobs)
      if (job->state == InputJob::State::kOpen && job->work && job->work->kept_on_disk() > 0)
        print_note(std::to_string(job->work->kept_on_disk()) + " finished segments" +
                   (archive ? " of " + job->input : "") + " are kept in " + job->work->path() +
                   ": the same command resumes from them");
    throw;
  }
  progress.finish(assembler.frames_written());
  const double wall_s = seconds_since(start);
  const int64_t frames = assembler.frames_written();
  const SchedulerStats& sched = scheduler.stats();

  if (!archive) {
    InputJob& job = *jobs[0];
    std::fprintf(stderr,
                 "vidscore: done: %lld frames in %lld segments%s, %.1f fps in %.2f s -> %s\n",
                 static_cast<long long>(frames), static_cast<long long>(sched.segments),
                 reused_text(sched.reused).c_str(), wall_s > 0 ? frames / wall_s : 0.0, wall_s,
                 job.written.c_str());
    const WriterStats ws = job.muxer ? job.muxer->stats() : WriterStats{};
    print_rank_summary(cpu_seconds() - cpu_start, frames, assembler, sched,
                       job.muxer ? &ws : nullptr, job.choice.transport == Transport::kPackets);
    say_notes(job, job.end_notes);
    return job.exit_code;
  }

  int done = 0, skipped = 0, failed = 0;
  bool damaged = false;
  for (const auto& job : jobs) {
    if (job->state == InputJob::State::kDone) ++done;
    else if (job->state == InputJob::State::kSkipped) ++skipped;
    else ++failed;
    damaged |= job->state == InputJob::State::kDone && job->exit_code == kExitDamagedInput;
  }
  std::fprintf(stderr,
               "vidscore: done: %d of %d inputs written, %d skipped, %d failed; %lld frames in "
               "%lld segments%s, %.1f fps in %.2f s -> %s\n",
               done, total, skipped, failed, static_cast<long long>(frames),
               static_cast<long long>(sched.segments), reused_text(sched.reused).c_str(),
               wall_s > 0 ? frames / wall_s : 0.0, wall_s, paths.output.c_str());
  print_rank_summary(cpu_seconds() - cpu_start, frames, assembler, sched, nullptr, true);
  if (failed > 0) {
    std::string names;
    for (const auto& job : jobs)
      if (job->state == InputJob::State::kFailed) names += (names.empty() ? "" : ", ") + job->input;
    print_error(std::to_string(failed) + " of " + std::to_string(total) + " inputs failed (" +
                names + "); the others were written");
    return done + skipped > 0 ? kExitFailedInputs : 1;
  }
  return damaged ? kExitDamagedInput : 0;
}

int run_worker(const Config& config, const MpiEnv& env) {
  Status job;
  MPI_CHECK(MPI_Bcast(&job, sizeof(Status), MPI_BYTE, 0, MPI_COMM_WORLD));
  if (job.code == -1) return 0;
  if (job.code) return job.code;
  FrameSize warm_up;
  MPI_CHECK(MPI_Bcast(&warm_up, sizeof(warm_up), MPI_BYTE, 0, MPI_COMM_WORLD));
  RankSetup rank;
  if (int code = set_up_rank(config, warm_up, env, rank)) return code;
  return worker_loop(*rank.worker);
}

}  // namespace

int run_job(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  return env.rank() == 0 ? run_rank0(config, paths, env) : run_worker(config, env);
}

}  // namespace vidscore
