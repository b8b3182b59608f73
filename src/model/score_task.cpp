#include "vidscore/model/score_task.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "vidscore/error.h"
#include "vidscore/model/image_transform.h"
#include "vidscore/render/results_writer.h"
#include "vidscore/timing.h"

namespace vidscore {

ScoreTask::ScoreTask(const Config& config, torch::Device device)
    : config_(config),
      model_(config.model_path, device, config.precision == "fp16") {
  // Classifiers and feature extractors are plain convolution stacks: frozen and optimised they
  // run faster on the CPU (GPU runs keep the model as it is, like the other tasks).
  if (model_.device().is_cpu()) model_.optimize_for_inference();
}

FrameSize ScoreTask::input_frame_size(FrameSize frame) const {
  return scaled_size(frame, config_.image);
}

torch::Tensor ScoreTask::run_batch(const uint8_t* pixels, int n) {
  const FrameSize in{config_.image.width, config_.image.height};
  torch::Tensor x = frames_to_tensor(pixels, n, in, model_.device());
  x = apply_input_transform(x, config_.input);
  torch::jit::IValue out = model_.forward(x);
  if (!out.isTensor() || out.toTensor().dim() < 1 || out.toTensor().size(0) != n ||
      out.toTensor().numel() == 0)
    throw RuntimeError("model " + model_.path() + ": expected one tensor with a row per picture ([" +
                       std::to_string(n) + ", ...]), got " + describe_output(out));
  return out.toTensor().to(torch::kCPU, torch::kFloat).reshape({n, -1}).contiguous();
}

std::vector<std::string> ScoreTask::score(int count, const std::function<Picture(int)>& picture) {
  c10::InferenceMode guard;
  use_threads(threads_);
  auto t0 = Clock::now();
  const size_t in_bytes = FrameSize{config_.image.width, config_.image.height}.rgb_bytes();
  const int batch = batch_size();
  std::vector<std::string> out;
  std::vector<uint8_t> staged(static_cast<size_t>(batch) * in_bytes);  // per call: streams
  double preprocess_s = 0;
  for (int i = 0; i < count; i += batch) {
    const int n = std::min(batch, count - i);
    auto t1 = Clock::now();
    for (int k = 0; k < n; ++k) {
      const Picture p = picture(i + k);
      transform_image(p.rgb, p.size, config_.image, &staged[k * in_bytes]);
    }
    preprocess_s += seconds_since(t1);
    for (auto& a : annotate(run_batch(staged.data(), n))) out.push_back(std::move(a));
  }
  add_timings(seconds_since(t0), count, preprocess_s);
  return out;
}

void ScoreTask::process(Chunk& chunk) {
  chunk.annotations =
      score(chunk.count(), [&](int i) { return Picture{chunk.frame(i), chunk.size}; });
}

std::vector<std::string> ScoreTask::process_images(const std::vector<const RgbImage*>& images) {
  return score(static_cast<int>(images.size()),
               [&](int i) { return Picture{images[i]->pixels.data(), images[i]->size}; });
}

ClassifyTask::ClassifyTask(const Config& config, torch::Device device)
    : ScoreTask(config, device) {
  if (!config.classify.class_names.empty())
    class_names_ = load_class_names(config.classify.class_names);
}

void ClassifyTask::check_classes(int model_classes) const {
  if (!class_names_.empty() && class_names_.size() != static_cast<size_t>(model_classes))
    throw UsageError("class names " + config_.classify.class_names + ": the file has " +
                     std::to_string(class_names_.size()) + " names, the model outputs " +
                     std::to_string(model_classes) + " classes");
}

std::vector<std::string> ClassifyTask::annotate(const torch::Tensor& rows) {
  torch::Tensor p = config_.classify.output == "logits" ? torch::softmax(rows, 1) : rows;
  const int k = static_cast<int>(std::min<int64_t>(config_.classify.top_k, p.size(1)));
  auto [scores, ids] = torch::topk(p, k, 1, /*largest=*/true, /*sorted=*/true);
  auto s = scores.accessor<float, 2>();
  auto id = ids.accessor<int64_t, 2>();
  std::vector<std::string> out(p.size(0));
  for (int64_t r = 0; r < p.size(0); ++r) {
    std::string& j = out[r];
    j = "[";
    for (int c = 0; c < k; ++c) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%s{\"id\": %lld", c ? ", " : "",
                    static_cast<long long>(id[r][c]));
      j += buf;
      if (!class_names_.empty()) j += ", \"name\": " + json_string(class_names_.at(id[r][c]));
      // Six decimals: a score's own precision as a float32 is about 1e-7.
      std::snprintf(buf, sizeof(buf), ", \"score\": %.6f}", static_cast<double>(s[r][c]));
      j += buf;
    }
    j += "]";
  }
  return out;
}

std::vector<std::string> EmbedTask::annotate(const torch::Tensor& rows) {
  torch::Tensor r = rows;
  if (config_.embed.normalize)
    r = r / r.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);  // as F.normalize
  if (config_.embed.dtype == "float16") r = r.to(torch::kHalf);
  r = r.contiguous();
  const size_t row_bytes = static_cast<size_t>(r.size(1)) * r.element_size();
  const auto* base = static_cast<const char*>(r.data_ptr());
  std::vector<std::string> out(r.size(0));
  for (int64_t i = 0; i < r.size(0); ++i) out[i].assign(base + i * row_bytes, row_bytes);
  return out;
}

}  // namespace vidscore
