// A TorchScript module loaded once onto one device, in eval mode, run under InferenceMode.
// Knows nothing of FFmpeg or MPI. Not thread-safe: one thread runs a Model.
#pragma once

#include <mutex>

#include <string>

#include <torch/script.h>

#include "vidscore/config.h"
#include "vidscore/frame.h"

namespace vidscore {

// "auto" -> cuda:(local_rank % visible GPUs) when CUDA is available, else cpu. Throws
// UsageError for "cuda" on a machine or libtorch without CUDA.
torch::Device pick_device(const std::string& wanted, int local_rank);

// Sets torch's intra-op threads for the calling thread when they differ from `threads`.
void use_threads(int threads);

// Intra-op threads for this rank: `configured`, or the node's cores shared among local ranks.
int pick_threads(int configured, int local_size);

class Model {
 public:
  // Throws UsageError("model <path>: <cause>") when the file is missing or not TorchScript.
  Model(const std::string& path, torch::Device device, bool fp16);

  // Runs forward on one batch (already on device, float). Returns the raw output.
  torch::jit::IValue forward(const torch::Tensor& batch);

  // Freezes the module and applies torch.jit.optimize_for_inference's passes (conv + batch-norm
  // folding, oneDNN convolutions on the CPU): SqueezeNet runs about 1.35x faster on the CPU,
  // with outputs within about 1e-6. Returns false, keeping the module as it was, when the
  // model cannot be frozen (its forward uses attributes it changes). Should the optimised graph
  // ever fail on a batch, forward() goes back to the module as written and runs it again.
  bool optimize_for_inference();

  const std::string& path() const { return path_; }
  torch::Device device() const { return device_; }
  bool fp16() const { return fp16_; }

 private:
  std::string path_;
  torch::Device device_;
  bool fp16_;
  torch::jit::Module module_;
  torch::jit::Module original_;  // the module as loaded, when module_ is the optimised one
  bool optimized_ = false;
  std::mutex mu_;  // module_ and optimized_
};

// `frames` packed RGB24 frames at `pixels` as a contiguous float [B, 3, H, W] tensor (values
// 0-255) on `device`: one pass that converts and transposes together (uint8 crosses to a GPU
// first, 4x fewer bytes than float).
torch::Tensor frames_to_tensor(const uint8_t* pixels, int frames, FrameSize size,
                               torch::Device device);

// The reverse for a [B, 3, H, W] tensor of values 0-255: clamped, rounded (half up) and written as packed
// RGB24 into `pixels` (B frames of `size`), transposing in the same pass as the conversion.
// Returns how many values were NaN or infinite (written as finite_row in yuv_tensor.h says).
int64_t tensor_to_frames(const torch::Tensor& t, uint8_t* pixels, FrameSize size);

// The config's input transform: channel order, then scale, mean and std.
torch::Tensor apply_input_transform(torch::Tensor x, const ModelInput& in);

// "[4, 3, 240, 320]": for messages.
std::string shape_string(const torch::Tensor& t);
// "a tensor of shape [4, 3, 240, 320]", or "a Tuple" etc. for non-tensors: for messages.
std::string describe_output(const torch::jit::IValue& v);

}  // namespace vidscore
