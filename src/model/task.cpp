#include "vidscore/model/task.h"

#include <torch/torch.h>

#include "vidscore/error.h"
#include "vidscore/model/style_task.h"

namespace vidscore {

std::unique_ptr<Task> make_task(const Config& config, FrameSize frame, int local_rank,
                                int local_size) {
  torch::Device device = pick_device(config.device, local_rank);
  torch::set_num_threads(pick_threads(config.threads, local_size));
  if (config.precision == "fp16" && !device.is_cuda())
    throw UsageError("precision \"fp16\" needs a CUDA device, this rank runs on " + device.str());
  if (config.task != "style") throw UsageError("unknown task \"" + config.task + "\"");
  auto task = std::make_unique<StyleTask>(config, device);
  // Warm-up on a mid-grey frame: checks the output early and keeps first-call costs (allocator,
  // kernel selection) out of the timings.
  c10::InferenceMode guard;
  std::vector<uint8_t> grey(frame.rgb_bytes(), 128);
  task->run_batch(grey.data(), 1, frame);
  return task;
}

}  // namespace vidscore
