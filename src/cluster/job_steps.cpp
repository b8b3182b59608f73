#include "vidscore/cluster/job_steps.h"

#include <sys/resource.h>

#include <cstring>
#include <thread>

#include "vidscore/bytes.h"
#include "vidscore/cluster/input_job.h"
#include "vidscore/media/stream_params.h"

namespace vidscore {

void print_error(const std::string& text) {
  std::fprintf(stderr, "vidscore: error: %s\n", text.c_str());
  std::fflush(stderr);
}

void print_note(const std::string& text) {
  std::fprintf(stderr, "vidscore: note: %s\n", text.c_str());
}

int agree(const Status& mine, const MpiEnv& env) {
  std::vector<Status> all(env.rank() == 0 ? env.size() : 0);
  env.gather(&mine, sizeof(Status), all.data());
  int32_t code = 0;
  if (env.rank() == 0) {
    for (int r = 0; r < env.size() && code == 0; ++r) {
      if (all[r].code == 0) continue;
      code = all[r].code;
      print_error((env.size() > 1 && r > 0 ? "rank " + std::to_string(r) + ": " : "") +
                  all[r].message);
    }
  }
  env.broadcast(&code, sizeof(code));
  return code;
}

void broadcast_bytes(std::vector<uint8_t>& bytes, const MpiEnv& env) {
  uint64_t n = bytes.size();
  env.broadcast(&n, sizeof(n));
  bytes.resize(n);
  env.broadcast(bytes.data(), static_cast<int>(n));
}

int set_up_rank(const Config& config, int32_t first,
                const std::shared_ptr<const std::vector<uint8_t>>& setup, const MpiEnv& env,
                RankSetup& out) {
  Status mine;
  auto load = [&] {
    capture_error(mine, [&] {
      FrameSize frame{config.image.width, config.image.height};
      if (first != kImageJob) {
        ByteReader r(*setup);
        frame = unpack_video_info(r).size;
      }
      out.task = make_task(config, frame, env.local_rank(), env.local_size());
      if (first == kImageJob && !out.task->takes_images())
        throw UsageError("task \"" + config.task + "\" does not take images");
      out.worker = std::make_unique<RankWorker>(config, *out.task, writes_video(config),
                                                env.rank());
      if (first != kImageJob) out.worker->prepare(first, setup);
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
  if (out.task)
    std::snprintf(where, sizeof(where), "%s %s, batch %d", env.host().c_str(),
                  out.task->device_name().c_str(), out.task->batch_size());
  else
    std::snprintf(where, sizeof(where), "%s -", env.host().c_str());
  std::vector<char> all(env.rank() == 0 ? env.size() * 128 : 0, 0);
  env.gather(where, sizeof(where), all.data());
  for (int r = 0; env.rank() == 0 && r < env.size(); ++r) out.places.emplace_back(&all[r * 128]);
  return agree(mine, env);
}

std::string rank_map(const RankSetup& rank) {
  std::string map;
  for (size_t r = 0; r < rank.places.size(); ++r)
    map += (r ? "; " : "") + std::to_string(r) + ": " + rank.places[r];
  return map;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

void print_rank_summary(double cpu0_s, int64_t frames, const Assembler& assembler,
                        const SchedulerStats& sched, const WriterStats* ws, bool packets,
                        const char* unit) {
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
  std::fprintf(stderr, "vidscore: %ss per rank: %s\n", unit, per_rank.c_str());
  std::fprintf(stderr,
               "vidscore: stage seconds (all ranks): %s %.2f, decode %.2f, convert %.2f, "
               "inference %.2f, encode %.2f; rank 0: transfer %.2f, mux %.2f\n",
               std::strcmp(unit, "image") == 0 ? "read" : packets ? "demux" : "demux+decode (rank 0)", sched.plan_s, sum.decode_s,
               sum.convert_s, sum.inference_s, sum.encode_s, sched.transfer_s,
               ws ? ws->mux_s : 0.0);
  const double per_frame = frames > 0 ? 1.0 / frames : 0.0;
  std::fprintf(stderr,
               "vidscore: rank 0: %.4f CPU s per %s; MPI %.0f bytes per %s (%lld sent, "
               "%lld received)\n",
               cpu0_s * per_frame, unit, (sched.bytes_sent + sched.bytes_received) * per_frame, unit,
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

}  // namespace vidscore
