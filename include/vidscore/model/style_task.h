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

  // One batch: `frames` packed RGB24 frames of `size` at `pixels`, replaced in place.
  void run_batch(uint8_t* pixels, int frames, FrameSize size);

  // The float path, on the CPU (a GPU would rather take the YUV planes themselves).
  bool takes_yuv() const override { return model_.device().is_cpu(); }
  void load_yuv(const YuvImage& picture, int slot) override;
  void load_rgb(const uint8_t* rgb, FrameSize size, int slot) override;
  void run_loaded(int frames) override;
  void store_yuv(int slot, YuvImage& picture) override;

 private:
  // [B, 3, H, W] float RGB (0-255) -> the model's output as [B, 3, H, W] float RGB in the same
  // range, cropped (or resized) back to `size`; not clamped.
  torch::Tensor restyle(torch::Tensor x, FrameSize size);
  torch::Tensor input_slot(int slot, FrameSize size);  // a view of loaded_[slot]

  Config config_;
  Model model_;
  torch::Tensor loaded_;  // the float path's input batch, [batch_size, 3, H, W]
  torch::Tensor output_;  // the float path's last results
};

}  // namespace vidscore
