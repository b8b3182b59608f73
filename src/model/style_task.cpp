#include "vidscore/model/style_task.h"


#include <torch/torch.h>

#include "vidscore/error.h"
#include "vidscore/model/yuv_tensor.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

// Reflect padding needs the pad to be smaller than the side; tiny frames fall back to
// replicating the edge.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int multiple) {
  int64_t h = x.size(2), w = x.size(3);
  int64_t ph = (multiple - h % multiple) % multiple, pw = (multiple - w % multiple) % multiple;
  if (ph == 0 && pw == 0) return x;
  if (ph < h && pw < w) return torch::reflection_pad2d(x, {0, pw, 0, ph});
  return torch::replication_pad2d(x, {0, pw, 0, ph});
}

}  // namespace

StyleTask::StyleTask(const Config& config, torch::Device device)
    : config_(config), model_(config.model_path, device, config.precision == "fp16") {}

torch::Tensor StyleTask::restyle(torch::Tensor x, FrameSize size) {
  const int64_t h = size.height, w = size.width, frames = x.size(0);
  const ModelInput& in = config_.input;
  x = apply_input_transform(x, in);
  x = pad_to_multiple(x, config_.pad_multiple);

  torch::jit::IValue out = model_.forward(x);
  if (!out.isTensor())
    throw RuntimeError("model " + model_.path() + ": output does not fit task \"style\": expected "
                       "a [B,3,H,W] tensor, got " + describe_output(out));
  torch::Tensor y = out.toTensor();
  if (y.dim() != 4 || y.size(0) != frames || y.size(1) != 3)
    throw RuntimeError("model " + model_.path() + ": output does not fit task \"style\": expected "
                       "a tensor of shape [" + std::to_string(frames) + ", 3, H, W], got " +
                       describe_output(out));
  y = y.to(torch::kFloat);
  if (y.size(2) == x.size(2) && y.size(3) == x.size(3)) {
    y = y.slice(2, 0, h).slice(3, 0, w);
  } else {
    // A model that changes the size: resize its output back to the frame.
    namespace F = torch::nn::functional;
    y = F::interpolate(y, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{h, w})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  // The output is in the input's range: undo the scale (mean/std only shape the input).
  if (in.scale != 1.0) y = y / in.scale;
  if (in.bgr) y = y.flip(1);
  return y;
}

void StyleTask::run_batch(uint8_t* pixels, int frames, FrameSize size) {
  torch::Tensor y = restyle(frames_to_tensor(pixels, frames, size, model_.device()), size);
  if (tensor_to_frames(y, pixels, size) > 0)
    add_nonfinite_frames(
        torch::logical_not(torch::isfinite(y).flatten(1).all(1)).sum().item<int64_t>());
}

torch::Tensor StyleTask::input_slot(int slot, FrameSize size) {
  VIDSCORE_ASSERT(slot >= 0 && slot < batch_size());
  if (!loaded_.defined() || loaded_.size(2) != size.height || loaded_.size(3) != size.width)
    loaded_ = torch::empty({batch_size(), 3, size.height, size.width},
                           torch::kFloat);
  return loaded_[slot];
}

void StyleTask::load_yuv(const YuvImage& picture, int slot) {
  c10::InferenceMode guard;
  use_threads(threads_);
  yuv_to_rgb_tensor(picture, input_slot(slot, {picture.width, picture.height}));
}

void StyleTask::load_rgb(const uint8_t* rgb, FrameSize size, int slot) {
  c10::InferenceMode guard;
  input_slot(slot, size).copy_(frames_to_tensor(rgb, 1, size, torch::kCPU)[0]);
}

void StyleTask::run_loaded(int frames) {
  c10::InferenceMode guard;
  use_threads(threads_);
  auto t0 = Clock::now();
  const FrameSize size{static_cast<int>(loaded_.size(3)), static_cast<int>(loaded_.size(2))};
  output_ = restyle(loaded_.slice(0, 0, frames), size);
  add_timings(seconds_since(t0), frames);
}

void StyleTask::store_yuv(int slot, YuvImage& picture) {
  c10::InferenceMode guard;
  use_threads(threads_);
  if (rgb_tensor_to_yuv(output_[slot], picture) > 0) add_nonfinite_frames(1);
}

void StyleTask::process(Chunk& chunk) {
  c10::InferenceMode guard;
  use_threads(threads_);
  auto t0 = Clock::now();
  const int batch = batch_size();
  for (int i = 0; i < chunk.count(); i += batch) {
    int n = std::min(batch, chunk.count() - i);
    run_batch(chunk.frame(i), n, chunk.size);
  }
  add_timings(seconds_since(t0), chunk.count());
}

}  // namespace vidscore
