// Object detection / instance segmentation. Frames are resized or letterboxed to the model's
// input size, its output is parsed by layout (torchvision, yolov5, yolov8), boxes are mapped
// back to frame pixels, thresholded, class-wise NMS'd and capped. Detections are drawn on the
// frames (unless only JSON is wanted) and stored as JSON in chunk.annotations: one array per
// frame, in order.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "vidscore/model/model.h"
#include "vidscore/model/task.h"
#include "vidscore/render/results_writer.h"
#include "vidscore/render/render.h"

namespace vidscore {

// Greedy NMS within each class: indices of the kept detections, best score first.
std::vector<size_t> class_wise_nms(const std::vector<Detection>& dets, float iou_threshold);

// Detections of one frame as the JSON array of DESIGN.md (bbox [x, y, w, h], category_id,
// category, score, mask as COCO RLE).
std::string detections_to_json(const std::vector<Detection>& dets, int width, int height,
                               const std::vector<std::string>& class_names);

class DetectTask : public Task {
 public:
  DetectTask(const Config& config, torch::Device device);
  void process(Chunk& chunk) override;
  FrameSize input_frame_size(FrameSize frame) const override;
  std::string device_name() const override { return model_.device().str(); }

  // Detects on `frames` packed RGB frames at `pixels`; checks the output against the layout.
  // `size` is the pixels' size; `frame` the video's (boxes are in its pixels), when the pixels
  // were already resized to input_frame_size(frame).
  std::vector<std::vector<Detection>> run_batch(const uint8_t* pixels, int frames, FrameSize size,
                                                FrameSize frame = {});

  // Classes the model outputs (yolo layouts), known after the first batch; 0 if unknown.
  int model_classes() const { return model_classes_; }
  const std::vector<std::string>& class_names() const { return class_names_; }

 private:
  std::vector<std::vector<Detection>> parse(const torch::jit::IValue& out, int frames,
                                            FrameSize size, float sx, float sy);
  [[noreturn]] void misfit(const std::string& expected, const torch::jit::IValue& out) const;

  Config config_;
  Model model_;
  std::vector<std::string> class_names_;
  std::atomic<int> model_classes_{0};  // written by every batch (streams: several threads)
};

}  // namespace vidscore
