// What classify and embed share: every picture (a video frame, or an image of any size) is
// pre-processed to the model's input size (image_transform.h, torchvision's evaluation transform
// by default), the batch runs through the model, and each row of the output becomes one
// annotation (the subclass says how). The model must return one tensor with one row per
// picture ([B, ...]).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vidscore/model/model.h"
#include "vidscore/model/task.h"

namespace vidscore {

class ScoreTask : public Task {
 public:
  ScoreTask(const Config& config, torch::Device device);
  // Video frames, already scaled to input_frame_size() by the worker's colour conversion.
  void process(Chunk& chunk) override;
  FrameSize input_frame_size(FrameSize frame) const override;
  bool takes_images() const override { return true; }
  std::vector<std::string> process_images(const std::vector<const RgbImage*>& images) override;
  std::string device_name() const override { return model_.device().str(); }

  // Runs `n` pictures of the model's input size (packed RGB24 at `pixels`); returns the output
  // as a float [n, D] tensor on the CPU. Throws RuntimeError when the output is not one tensor
  // of n rows.
  torch::Tensor run_batch(const uint8_t* pixels, int n);

 protected:
  // One annotation per row of `rows` ([n, D], float, CPU).
  virtual std::vector<std::string> annotate(const torch::Tensor& rows) = 0;
  const Config config_;

 private:
  struct Picture {
    const uint8_t* rgb;
    FrameSize size;
  };
  // Pre-processes pictures 0..count-1 into batches, runs them, and annotates each row.
  std::vector<std::string> score(int count, const std::function<Picture(int)>& picture);

  Model model_;
};

// Top-k classes per picture: JSON [{"id": 281, "name": "tabby", "score": 0.912345}, ...], best
// first (no "name" without class names). Softmax first when classify.output is "logits".
class ClassifyTask : public ScoreTask {
 public:
  ClassifyTask(const Config& config, torch::Device device);
  // Checks the class names against the model's classes (the warm-up's output). UsageError.
  void check_classes(int model_classes) const;
  const std::vector<std::string>& class_names() const { return class_names_; }

 protected:
  std::vector<std::string> annotate(const torch::Tensor& rows) override;

 private:
  std::vector<std::string> class_names_;
};

// The model's output per picture, flattened (and L2-normalised when embed.normalize), as the
// bytes of one .npy row: little-endian float32 or float16 (embed.dtype).
class EmbedTask : public ScoreTask {
 public:
  using ScoreTask::ScoreTask;

 protected:
  std::vector<std::string> annotate(const torch::Tensor& rows) override;
};

}  // namespace vidscore
