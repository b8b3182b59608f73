// A task turns a chunk of RGB frames into its results in place: restyled pixels (style), later
// annotated pixels plus detections. The header keeps torch out of its users (pipeline, main).
// One Task per rank. process() may run on several threads at once (the worker's model streams,
// each on its own chunk); the float path (load_yuv .. store_yuv) runs on one thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "vidscore/config.h"
#include "vidscore/frame.h"

namespace vidscore {

struct TaskTimings {
  double inference_s = 0;  // pre-processing, forward and post-processing, warm-up excluded
  double preprocess_s = 0;  // of that, pictures brought to the model's input size (classify,
                            // embed)
  int64_t frames = 0;
  // Frames whose model output had NaN or infinite values (written as 0, or clamped to 0-255).
  int64_t nonfinite_frames = 0;
};

class Task {
 public:
  virtual ~Task() = default;
  // Processes every frame of the chunk in batches; replaces chunk.pixels (and may fill
  // chunk.annotations). Throws RuntimeError when the model's output does not fit the task.
  virtual void process(Chunk& chunk) = 0;
  // The size the task wants its frames in, for frames of `frame` size. A task that never shows
  // its frames again (detections only) asks for them at the model's resolution, so the YUV ->
  // RGB conversion also does the resize, once, instead of a full-size conversion and a float
  // resize of every frame. Default: the frame's own size.
  virtual FrameSize input_frame_size(FrameSize frame) const { return frame; }
  // The float path: decoded YUV pictures go straight into the model's float input and its
  // output straight back into the encoder's YUV planes, with no packed RGB between (one pass
  // each way, see yuv_tensor.h). A task that takes it (takes_yuv) is given up to batch_size
  // pictures with load_yuv (load_rgb for a frame that is not 8-bit planar YUV of the video's
  // size) into slots 0..n-1, runs them with run_loaded(n), and gives each result with
  // store_yuv. Same results as process() on the pictures in RGB, without its rounding to 8 bits.
  virtual bool takes_yuv() const { return false; }
  virtual void load_yuv(const YuvImage& picture, int slot);
  virtual void load_rgb(const uint8_t* rgb, FrameSize size, int slot);
  virtual void run_loaded(int frames);
  virtual void store_yuv(int slot, YuvImage& picture);

  // Image folders: pictures of any size, each pre-processed to the model's input (see
  // image_transform.h) and run in batches; one annotation per picture. Only the tasks that
  // score pictures (classify, embed) take images.
  virtual bool takes_images() const { return false; }
  virtual std::vector<std::string> process_images(const std::vector<const RgbImage*>& images);

  // "cpu" or "cuda:N": where the model runs.
  virtual std::string device_name() const = 0;
  // Totals so far, over every thread that ran the task.
  TaskTimings timings() const {
    std::lock_guard<std::mutex> lock(timings_mu_);
    return timings_;
  }

  // Intra-op threads for process(). OpenMP keeps the thread count per calling thread, so
  // process() applies it on whichever thread runs it (rank 0 runs the model off the main thread).
  void set_threads(int threads) { threads_ = threads; }
  int threads() const { return threads_; }
  // Frames per forward call: model.batch_size, or its auto value on this rank's device.
  int batch_size() const { return batch_size_; }
  void set_batch_size(int frames) { batch_size_ = frames; }

 protected:
  void add_timings(double inference_s, int64_t frames, double preprocess_s = 0) {
    std::lock_guard<std::mutex> lock(timings_mu_);
    timings_.inference_s += inference_s;
    timings_.preprocess_s += preprocess_s;
    timings_.frames += frames;
  }
  void add_nonfinite_frames(int64_t frames) {
    std::lock_guard<std::mutex> lock(timings_mu_);
    timings_.nonfinite_frames += frames;
  }
  int threads_ = 1;
  int batch_size_ = 1;  // set once by make_task, before the task runs

 private:
  mutable std::mutex timings_mu_;
  TaskTimings timings_;
};

// Intra-op threads for the tasks run on the calling thread from now on, whatever the task's own
// count (0: the task's): a model stream's share of the rank's threads.
void set_stream_threads(int threads);

// Tunes glibc's allocator for tensor-sized blocks (see task.cpp; no effect with tcmalloc, the
// default build). Call first thing in main, before any thread starts; make_task calls it too.
// Idempotent.
void keep_freed_memory_for_reuse();

// Loads the model of `config` once onto the device picked for this rank (`local_rank` on its
// node, among `local_size`), sets intra-op threads, and runs one warm-up batch of `frame` size,
// which also checks the model's output against the task. Throws UsageError when the model file
// is missing or not TorchScript, RuntimeError when its output does not fit.
std::unique_ptr<Task> make_task(const Config& config, FrameSize frame, int local_rank,
                                int local_size);

}  // namespace vidscore
