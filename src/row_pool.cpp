#include "vidscore/row_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace vidscore {
namespace {

// One pool for the process, grown to the most threads asked for. It is never destroyed: its
// workers sleep until the process ends, so exit paths never wait for them.
class RowPool {
 public:
  void run(int64_t n, int64_t grain, int threads,
           const std::function<void(int64_t, int64_t)>& fn) {
    std::lock_guard<std::mutex> turn(turn_);  // one call at a time
    grow(threads - 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      piece_ = std::max<int64_t>(grain, (n + 4 * threads - 1) / (4 * threads));
      next_.store(0);
      helpers_ = threads - 1;
      busy_ = helpers_;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void grow(int helpers) {
    while (static_cast<int>(workers_.size()) < helpers) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { serve(index); });
      workers_.back().detach();
    }
  }

  // Takes pieces until none is left.
  void work() {
    for (;;) {
      const int64_t begin = next_.fetch_add(piece_);
      if (begin >= n_) return;
      try {
        (*fn_)(begin, std::min(n_, begin + piece_));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_);  // no new pieces
      }
    }
  }

  void serve(int index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      // Workers past this call's count stay asleep.
      wake_.wait(lock, [&] { return generation_ != seen && index < helpers_; });
      seen = generation_;
      lock.unlock();
      work();
      lock.lock();
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::mutex turn_, mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, piece_ = 1;
  std::atomic<int64_t> next_{0};
  int helpers_ = 0, busy_ = 0;
  uint64_t generation_ = 0;
  std::exception_ptr error_;
};

}  // namespace

void parallel_rows(int64_t n, int64_t grain, int threads,
                   const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  threads = static_cast<int>(std::min<int64_t>(std::max(threads, 1), (n + grain - 1) / grain));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  static RowPool* pool = new RowPool;  // never destroyed, see above
  pool->run(n, grain, threads, fn);
}

}  // namespace vidscore
