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
#include "vidscore/cluster/worker.h"
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

// Checks the paths before any work and removes partial outputs that killed runs left behind
// (returned as notes).
std::vector<std::string> check_paths(const Config& config, const JobPaths& paths) {
  std::error_code ec;
  if (paths.input.empty()) throw UsageError("no input: pass --input FILE");
  if (paths.output.empty()) throw UsageError("no output: pass --output FILE");
  if (!fs::exists(paths.input, ec))
    throw RuntimeError("cannot open input " + paths.input + ": No such file or directory");
  // The video and the carried streams are read by two demuxers, so the input is opened twice:
  // a pipe would hang on the second open.
  if (fs::is_fifo(paths.input, ec) || fs::is_character_file(paths.input, ec) ||
      fs::is_socket(paths.input, ec))
    throw UsageError("input " + paths.input + " is a pipe or device; vidscore reads its input "
                     "twice (video, then audio), so save the stream to a file first");
  if (fs::is_directory(paths.input, ec))
    throw UsageError("input " + paths.input + " is a folder; give a video file");
  const bool video = writes_video(config);
  if (video) output_format_for(paths.output);
  if (video && fs::path(paths.output).extension() == ".json")
    throw UsageError("output " + paths.output + " is a .json name but a video is written; set "
                     "detect.write_video to false (--no-video) for detections only");
  std::vector<std::string> outputs;
  if (video) outputs.push_back(paths.output);
  if (config.task == "detect") outputs.push_back(detections_path(config, paths.output));
  std::vector<std::string> notes;
  for (const auto& out : outputs) {
    check_output_path(paths.input, out);
    for (const auto& left : remove_stale_partial_files(out))
      notes.push_back("removed " + left + ", left by an earlier run that was killed");
  }
  return notes;
}

std::unique_ptr<DetectionsWriter> open_detections(const Config& config, const JobPaths& paths,
                                                  const VideoInfo& info) {
  DetectionsHeader h;
  h.input_path = paths.input;
  h.width = info.size.width;
  h.height = info.size.height;
  h.frame_rate = std::to_string(info.frame_rate.num) + "/" + std::to_string(info.frame_rate.den);
  h.time_base = std::to_string(info.time_base.num) + "/" + std::to_string(info.time_base.den);
  h.duration_s = info.duration_s;
  h.model_path = config.model_path;
  h.layout = config.detect.layout;
  if (!config.detect.class_names.empty()) h.class_names = load_class_names(config.detect.class_names);
  return std::make_unique<DetectionsWriter>(detections_path(config, paths.output), h);
}

// Loads the model and this rank's worker; gathers "host device" of every rank to rank 0.
struct RankSetup {
  std::unique_ptr<Task> task;
  std::unique_ptr<SegmentWorker> worker;
  std::vector<std::string> places;  // rank 0: per rank
};

int set_up_rank(const Config& config, const VideoInfo& info, const AVCodecParameters* par,
                const MpiEnv& env, RankSetup& out) {
  Status mine;
  auto load = [&] {
    capture_error(mine, [&] {
      out.task = make_task(config, info.size, env.local_rank(), env.local_size());
      out.worker = std::make_unique<SegmentWorker>(config, info, par, *out.task,
                                                   writes_video(config), env.rank());
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

void print_summary(const std::string& written, double wall_s, double cpu0_s,
                   const Assembler& assembler, const SchedulerStats& sched, VideoMuxer* muxer,
                   const TransportChoice& choice) {
  const int64_t frames = assembler.frames_written();
  std::fprintf(stderr, "vidscore: done: %lld frames in %lld segments, %.1f fps in %.2f s -> %s\n",
               static_cast<long long>(frames), static_cast<long long>(sched.segments),
               wall_s > 0 ? frames / wall_s : 0.0, wall_s, written.c_str());
  const auto& ranks = assembler.ranks();
  std::string per_rank, stages, memory;
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
  const WriterStats ws = muxer ? muxer->stats() : WriterStats{};
  std::fprintf(stderr,
               "vidscore: stage seconds (all ranks): %s %.2f, decode %.2f, convert %.2f, "
               "inference %.2f, encode %.2f; rank 0: transfer %.2f, mux %.2f\n",
               choice.transport == Transport::kPackets ? "demux" : "demux+decode (rank 0)",
               sched.plan_s, sum.decode_s, sum.convert_s, sum.inference_s, sum.encode_s,
               sched.transfer_s, ws.mux_s);
  const double per_frame = frames > 0 ? 1.0 / frames : 0.0;
  std::fprintf(stderr,
               "vidscore: rank 0: %.4f CPU s per frame; MPI %.0f bytes per frame (%lld sent, "
               "%lld received)\n",
               cpu0_s * per_frame, (sched.bytes_sent + sched.bytes_received) * per_frame,
               static_cast<long long>(sched.bytes_sent),
               static_cast<long long>(sched.bytes_received));
  if (muxer) {
    if (ws.copied.audio_end_s > 0)
      std::fprintf(stderr, "vidscore: durations: video %.3f s, audio %.3f s, difference %+.3f s\n",
                   ws.video_end_s, ws.copied.audio_end_s, ws.copied.audio_end_s - ws.video_end_s);
    else
      std::fprintf(stderr, "vidscore: durations: video %.3f s, no audio\n", ws.video_end_s);
  }
  std::fprintf(stderr, "vidscore: peak RSS per rank: %s; peak segments held %d\n", memory.c_str(),
               sched.peak_alive);
}

int run_rank0(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  Status status;
  std::vector<std::string> cleanup_notes;
  std::unique_ptr<SegmentSource> source;
  std::unique_ptr<VideoMuxer> muxer;
  std::unique_ptr<DetectionsWriter> detections;
  std::vector<std::string> encoder_notes;
  std::vector<uint8_t> setup;
  int segment_frames = 0;
  capture_error(status, [&] {
    cleanup_notes = check_paths(config, paths);
    source = std::make_unique<SegmentSource>(
        paths.input, config.transport,
        [&](double fps) { return config.effective_segment_frames(fps); },
        config.segment_frames == 0, env.size());
    segment_frames = source->segment_frames();
    const VideoInfo& info = source->info();
    if (writes_video(config)) {
      WriterOptions wo{config.codec, config.crf, config.preset, config.pix_fmt,
                       config.audio_fallback_codec, config.audio_fallback_bitrate};
      SegmentEncoder probe(info, wo);  // checks the settings; rank 0 encodes no frame
      encoder_notes = probe.notes();
      muxer = std::make_unique<VideoMuxer>(paths.output, info, probe.params(), wo);
    }
    if (config.task == "detect") detections = open_detections(config, paths, info);
    ByteWriter w;
    pack_video_info(w, info);
    pack_codec_parameters(w, source->codec_parameters());
    setup = std::move(w.bytes());
  });
  MPI_CHECK(MPI_Bcast(&status, sizeof(Status), MPI_BYTE, 0, MPI_COMM_WORLD));
  if (status.code) {
    print_error(status.message);
    return status.code;
  }
  broadcast_bytes(setup);
  const VideoInfo& info = source->info();

  RankSetup rank;
  if (int code = set_up_rank(config, info, source->codec_parameters(), env, rank)) return code;

  std::string map;
  for (int r = 0; r < env.size(); ++r) map += (r ? ", " : "") + std::to_string(r) + ": " + rank.places[r];
  const TransportChoice& choice = source->choice();
  std::fprintf(stderr, "vidscore: %s: %dx%d %s, %lld frames%s, %.2f s; %d rank%s (%s)\n",
               paths.input.c_str(), info.size.width, info.size.height, info.codec_name.c_str(),
               static_cast<long long>(info.expected_frames()),
               info.frame_count > 0 ? "" : " (estimated)", info.duration_s, env.size(),
               env.size() > 1 ? "s" : "", map.c_str());
  std::fprintf(stderr, "vidscore: transport: %s (%s); segments of %d frames\n",
               choice.transport == Transport::kPackets ? "packets" : "frames",
               choice.reason.c_str(), segment_frames);
  for (const auto& n : cleanup_notes) print_note(n);
  for (const auto& n : encoder_notes) print_note(n);
  size_t notes_said = 0;
  if (muxer)
    for (const auto& n : muxer->notes()) {
      print_note(n);
      ++notes_said;
    }

  Progress progress(config.progress, config.progress_interval_s, info.expected_frames());
  Assembler assembler(muxer.get(), detections.get(), info, progress, env.size());
  const int window = config.window_segments > 0 ? config.window_segments
                                                : kCreditsPerRank * env.size() + 2;
  Scheduler scheduler(env, [&] { return source->next(); }, *rank.worker, assembler, window);
  scheduler.run();

  if (assembler.frames_written() == 0)
    throw RuntimeError(paths.input + ": video stream " + std::to_string(info.stream_index) +
                       " has no decodable frames; nothing written");
  if (muxer) muxer->finish();
  if (detections) detections->finish();
  progress.finish(assembler.frames_written());
  std::string written = muxer ? paths.output : "";
  if (detections) written += (written.empty() ? "" : " + ") + detections->path();
  print_summary(written, seconds_since(start), cpu_seconds() - cpu_start, assembler,
                scheduler.stats(), muxer.get(), choice);

  if (muxer) {  // found while copying (timestamp resets in the audio)
    auto notes = muxer->notes();
    for (size_t i = notes_said; i < notes.size(); ++i) print_note(notes[i]);
  }
  std::vector<std::string> notes = source->notes();
  notes.insert(notes.end(), assembler.notes().begin(), assembler.notes().end());
  bool damaged = source->damaged();
  if (!source->frames_checked_here())
    damaged |= end_of_input_notes(info, assembler.frames_written(), assembler.invalid_packets(),
                                  assembler.repeated_pts(), notes);
  for (const auto& n : notes) print_note(n);
  return damaged ? kExitDamagedInput : 0;
}

int run_worker(const Config& config, const MpiEnv& env) {
  Status job;
  MPI_CHECK(MPI_Bcast(&job, sizeof(Status), MPI_BYTE, 0, MPI_COMM_WORLD));
  if (job.code) return job.code;
  std::vector<uint8_t> setup;
  broadcast_bytes(setup);
  ByteReader r(setup);
  VideoInfo info = unpack_video_info(r);
  CodecParametersPtr par = unpack_codec_parameters(r);

  RankSetup rank;
  if (int code = set_up_rank(config, info, par.get(), env, rank)) return code;
  return worker_loop(*rank.worker);
}

}  // namespace

int run_job(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  return env.rank() == 0 ? run_rank0(config, paths, env) : run_worker(config, env);
}

}  // namespace vidscore
