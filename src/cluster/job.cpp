#include "vidscore/cluster/job.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "vidscore/cluster/assembler.h"
#include "vidscore/cluster/input_job.h"
#include "vidscore/cluster/image_job.h"
#include "vidscore/cluster/job_steps.h"
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
#include "vidscore/render/results_writer.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;

std::string reused_text(int64_t reused) {
  return reused > 0 ? " (" + std::to_string(reused) + " reused from an earlier run)" : "";
}

int run_rank0(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  const bool archive = is_archive_job(paths.inputs);
  Status status;
  std::vector<std::string> job_notes;
  // The inputs, found once (folders are searched by content). Tasks that score pictures look
  // for images too: images make an image job (image_job.h).
  const bool pictures = config.task == "classify" || config.task == "embed";
  std::vector<JobInput> found;
  capture_error(status, [&] {
    if (archive || pictures) found = expand_inputs(paths.inputs, job_notes, pictures);
  });
  if (status.code == 0 && is_image_job(config, found, paths.output))
    return run_image_job_rank0(config, paths, env, found, job_notes);
  if (pictures) {  // a video job: the images found are skipped
    std::string names;
    size_t images = 0;
    for (const auto& in : found)
      if (in.image && images++ < 5) names += (names.empty() ? "" : ", ") + in.relative;
    found.erase(std::remove_if(found.begin(), found.end(), [](const JobInput& in) { return in.image; }),
                found.end());
    if (images > 0)
      job_notes.push_back("skipped " + std::to_string(images) + " file" + (images > 1 ? "s" : "") +
                          " (" + names + (images > 5 ? ", ..." : "") + "): image" +
                          (images > 1 ? "s" : "") + ", and with a folder for output this job "
                          "scores the videos; give --output NAME" +
                          (config.task == "embed" ? ".npy" : ".jsonl") + " to score the images");
  }
  std::vector<std::unique_ptr<InputJob>> jobs;
  if (status.code == 0)
    capture_error(status, [&] { jobs = plan_inputs(config, paths, archive, found); });

  // Opens input i when its turn comes; an archive job goes on past inputs that fail.
  auto open = [&](InputJob& job) {
    Status st;
    capture_error(st, [&] {
      if (!archive) return;
      // Outputs mirror the input's subfolders.
      std::error_code ec;
      const fs::path dir = fs::path(job.output).parent_path();
      if (!dir.empty()) fs::create_directories(dir, ec);
      if (ec) throw RuntimeError("cannot create folder " + dir.string() + ": " + ec.message());
      // Before the skip: "--input a.mp4 --output ." must not take the input for its output.
      check_output_path(job.input, job.output);
    });
    if (!st.code && archive && !paths.overwrite && outputs_exist(config, job)) {
      job.state = InputJob::State::kSkipped;
      return;
    }
    if (!st.code) capture_error(st, [&] { open_input(config, env.size(), job); });
    if (st.code) {
      if (job.work && job.work->unused_and_new()) job.work->remove();  // made for nothing
      job.work.reset();
      job.state = InputJob::State::kFailed;
      job.exit_code = st.code;
      job.failure = st.message;
      job.source.reset();
      job.muxer.reset();
      job.results.reset();
    }
  };
  // The first input that opens sets the model's warm-up size.
  int first = -1;
  for (size_t i = 0; status.code == 0 && i < jobs.size() && first < 0; ++i) {
    open(*jobs[i]);
    if (jobs[i]->state == InputJob::State::kOpen) {
      first = static_cast<int>(i);
    } else if (!archive) {
      for (const auto& n : jobs[i]->open_notes) print_note(n);  // e.g. kept segments not reused
      status.set_error(jobs[i]->exit_code, jobs[i]->failure);
    }
  }
  // Every failed input failed on a usage error (a setting no input can take): exit code 2.
  auto all_usage_errors = [&] {
    bool any = false;
    for (const auto& j : jobs)
      if (j->state == InputJob::State::kFailed) {
        if (j->exit_code != 2) return false;
        any = true;
      }
    return any;
  };
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
    no_work_code = failed == 0 ? 0 : skipped > 0 ? kExitFailedInputs : all_usage_errors() ? 2 : 1;
    status.code = -1;  // the ranks have nothing to do
  }
  env.broadcast(&status, sizeof(Status));
  if (status.code == -1) return no_work_code;
  if (status.code) {
    print_error(status.message);
    return status.code;
  }
  int32_t first_id = first;
  env.broadcast(&first_id, sizeof(first_id));
  std::vector<uint8_t> first_setup = *jobs[first]->setup;
  broadcast_bytes(first_setup, env);

  // A failed job keeps the work folders that hold finished segments (the next run resumes from
  // them) and removes the others.
  auto drop_empty_work_folders = [&] {
    for (const auto& job : jobs)
      if (job->work && job->work->unused_and_new()) {
        job->work->remove();
        job->work.reset();
      }
  };
  RankSetup rank;
  if (int code = set_up_rank(config, first_id, jobs[first]->setup, env, rank)) {
    drop_empty_work_folders();
    return code;
  }

  const std::string map = rank_map(rank);
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
    return InputSinks{job.muxer.get(), job.results.get(), av_q2d(job.info.time_base)};
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
      job.results.reset();
      job.work.reset();
      job.setup.reset();
    }
  };
  Assembler assembler(progress, env.size(), sinks, on_finished);
  assembler.fail_input_on_write_error(archive);

  // The planner's source: the segments of every input in turn.
  size_t current = 0;
  const Scheduler* scheduler_of_job = nullptr;
  auto next_segment = [&]() -> std::optional<SegmentWork> {
    while (current < jobs.size()) {
      InputJob& job = *jobs[current];
      if (job.state == InputJob::State::kPending) open(job);
      if (job.state == InputJob::State::kOpen) {
        std::optional<SegmentWork> w;
        try {
          // An input a rank already failed: the rest of it is not planned (its failure is
          // reported when its planned segments are in).
          if (!scheduler_of_job->input_failed(job.id)) w = job.source->next();
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
  scheduler_of_job = &scheduler;
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
    return done + skipped > 0 ? kExitFailedInputs : all_usage_errors() ? 2 : 1;
  }
  return damaged ? kExitDamagedInput : 0;
}

int run_worker(const Config& config, const MpiEnv& env) {
  Status job;
  env.broadcast(&job, sizeof(Status));
  if (job.code == -1) return 0;
  if (job.code) return job.code;
  int32_t first_id = 0;
  env.broadcast(&first_id, sizeof(first_id));
  std::vector<uint8_t> first_setup;
  broadcast_bytes(first_setup, env);  // empty for an image job (first_id kImageJob)
  RankSetup rank;
  if (int code = set_up_rank(config, first_id,
                             std::make_shared<const std::vector<uint8_t>>(std::move(first_setup)),
                             env, rank))
    return code;
  return worker_loop(*rank.worker);
}

}  // namespace

int run_job(const Config& config, const JobPaths& paths, const MpiEnv& env) {
  return env.rank() == 0 ? run_rank0(config, paths, env) : run_worker(config, env);
}

}  // namespace vidscore
