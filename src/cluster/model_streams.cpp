#include "vidscore/cluster/model_streams.h"

#include <algorithm>

#include "vidscore/error.h"

namespace vidscore {

ModelStreams::ModelStreams(Task& task, int streams, int threads_per_stream)
    : task_(task), threads_per_stream_(std::max(1, threads_per_stream)) {
  VIDSCORE_ASSERT(streams >= 2);
  for (int i = 0; i < streams; ++i) threads_.emplace_back([this] { serve(); });
}

ModelStreams::~ModelStreams() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

int ModelStreams::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(jobs_.size());
}

void ModelStreams::submit(Chunk* chunk) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    VIDSCORE_ASSERT(static_cast<int>(jobs_.size()) < size());
    Job job;
    job.chunk = chunk;
    jobs_.push_back(job);
  }
  work_.notify_one();
}

Chunk* ModelStreams::take_oldest() {
  std::unique_lock<std::mutex> lock(mu_);
  VIDSCORE_ASSERT(!jobs_.empty());
  finished_.wait(lock, [&] { return jobs_.front().done; });
  Job job = jobs_.front();
  jobs_.pop_front();
  if (job.error) std::rethrow_exception(job.error);
  return job.chunk;
}

void ModelStreams::serve() {
  set_stream_threads(threads_per_stream_);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    Job* job = nullptr;
    work_.wait(lock, [&] {
      if (stopping_) return true;
      for (Job& j : jobs_)
        if (!j.started) return true;
      return false;
    });
    for (Job& j : jobs_)
      if (!j.started) {
        job = &j;
        break;
      }
    if (!job) return;  // stopping, nothing left to start
    job->started = true;
    Chunk* chunk = job->chunk;
    lock.unlock();
    std::exception_ptr error;
    try {
      task_.process(*chunk);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    // jobs_ is a deque: the job stays where it was while it runs (only the front is removed,
    // and only once done).
    job->done = true;
    job->error = error;
    finished_.notify_all();
  }
}

}  // namespace vidscore
