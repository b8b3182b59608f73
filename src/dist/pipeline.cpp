#include "vidscore/dist/pipeline.h"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "vidscore/dist/protocol.h"
#include "vidscore/media/video_reader.h"
#include "vidscore/media/video_writer.h"
#include "vidscore/partial_files.h"
#include "vidscore/model/task.h"
#include "vidscore/progress.h"
#include "vidscore/render/detections_writer.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;
constexpr int kMessageBytes = 1024;
constexpr int kCreditsPerRank = 2;  // chunks in flight per rank: one computing, one waiting

// What rank 0 tells every rank before the work starts, and what ranks tell back.
struct Status {
  int32_t code = 0;  // 0 ok, else the exit code
  int32_t width = 0, height = 0;
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

// A FIFO that blocks on pop until an item arrives or it is closed.
template <typename T>
class BlockingQueue {
 public:
  void push(T item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      items_.push_back(std::move(item));
    }
    cv_.notify_all();
  }
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !items_.empty() || closed_; });
    return take_locked();
  }
  std::optional<T> try_pop() {
    std::lock_guard<std::mutex> lock(mu_);
    return take_locked();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool drained() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_ && items_.empty();
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }

 private:
  std::optional<T> take_locked() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Everything rank 0's threads share.
class Coordinator {
 public:
  // `writer` and `detections` may be null (no video wanted; not a detection task).
  Coordinator(const Config& config, const JobPaths& paths, const MpiEnv& env, VideoReader& reader,
              VideoWriter* writer, DetectionsWriter* detections, Task& task)
      : paths_(paths),
        env_(env),
        reader_(reader),
        writer_(writer),
        detections_(detections),
        task_(task),
        chunk_frames_(config.effective_chunk_frames()),
        window_(config.window_chunks > 0 ? config.window_chunks
                                         : kCreditsPerRank * env.size() + 2),
        progress_(config.progress, config.progress_interval_s, reader.info().expected_frames()),
        frames_by_rank_(env.size(), 0),
        inference_by_rank_(env.size(), 0.0),
        in_flight_(env.size()) {}

  void run() {
    auto start = Clock::now();
    std::vector<std::thread> threads;
    threads.emplace_back([this] { guarded([this] { decode_loop(); }); });
    threads.emplace_back([this] { guarded([this] { local_loop(); }); });
    threads.emplace_back([this] { guarded([this] { encode_loop(); }); });
    try {
      dispatch_loop();
    } catch (...) {
      fail(std::current_exception());
    }
    if (failed_) shutdown();
    for (auto& t : threads) t.join();
    if (error_) std::rethrow_exception(error_);
    if (total_frames_ == 0)
      throw RuntimeError(paths_.input + ": video stream " +
                         std::to_string(reader_.info().stream_index) +
                         " has no decodable frames; nothing written");
    if (writer_) writer_->finish();
    if (detections_) detections_->finish();
    stop_workers();
    wall_s_ = seconds_since(start);
    progress_.finish(frames_written_);
    print_summary();
  }

 private:
  struct InFlight {
    Chunk chunk;
    std::vector<uint8_t> meta;
    MPI_Request requests[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  };

  template <typename Fn>
  void guarded(Fn&& fn) {
    try {
      fn();
    } catch (...) {
      fail(std::current_exception());
    }
  }

  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = e;
    }
    failed_ = true;
    shutdown();
  }

  // Wakes every thread so it can see failed_ and return.
  void shutdown() {
    decoded_.close();
    local_.close();
    {
      std::lock_guard<std::mutex> lock(mu_);
    }
    cv_.notify_all();
  }

  std::vector<uint8_t> take_buffer(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint8_t> buf;
    if (!pool_.empty()) {
      buf = std::move(pool_.back());
      pool_.pop_back();
    }
    buf.resize(bytes);
    return buf;
  }

  void decode_loop() {
    const FrameSize size = reader_.info().size;
    int64_t next_index = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return chunks_alive_ < window_ || failed_; });
        if (failed_) return;
        ++chunks_alive_;
        peak_chunks_alive_ = std::max(peak_chunks_alive_, chunks_alive_);
      }
      Chunk chunk;
      chunk.first_index = next_index;
      chunk.size = size;
      chunk.pixels = take_buffer(chunk_frames_ * size.rgb_bytes());
      auto t0 = Clock::now();
      for (int i = 0; i < chunk_frames_ && !failed_; ++i) {
        int64_t pts = 0;
        if (!reader_.read(chunk.frame(i), &pts)) break;
        chunk.pts.push_back(pts);
      }
      decode_s_ += seconds_since(t0);
      if (chunk.count() == 0) {
        std::lock_guard<std::mutex> lock(mu_);
        --chunks_alive_;
        break;
      }
      chunk.pixels.resize(chunk.count() * size.rgb_bytes());
      next_index += chunk.count();
      decoded_.push(std::move(chunk));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      total_frames_ = next_index;
      decode_done_ = true;
    }
    cv_.notify_all();
    decoded_.close();
  }

  void local_loop() {
    while (auto chunk = local_.pop()) {
      if (failed_) return;
      task_.process(*chunk);
      deliver(std::move(*chunk), 0, 0.0);
    }
  }

  // A processed chunk enters the reorder buffer.
  void deliver(Chunk chunk, int rank, double reported_inference_s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      frames_by_rank_[rank] += chunk.count();
      if (rank != 0) inference_by_rank_[rank] = reported_inference_s;
      int64_t key = chunk.first_index;
      reorder_.emplace(key, std::move(chunk));
    }
    cv_.notify_all();
  }

  void encode_loop() {
    int64_t next = 0;
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] {
          return failed_ || reorder_.count(next) || (decode_done_ && next >= total_frames_);
        });
        if (failed_) return;
        auto it = reorder_.find(next);
        if (it == reorder_.end()) return;  // every frame written
        chunk = std::move(it->second);
        reorder_.erase(it);
      }
      if (writer_)
        for (int i = 0; i < chunk.count(); ++i) writer_->write(chunk.frame(i), chunk.pts[i]);
      if (detections_) {
        std::vector<std::string> frames = split_frame_annotations(chunk.annotations);
        VIDSCORE_ASSERT(static_cast<int>(frames.size()) == chunk.count());
        const double tb = av_q2d(reader_.info().time_base);
        for (int i = 0; i < chunk.count(); ++i)
          detections_->add_frame(chunk.first_index + i, chunk.pts[i] * tb, frames[i]);
      }
      next += chunk.count();
      frames_written_ = next;
      progress_.update(next);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --chunks_alive_;
        pool_.push_back(std::move(chunk.pixels));
      }
      cv_.notify_all();
    }
  }

  // MPI thread: hands out chunks round-robin and collects results.
  void dispatch_loop() {
    std::optional<Chunk> pending;
    int64_t seq = 0;
    for (;;) {
      if (failed_) return;
      bool busy = false;
      if (!pending) {
        pending = decoded_.try_pop();
        if (!pending && decoded_.drained()) {
          // Nothing more to hand out: wait only for results still out.
          bool out = false;
          for (int r = 1; r < env_.size(); ++r) out |= !in_flight_[r].empty();
          if (!out) {
            local_.close();
            return;
          }
        }
      }
      if (pending) {
        int rank = static_cast<int>(seq % env_.size());
        if (rank == 0) {
          if (local_.size() < kCreditsPerRank) {
            local_.push(std::move(*pending));
            pending.reset();
          }
        } else if (in_flight_[rank].size() < kCreditsPerRank) {
          send_to(rank, std::move(*pending));
          pending.reset();
        }
        if (!pending) {
          ++seq;
          busy = true;
        }
      }
      if (env_.size() > 1) busy |= poll_results();
      // Chunks take tens of milliseconds at least: polling every millisecond costs no
      // throughput and leaves the cores to the model, the decoder and the encoder.
      if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void send_to(int rank, Chunk chunk) {
    auto t0 = Clock::now();
    auto f = std::make_unique<InFlight>();
    f->chunk = std::move(chunk);
    f->meta = pack_meta(f->chunk, 0.0);
    MPI_CHECK(MPI_Isend(f->meta.data(), static_cast<int>(f->meta.size()), MPI_BYTE, rank,
                        tag(Tag::kChunkMeta), MPI_COMM_WORLD, &f->requests[0]));
    MPI_CHECK(MPI_Isend(f->chunk.pixels.data(), static_cast<int>(f->chunk.pixels.size()),
                        MPI_BYTE, rank, tag(Tag::kChunkPixels), MPI_COMM_WORLD, &f->requests[1]));
    in_flight_[rank].push_back(std::move(f));
    transfer_s_ += seconds_since(t0);
  }

  // Takes in one result or error message if any is waiting. Returns whether it did.
  bool poll_results() {
    int flag = 0;
    MPI_Status st;
    MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, tag(Tag::kError), MPI_COMM_WORLD, &flag, &st));
    if (flag) {
      int n = 0;
      MPI_Get_count(&st, MPI_CHAR, &n);
      std::string text(n, '\0');
      MPI_CHECK(MPI_Recv(text.data(), n, MPI_CHAR, st.MPI_SOURCE, tag(Tag::kError),
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE));
      throw RuntimeError("rank " + std::to_string(st.MPI_SOURCE) + ": " + text);
    }
    MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, tag(Tag::kResultMeta), MPI_COMM_WORLD, &flag, &st));
    if (!flag) return false;
    auto t0 = Clock::now();
    int rank = st.MPI_SOURCE;
    VIDSCORE_ASSERT(rank > 0 && !in_flight_[rank].empty());
    std::unique_ptr<InFlight> f = std::move(in_flight_[rank].front());
    in_flight_[rank].pop_front();
    // The worker answered, so our sends are done; complete them before reusing the buffer.
    MPI_CHECK(MPI_Waitall(2, f->requests, MPI_STATUSES_IGNORE));
    const int64_t sent_first = f->chunk.first_index;
    double inference_s = recv_chunk(f->chunk, rank, Tag::kResultMeta, Tag::kResultPixels);
    VIDSCORE_ASSERT(f->chunk.first_index == sent_first);
    transfer_s_ += seconds_since(t0);
    deliver(std::move(f->chunk), rank, inference_s);
    return true;
  }

  void stop_workers() {
    for (int r = 1; r < env_.size(); ++r)
      MPI_CHECK(MPI_Send(nullptr, 0, MPI_BYTE, r, tag(Tag::kStop), MPI_COMM_WORLD));
  }

  void print_summary() {
    WriterStats ws = writer_ ? writer_->stats() : WriterStats{};
    inference_by_rank_[0] = task_.timings().inference_s;
    std::string written = writer_ ? paths_.output : "";
    if (detections_) written += (written.empty() ? "" : " + ") + detections_->path();
    std::fprintf(stderr, "vidscore: done: %lld frames in, %lld frames out, %.1f fps in %.2f s -> %s\n",
                 static_cast<long long>(total_frames_), static_cast<long long>(frames_written_),
                 wall_s_ > 0 ? frames_written_ / wall_s_ : 0.0, wall_s_, written.c_str());
    std::string ranks;
    for (int r = 0; r < env_.size(); ++r)
      ranks += (r ? ", " : "") + std::to_string(r) + ": " + std::to_string(frames_by_rank_[r]);
    std::fprintf(stderr, "vidscore: frames per rank: %s\n", ranks.c_str());
    std::string infer;
    for (int r = 0; r < env_.size(); ++r) {
      char buf[48];
      std::snprintf(buf, sizeof(buf), "%s%d: %.2f", r ? ", " : "", r, inference_by_rank_[r]);
      infer += buf;
    }
    std::fprintf(stderr,
                 "vidscore: stage seconds: decode %.2f, transfer %.2f, inference %.2f "
                 "(per rank %s), encode %.2f, mux %.2f\n",
                 decode_s_, transfer_s_, inference_by_rank_[0], infer.c_str(), ws.encode_s,
                 ws.mux_s);
    if (!writer_)
      ;  // no video written: no durations to compare
    else if (ws.copied.audio_end_s > 0)
      std::fprintf(stderr,
                   "vidscore: durations: video %.3f s, audio %.3f s, difference %+.3f s\n",
                   ws.video_end_s, ws.copied.audio_end_s, ws.copied.audio_end_s - ws.video_end_s);
    else
      std::fprintf(stderr, "vidscore: durations: video %.3f s, no audio\n", ws.video_end_s);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::fprintf(stderr,
                 "vidscore: rank 0 memory: peak RSS %.1f MiB; peak chunks held %d of %d "
                 "(%d frames each)\n",
                 usage.ru_maxrss / 1024.0, peak_chunks_alive_, window_, chunk_frames_);
  }

  const JobPaths& paths_;
  const MpiEnv& env_;
  VideoReader& reader_;
  VideoWriter* writer_;
  DetectionsWriter* detections_;
  Task& task_;
  const int chunk_frames_;
  const int window_;
  Progress progress_;

  std::mutex mu_;  // guards the fields below it unless atomic
  std::condition_variable cv_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
  int chunks_alive_ = 0;
  int peak_chunks_alive_ = 0;
  bool decode_done_ = false;
  int64_t total_frames_ = 0;
  std::map<int64_t, Chunk> reorder_;  // by first frame index
  std::vector<std::vector<uint8_t>> pool_;
  std::vector<int64_t> frames_by_rank_;
  std::vector<double> inference_by_rank_;

  BlockingQueue<Chunk> decoded_;
  BlockingQueue<Chunk> local_;
  std::vector<std::deque<std::unique_ptr<InFlight>>> in_flight_;  // MPI thread only

  double decode_s_ = 0;  // decoder thread; read after join
  double transfer_s_ = 0;  // MPI thread only
  int64_t frames_written_ = 0;  // encoder thread; read after join
  double wall_s_ = 0;
};

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
  bool video = config.task != "detect" || config.detect.write_video;
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

int run_rank0(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  Status status;
  std::unique_ptr<VideoReader> reader;
  std::unique_ptr<VideoWriter> writer;
  std::unique_ptr<DetectionsWriter> detections;
  std::vector<std::string> cleanup_notes;
  capture_error(status, [&] {
    cleanup_notes = check_paths(config, paths);
    reader = std::make_unique<VideoReader>(paths.input);
    const VideoInfo& info = reader->info();
    if (config.task != "detect" || config.detect.write_video) {
      WriterOptions wo{config.codec, config.crf, config.preset, config.pix_fmt,
                       config.audio_fallback_codec, config.audio_fallback_bitrate};
      writer = std::make_unique<VideoWriter>(paths.output, info, wo);
    }
    if (config.task == "detect") {
      DetectionsHeader h;
      h.input_path = paths.input;
      h.width = info.size.width;
      h.height = info.size.height;
      h.frame_rate = std::to_string(info.frame_rate.num) + "/" + std::to_string(info.frame_rate.den);
      h.time_base = std::to_string(info.time_base.num) + "/" + std::to_string(info.time_base.den);
      h.duration_s = info.duration_s;
      h.model_path = config.model_path;
      h.layout = config.detect.layout;
      if (!config.detect.class_names.empty())
        h.class_names = load_class_names(config.detect.class_names);
      detections = std::make_unique<DetectionsWriter>(detections_path(config, paths.output), h);
    }
    status.width = reader->info().size.width;
    status.height = reader->info().size.height;
  });
  MPI_CHECK(MPI_Bcast(&status, sizeof(Status), MPI_BYTE, 0, MPI_COMM_WORLD));
  if (status.code) {
    print_error(status.message);
    return status.code;
  }
  const VideoInfo& info = reader->info();

  Status mine;
  std::unique_ptr<Task> task;
  capture_error(mine, [&] { task = make_task(config, info.size, env.local_rank(), env.local_size()); });
  std::string where = env.host() + " " + (task ? task->device_name() : "-");
  std::vector<char> places(env.size() * 128, 0);
  MPI_CHECK(MPI_Gather(where.c_str(), 128, MPI_CHAR, places.data(), 128, MPI_CHAR, 0,
                       MPI_COMM_WORLD));
  if (int code = agree(mine, env)) return code;

  std::string map;
  for (int r = 0; r < env.size(); ++r)
    map += (r ? ", " : "") + std::to_string(r) + ": " + std::string(&places[r * 128]);
  std::fprintf(stderr, "vidscore: %s: %dx%d %s, %lld frames%s, %.2f s; %d rank%s (%s)\n",
               paths.input.c_str(), info.size.width, info.size.height, info.codec_name.c_str(),
               static_cast<long long>(info.expected_frames()),
               info.frame_count > 0 ? "" : " (estimated)", info.duration_s, env.size(),
               env.size() > 1 ? "s" : "", map.c_str());
  for (const auto& n : cleanup_notes) std::fprintf(stderr, "vidscore: note: %s\n", n.c_str());
  size_t notes_said = 0;
  if (writer)
    for (const auto& n : writer->notes()) {
      std::fprintf(stderr, "vidscore: note: %s\n", n.c_str());
      ++notes_said;
    }

  Coordinator(config, paths, env, *reader, writer.get(), detections.get(), *task).run();
  if (writer) {  // found while copying (timestamp resets in the audio)
    auto notes = writer->notes();
    for (size_t i = notes_said; i < notes.size(); ++i)
      std::fprintf(stderr, "vidscore: note: %s\n", notes[i].c_str());
  }
  for (const auto& n : reader->notes()) std::fprintf(stderr, "vidscore: note: %s\n", n.c_str());
  return reader->damaged() ? kExitDamagedInput : 0;
}

int run_worker(const Config& config, const MpiEnv& env) {
  Status job;
  MPI_CHECK(MPI_Bcast(&job, sizeof(Status), MPI_BYTE, 0, MPI_COMM_WORLD));
  if (job.code) return job.code;

  Status mine;
  std::unique_ptr<Task> task;
  capture_error(mine, [&] {
    task = make_task(config, {job.width, job.height}, env.local_rank(), env.local_size());
  });
  char where[128] = {0};
  std::snprintf(where, sizeof(where), "%s %s", env.host().c_str(),
                task ? task->device_name().c_str() : "-");
  MPI_CHECK(MPI_Gather(where, 128, MPI_CHAR, nullptr, 128, MPI_CHAR, 0, MPI_COMM_WORLD));
  if (int code = agree(mine, env)) return code;

  Chunk chunk;
  try {
    for (;;) {
      MPI_Status st;
      MPI_CHECK(MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st));
      if (st.MPI_TAG == tag(Tag::kStop)) {
        MPI_CHECK(MPI_Recv(nullptr, 0, MPI_BYTE, 0, tag(Tag::kStop), MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
        return 0;
      }
      recv_chunk(chunk, 0, Tag::kChunkMeta, Tag::kChunkPixels);
      task->process(chunk);
      send_chunk(chunk, task->timings().inference_s, 0, Tag::kResultMeta, Tag::kResultPixels);
    }
  } catch (const std::exception& e) {
    // Rank 0 prints it and ends the job; wait here to be stopped or aborted.
    std::string text = e.what();
    MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, 0, tag(Tag::kError),
             MPI_COMM_WORLD);
    MPI_Recv(nullptr, 0, MPI_BYTE, 0, tag(Tag::kStop), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return 1;
  }
}

}  // namespace

int run_job(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  return env.rank() == 0 ? run_rank0(config, paths, env) : run_worker(config, env);
}

}  // namespace vidscore
