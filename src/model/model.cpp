#include "vidscore/model/model.h"

#include <filesystem>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "vidscore/error.h"
#include "vidscore/model/yuv_tensor.h"
#include "vidscore/row_pool.h"

namespace vidscore {

torch::Device pick_device(const std::string& wanted, int local_rank) {
  bool cuda = torch::cuda::is_available();
  if (wanted == "cpu" || (wanted == "auto" && !cuda)) return torch::Device(torch::kCPU);
  if (!cuda)
    throw UsageError(
        "device \"cuda\" requested but no CUDA GPU is visible (or this libtorch is CPU-only); "
        "use --device cpu or auto");
  int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
}

namespace {
thread_local int stream_threads = 0;  // set_stream_threads
}  // namespace

void set_stream_threads(int threads) { stream_threads = threads; }

void use_threads(int threads) {
  if (stream_threads > 0) threads = stream_threads;
  if (threads > 0 && torch::get_num_threads() != threads) torch::set_num_threads(threads);
}

int pick_threads(int configured, int local_size) {
  if (configured > 0) return configured;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, local_size));
}

Model::Model(const std::string& path, torch::Device device, bool fp16)
    : path_(path), device_(device), fp16_(fp16) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UsageError("model " + path + ": " +
                     (std::filesystem::exists(path, ec) ? "not a regular file"
                                                        : "No such file or directory"));
  try {
    module_ = torch::jit::load(path, device);
  } catch (const std::exception& e) {
    // c10::Error, or torch::jit::ErrorReport for TorchScript it cannot compile. torch's text
    // spans many lines with a traceback; its first line says what failed.
    std::string what = e.what();
    if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
    // A model whose custom operators (torchvision::nms, ...) no loaded library registered.
    auto op = what.find("Unknown builtin op: ");
    if (op != std::string::npos) {
      std::string name = what.substr(op + 20);
      name = name.substr(0, name.find_first_of("\n "));
      if (!name.empty() && name.back() == '.') name.pop_back();
      throw UsageError("model " + path + " needs operator " + name +
                       ", which no loaded library provides: list its library (for torchvision, "
                       "torchvision/_C*.so) in detect.operator_libraries");
    }
    size_t start = what.find_first_not_of(" \n");
    what = start == std::string::npos ? what : what.substr(start);
    what = what.substr(0, what.find('\n'));
    throw UsageError("model " + path + ": not a loadable TorchScript file (" + what + ")");
  }
  module_.eval();
  if (fp16_) module_.to(torch::kHalf);
}

namespace {
// torch's messages carry a TorchScript traceback; the last line names the error itself.
std::string last_line(const std::string& text) {
  size_t end = text.find_last_not_of(" \n");
  if (end == std::string::npos) return text;
  size_t start = text.find_last_of('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}
}  // namespace

bool Model::optimize_for_inference() {
  try {
    torch::jit::Module frozen = torch::jit::freeze(module_);
    torch::jit::Module optimized = torch::jit::optimize_for_inference(frozen);
    original_ = module_;
    module_ = optimized;
    optimized_ = true;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

torch::jit::IValue Model::forward(const torch::Tensor& batch) {
  std::vector<torch::jit::IValue> inputs{fp16_ ? batch.to(torch::kHalf) : batch};
  try {
    // Model streams call this on several threads at once: a forward on a module is safe so, the
    // switch back to the module as written is not.
    torch::jit::Module module;
    bool optimized;
    {
      std::lock_guard<std::mutex> lock(mu_);
      module = module_;
      optimized = optimized_;
    }
    if (optimized) {
      try {
        return module.forward(inputs);
      } catch (const std::exception&) {
        // The optimised graph failed where the model as written may not: use that from now on.
        std::lock_guard<std::mutex> lock(mu_);
        module_ = original_;
        optimized_ = false;
        module = module_;
      }
    }
    return module.forward(inputs);
  } catch (const c10::Error& e) {
    throw RuntimeError("model " + path_ + ": forward failed on a batch of shape " +
                       shape_string(batch) + ": " +
                       last_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw RuntimeError("model " + path_ + ": forward failed: " + last_line(e.what()));
  }
}

torch::Tensor frames_to_tensor(const uint8_t* pixels, int frames, FrameSize size,
                               torch::Device device) {
  auto u8 = torch::from_blob(const_cast<uint8_t*>(pixels), {frames, size.height, size.width, 3},
                             torch::kUInt8);
  if (device.is_cuda()) u8 = u8.to(device);
  torch::Tensor x = torch::empty({frames, 3, size.height, size.width},
                                 u8.options().dtype(torch::kFloat));
  x.copy_(u8.permute({0, 3, 1, 2}));
  return x;
}

int64_t tensor_to_frames(const torch::Tensor& t, uint8_t* pixels, FrameSize size) {
  if (t.is_cuda()) {
    const int64_t nonfinite = torch::logical_not(torch::isfinite(t)).sum().item<int64_t>();
    torch::Tensor y = nonfinite ? torch::nan_to_num(t, 0.0, 255.0, 0.0) : t;
    y = y.clamp(0, 255).round_().to(torch::kUInt8).permute({0, 2, 3, 1});
    torch::from_blob(pixels, {t.size(0), size.height, size.width, 3}, torch::kUInt8)
        .copy_(y.contiguous().cpu());
    return nonfinite;
  }
  // One pass, reading the three planes and writing interleaved pixels: torch's clamp, round,
  // conversion and transposing copy are four passes over 4-byte floats at 1080p. Rows must be
  // contiguous (a cropped view's rows are).
  torch::Tensor y = t.to(torch::kFloat);
  if (y.stride(3) != 1) y = y.contiguous();
  const float* base = y.data_ptr<float>();
  const int64_t sb = y.stride(0), sc = y.stride(1), sr = y.stride(2);
  const int64_t h = size.height, w = size.width;
  std::atomic<int64_t> nonfinite{0};
  parallel_rows(y.size(0) * h, 16, torch::get_num_threads(), [&](int64_t begin, int64_t end) {
    std::vector<float> finite;  // a row's three planes made finite, when they are not
    // Clamped, then rounded half up: simple enough for the compiler to vectorise. Returns how
    // many values were NaN or infinite (what it wrote for them is unspecified).
    auto pack_row = [w](const float* red, const float* green, const float* blue, uint8_t* out) {
      int bad = 0;
      for (int64_t x = 0; x < w; ++x) {
        bad += !std::isfinite(red[x]) + !std::isfinite(green[x]) + !std::isfinite(blue[x]);
        const float rv = std::min(std::max(red[x], 0.f), 255.f) + 0.5f;
        const float gv = std::min(std::max(green[x], 0.f), 255.f) + 0.5f;
        const float bv = std::min(std::max(blue[x], 0.f), 255.f) + 0.5f;
        out[3 * x] = static_cast<uint8_t>(static_cast<int>(rv));
        out[3 * x + 1] = static_cast<uint8_t>(static_cast<int>(gv));
        out[3 * x + 2] = static_cast<uint8_t>(static_cast<int>(bv));
      }
      return bad;
    };
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / h, r = row % h;
      const float* red = base + b * sb + r * sr;
      const float* green = red + sc;
      const float* blue = green + sc;
      uint8_t* out = pixels + (b * h + r) * w * 3;
      if (pack_row(red, green, blue, out)) {
        nonfinite += finite_row(red, green, blue, static_cast<int>(w), finite);
        pack_row(finite.data(), finite.data() + w, finite.data() + 2 * w, out);
      }
    }
  });
  return nonfinite.load();
}

torch::Tensor apply_input_transform(torch::Tensor x, const ModelInput& in) {
  if (in.bgr) x = x.flip(1);
  if (in.scale != 1.0) x = x * in.scale;
  if (in.mean != std::array<double, 3>{0, 0, 0} || in.std != std::array<double, 3>{1, 1, 1}) {
    auto opts = x.options();
    x = (x - torch::tensor({in.mean[0], in.mean[1], in.mean[2]}, opts).view({1, 3, 1, 1})) /
        torch::tensor({in.std[0], in.std[1], in.std[2]}, opts).view({1, 3, 1, 1});
  }
  return x;
}

std::string shape_string(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

std::string describe_output(const torch::jit::IValue& v) {
  if (v.isTensor()) return "a tensor of shape " + shape_string(v.toTensor());
  return "a " + v.tagKind();
}

}  // namespace vidscore
