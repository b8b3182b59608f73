#include "vidscore/model/task.h"

#include <dlfcn.h>
#include <malloc.h>

#include <filesystem>

#include <torch/torch.h>

#include "vidscore/error.h"
#include "vidscore/model/detect_task.h"
#include "vidscore/model/score_task.h"
#include "vidscore/model/style_task.h"

namespace vidscore {

// For builds on glibc's malloc (-DVIDSCORE_TCMALLOC=OFF; with tcmalloc, the default, mallopt does
// nothing and tcmalloc keeps freed memory itself). libtorch's CPU allocator takes each activation
// tensor from malloc and gives it back after the layer. glibc serves blocks above its mmap
// threshold with fresh mmap()s and trims freed heap back to the OS, so every forward call paid for
// page faults and zeroing of tens of MB: on 2 cores style_candy at 320x240 ran at 2.0 fps this way
// and 7.6 fps with freed memory kept for reuse. A thread other than main gets its own arena of
// 64 MB heaps, which cannot hold such blocks and fall back to mmap: one arena for all threads
// keeps them in the reused heap (3.6 -> 6.9 fps end to end), at the price of one lock for every
// malloc of every thread (two YOLOX-Nano model streams, 1080p, 251 frames: 5.8 s, against 4.5 s
// with tcmalloc).
void keep_freed_memory_for_reuse() {
  static bool done = [] {
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

// Tasks without the float path are never asked to take it (takes_yuv() is false).
void Task::load_yuv(const YuvImage&, int) { VIDSCORE_ASSERT(takes_yuv()); }
void Task::load_rgb(const uint8_t*, FrameSize, int) { VIDSCORE_ASSERT(takes_yuv()); }
void Task::run_loaded(int) { VIDSCORE_ASSERT(takes_yuv()); }
void Task::store_yuv(int, YuvImage&) { VIDSCORE_ASSERT(takes_yuv()); }
std::vector<std::string> Task::process_images(const std::vector<const RgbImage*>&) {
  VIDSCORE_ASSERT(takes_images());
  return {};
}

namespace {

// Custom operator libraries (torchvision's C++ ops) register themselves with torch when loaded;
// they must be in before the model that uses them. Loaded once per process, never unloaded.
void load_operator_libraries(const std::vector<std::string>& libraries) {
  for (const std::string& lib : libraries) {
    std::error_code ec;
    if (!std::filesystem::exists(lib, ec))
      throw UsageError("operator library " + lib + ": No such file or directory");
    if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL))
      throw UsageError("operator library " + lib + ": cannot load: " + dlerror());
  }
}

}  // namespace

std::unique_ptr<Task> make_task(const Config& config, FrameSize frame, int local_rank,
                                int local_size) {
  keep_freed_memory_for_reuse();
  torch::Device device = pick_device(config.device, local_rank);
  const int threads = pick_threads(config.threads, local_size);
  // Auto batch: 4 frames per call keep a GPU busy; on a CPU a batch buys no speed (one frame's
  // work already fills the cores) and costs some: the encoder gets frames in bursts, and 1080p
  // float batches (25 MB a frame, in and out) stay in memory. Measured on the 2-core VM: 1080p
  // identity 4.5 -> 4.3 s, style_candy 320x240 model-only 15.7 -> 14.5 s (100 frames),
  // YOLOX-Nano unchanged.
  const int batch = config.batch_size > 0 ? config.batch_size : device.is_cuda() ? 4 : 1;
  use_threads(threads);
  if (config.precision == "fp16" && !device.is_cuda())
    throw UsageError("precision \"fp16\" needs a CUDA device, this rank runs on " + device.str());
  c10::InferenceMode guard;
  std::vector<uint8_t> grey(frame.rgb_bytes(), 128);
  // Warm-up on a mid-grey frame: checks the output early and keeps first-call costs (allocator,
  // kernel selection) out of the timings.
  if (config.task == "detect") {
    load_operator_libraries(config.detect.operator_libraries);
    auto task = std::make_unique<DetectTask>(config, device);
    task->set_threads(threads);
    task->set_batch_size(batch);
    task->run_batch(grey.data(), 1, frame);
    if (!config.detect.class_names.empty() && task->model_classes() > 0) {
      size_t names = task->class_names().size();
      if (names != static_cast<size_t>(task->model_classes()))
        throw UsageError("class names " + config.detect.class_names + ": the file has " +
                         std::to_string(names) + " names, the model outputs " +
                         std::to_string(task->model_classes()) + " classes");
    }
    return task;
  }
  if (config.task == "classify" || config.task == "embed") {
    std::unique_ptr<ScoreTask> task;
    ClassifyTask* classify = nullptr;
    if (config.task == "classify")
      task.reset(classify = new ClassifyTask(config, device));
    else
      task = std::make_unique<EmbedTask>(config, device);
    task->set_threads(threads);
    task->set_batch_size(batch);
    std::vector<uint8_t> picture(FrameSize{config.image.width, config.image.height}.rgb_bytes(), 128);
    const torch::Tensor rows = task->run_batch(picture.data(), 1);
    if (classify) classify->check_classes(static_cast<int>(rows.size(1)));
    return task;
  }
  auto task = std::make_unique<StyleTask>(config, device);
  task->set_threads(threads);
  task->set_batch_size(batch);
  task->run_batch(grey.data(), 1, frame);
  return task;
}

}  // namespace vidscore
