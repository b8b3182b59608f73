// Model streams: a rank's batches run through its task on several threads at once, each with a
// share of the rank's intra-op threads, while the worker goes on decoding and converting the
// next batch. A small model (YOLOX-Nano at 416x416) keeps two cores far busier as two streams of
// one thread than as one stream of two (its many small layers leave intra-op threads waiting on
// each other); decoding and conversion overlap the model too. Batches come back in the order
// they went in.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "vidscore/frame.h"
#include "vidscore/model/task.h"

namespace vidscore {

class ModelStreams {
 public:
  // `streams` threads (at least 2), each running task.process() with `threads_per_stream`
  // intra-op threads.
  ModelStreams(Task& task, int streams, int threads_per_stream);
  ~ModelStreams();  // lets the running batches end, then stops the threads
  ModelStreams(const ModelStreams&) = delete;
  ModelStreams& operator=(const ModelStreams&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }
  int running() const;  // submitted and not yet taken back
  // Starts task.process(*chunk) on the next free stream (call only while running() < size());
  // the chunk is the stream's until take_oldest() gives it back.
  void submit(Chunk* chunk);
  // Waits for the oldest submitted chunk and gives it back; rethrows what process() threw.
  Chunk* take_oldest();

 private:
  struct Job {
    Chunk* chunk = nullptr;
    bool started = false, done = false;
    std::exception_ptr error;
  };
  void serve();

  Task& task_;
  int threads_per_stream_;
  mutable std::mutex mu_;
  std::condition_variable work_, finished_;
  std::deque<Job> jobs_;  // in submission order
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vidscore
