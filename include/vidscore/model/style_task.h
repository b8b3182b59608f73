// Style transfer: frames in, frames out, same size. Frames are reflect-padded to the model's
// multiple, run in batches, cropped back (resized back when the model changes the size),
// clamped to 0-255 and rounded.
#pragma once

#include "vidscore/model/model.h"
#include "vidscore/model/task.h"

namespace vidscore {

class StyleTask : public Task {
 public:
  StyleTask(const Config& config, torch::Device device);
  void process(Chunk& chunk) override;
  std::string device_name() const override { return model_.device().str(); }
  const TaskTimings& timings() const override { return timings_; }

  // One batch: `frames` packed RGB24 frames of `size` at `pixels`, replaced in place.
  void run_batch(uint8_t* pixels, int frames, FrameSize size);

 private:
  Config config_;
  Model model_;
  TaskTimings timings_;
};

}  // namespace vidscore
