#include "vidscore/cluster/scheduler.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "vidscore/cluster/protocol.h"
#include "vidscore/error.h"
#include "vidscore/timing.h"

namespace vidscore {

Scheduler::Scheduler(const MpiEnv& env, NextSegment source, RankWorker& local,
                     Assembler& assembler, int window, std::function<WorkFolder*(int)> work_of)
    : env_(env),
      source_(std::move(source)),
      local_(local),
      assembler_(assembler),
      window_(window),
      work_of_(std::move(work_of)),
      in_flight_(env.size()),
      input_sent_(env.size(), -1) {
  assembler_.on_written([this] { segment_written(); });
}

void Scheduler::fail(std::exception_ptr e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = e;
  }
  failed_ = true;
  shutdown();
}

void Scheduler::shutdown() {
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
  assembler_.stop();
}

void Scheduler::segment_written() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --alive_;
  }
  cv_.notify_all();
}

void Scheduler::plan_loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return alive_ < window_ || failed_; });
      if (failed_) return;
    }
    auto t0 = Clock::now();
    std::optional<SegmentWork> work = source_();
    stats_.plan_s += seconds_since(t0);
    std::optional<SegmentResult> kept;
    WorkFolder* folder = work && work_of_ ? work_of_(work->input) : nullptr;
    if (folder) kept = folder->reuse(work->index);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!work) {
        planning_done_ = true;
        assembler_.planning_done();
        break;
      }
      ++stats_.segments;
      ++alive_;
      stats_.peak_alive = std::max(stats_.peak_alive, alive_);
      if (!kept) planned_.push_back(std::move(*work));
    }
    cv_.notify_all();  // the dispatcher may be waiting for it
    if (kept) {
      ++stats_.reused;
      kept->input = work->input;
      assembler_.deliver(std::move(*kept));
    }
  }
  cv_.notify_all();
}

void Scheduler::local_loop() {
  local_.on_results(
      [this](SegmentResult res) {
        finished(std::move(res));
        {
          std::lock_guard<std::mutex> lock(mu_);
          --local_busy_;
        }
        cv_.notify_all();
      },
      [this] {
        // A flush ended on its own thread: wake the wait below.
        std::lock_guard<std::mutex> lock(mu_);
        cv_.notify_all();
      });
  // However the loop ends, no flush may outlive it (they call back into this scheduler).
  struct Abandon {
    RankWorker& worker;
    ~Abandon() { worker.abandon(); }
  } abandon{local_};
  for (;;) {
    SegmentWork work;
    bool flushed = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return failed_ || !local_queue_.empty() || local_.oldest_ready() ||
               (planning_done_ && planned_.empty() && local_queue_.empty() &&
                !local_.pending() && local_busy_ == 0);
      });
      if (failed_) return;
      if (local_queue_.empty()) {
        if (!local_.pending()) return;
        flushed = true;  // a result to hand back; the next segment has not come yet
      } else {
        work = std::move(local_queue_.front());
        local_queue_.pop_front();
      }
    }
    if (!flushed) local_.start(work);  // the segment before may still be flushing: they overlap
    local_.deliver_ready();  // a segment flushed in line is ready now
  }
}

void Scheduler::finished(SegmentResult res) {
  if (!res.error.empty()) {
    if (res.rank > 0) res.error = "rank " + std::to_string(res.rank) + ": " + res.error;
    if (end_on_segment_error_) throw RuntimeError(res.error);
    std::lock_guard<std::mutex> lock(failed_mu_);
    failed_inputs_.insert(res.input);
  } else if (WorkFolder* folder = work_of_ ? work_of_(res.input) : nullptr) {
    folder->keep(res);
  }
  assembler_.deliver(std::move(res));
}

void Scheduler::send_to(int rank, SegmentWork work) {
  auto t0 = Clock::now();
  InFlight f;
  f.input = work.input;
  f.index = work.index;
  f.bytes = pack_work(work, input_sent_[rank] != work.input);
  input_sent_[rank] = work.input;
  stats_.bytes_sent += f.bytes.size();
  MPI_CHECK(MPI_Isend(f.bytes.data(), static_cast<int>(f.bytes.size()), MPI_BYTE, rank,
                      tag(Tag::kSegment), MPI_COMM_WORLD, &f.request));
  in_flight_[rank].push_back(std::move(f));
  stats_.transfer_s += seconds_since(t0);
}

bool Scheduler::poll_results() {
  int flag = 0;
  MPI_Status st;
  MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st));
  if (!flag) return false;
  auto t0 = Clock::now();
  Incoming in{st.MPI_TAG, st.MPI_SOURCE, 0};
  MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &in.bytes));
  std::vector<uint8_t> bytes = receive(in);
  if (in.tag == tag(Tag::kError))
    throw RuntimeError("rank " + std::to_string(in.source) + ": " +
                       std::string(bytes.begin(), bytes.end()));
  VIDSCORE_ASSERT(in.tag == tag(Tag::kResult));
  stats_.bytes_received += bytes.size();
  SegmentResult res = unpack_result(bytes);
  auto& queue = in_flight_[in.source];
  VIDSCORE_ASSERT(!queue.empty() && queue.front().index == res.index &&
                  queue.front().input == res.input);
  // The rank answered, so our send is done; complete it before freeing its buffer.
  MPI_CHECK(MPI_Wait(&queue.front().request, MPI_STATUS_IGNORE));
  queue.pop_front();
  stats_.transfer_s += seconds_since(t0);
  finished(std::move(res));
  return true;
}

void Scheduler::dispatch_loop() {
  const int ranks = env_.size();
  constexpr auto kFirstWait = std::chrono::microseconds(100);
  constexpr auto kLongestWait = std::chrono::microseconds(10000);
  auto idle_wait = kFirstWait;
  for (;;) {
    if (failed_) return;
    bool busy = false;
    std::optional<SegmentWork> remote;  // to send, outside the lock
    int remote_rank = 0;
    bool all_planned_and_sent = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!planned_.empty()) {
        // The rank with the most free capacity; ties go round the ranks.
        int best = -1, best_free = 0;
        for (int k = 0; k < ranks; ++k) {
          const int r = static_cast<int>((next_rank_hint_ + k) % ranks);
          const int held = r == 0 ? local_busy_ : static_cast<int>(in_flight_[r].size());
          if (kCreditsPerRank - held > best_free) {
            best = r;
            best_free = kCreditsPerRank - held;
          }
        }
        if (best >= 0) {
          SegmentWork work = std::move(planned_.front());
          planned_.pop_front();
          next_rank_hint_ = best + 1;
          busy = true;
          if (best == 0) {
            local_queue_.push_back(std::move(work));
            ++local_busy_;
          } else {
            remote = std::move(work);
            remote_rank = best;
          }
        }
      }
      all_planned_and_sent = planning_done_ && planned_.empty();
    }
    if (remote) send_to(remote_rank, std::move(*remote));
    if (busy) cv_.notify_all();
    if (ranks > 1) busy |= poll_results();
    if (all_planned_and_sent) {
      bool out = false;
      for (int r = 1; r < ranks; ++r) out |= !in_flight_[r].empty();
      if (!out) return;
    }
    // Rank 0's own worker shares this rank's cores with this loop: probing every millisecond
    // cost it 5% of its frames per second (1080p identity, one core per rank). While nothing
    // happens the probes back off, 0.1 ms doubling to 10 ms, and rank 0's own events (a segment
    // planned, a result of its worker) wake the loop at once. A remote rank holds a second
    // segment meanwhile, so a later probe does not leave it waiting.
    if (busy) {
      idle_wait = kFirstWait;
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, idle_wait);
      idle_wait = std::min(idle_wait * 2, kLongestWait);
    }
  }
}

void Scheduler::run() {
  std::vector<std::thread> threads;
  auto guarded = [this](void (Scheduler::*fn)()) {
    return [this, fn] {
      try {
        (this->*fn)();
      } catch (...) {
        fail(std::current_exception());
      }
    };
  };
  threads.emplace_back(guarded(&Scheduler::plan_loop));
  threads.emplace_back(guarded(&Scheduler::local_loop));
  threads.emplace_back([this] {
    try {
      assembler_.run();
    } catch (...) {
      fail(std::current_exception());
    }
  });
  try {
    dispatch_loop();
  } catch (...) {
    fail(std::current_exception());
  }
  // Wait for the local worker and the assembler to finish what is left.
  if (!failed_) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  threads[0].join();
  threads[1].join();
  threads[2].join();
  if (error_) std::rethrow_exception(error_);
  for (int r = 1; r < env_.size(); ++r)
    MPI_CHECK(MPI_Send(nullptr, 0, MPI_BYTE, r, tag(Tag::kStop), MPI_COMM_WORLD));
}

}  // namespace vidscore
