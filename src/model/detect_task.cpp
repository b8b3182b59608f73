#include "vidscore/model/detect_task.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "vidscore/error.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

namespace F = torch::nn::functional;

float iou(const Detection& a, const Detection& b) {
  float ix = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  float iy = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  float inter = ix * iy;
  float uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.f;
}

// Rounds to `decimals` places. Dividing by the power of ten (not multiplying by 2) gives the
// double nearest the decimal, which JSON prints short: 232.23, never 232.23000000000002.
double round_to(double v, int decimals) {
  const double p = std::pow(10.0, decimals);
  return std::round(v * p) / p;
}

}  // namespace

std::vector<size_t> class_wise_nms(const std::vector<Detection>& dets, float iou_threshold) {
  std::vector<size_t> order(dets.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return dets[a].score > dets[b].score; });
  std::vector<size_t> kept;
  for (size_t i : order) {
    bool keep = true;
    for (size_t k : kept) {
      if (dets[k].class_id == dets[i].class_id && iou(dets[k], dets[i]) > iou_threshold) {
        keep = false;
        break;
      }
    }
    if (keep) kept.push_back(i);
  }
  return kept;
}

std::string detections_to_json(const std::vector<Detection>& dets, int width, int height,
                               const std::vector<std::string>& class_names) {
  nlohmann::json arr = nlohmann::json::array();
  for (const Detection& d : dets) {
    nlohmann::json j = {
        {"bbox",
         {round_to(d.x1, 2), round_to(d.y1, 2), round_to(d.x2 - d.x1, 2),
          round_to(d.y2 - d.y1, 2)}},
        {"category_id", d.class_id},
        {"category", d.class_id >= 0 && d.class_id < static_cast<int>(class_names.size())
                         ? class_names[d.class_id]
                         : std::to_string(d.class_id)},
        {"score", round_to(d.score, 4)},
    };
    if (!d.mask.empty()) {
      CocoRle rle = encode_rle(d.mask.data(), width, height);
      j["mask"] = {{"size", {rle.height, rle.width}}, {"counts", rle.counts}};
    }
    arr.push_back(std::move(j));
  }
  return arr.dump();
}

DetectTask::DetectTask(const Config& config, torch::Device device)
    : config_(config), model_(config.model_path, device, config.precision == "fp16") {
  if (!config.detect.class_names.empty()) class_names_ = load_class_names(config.detect.class_names);
  // YOLO exports are plain convolution stacks: frozen and optimised, YOLOX-Nano runs about 1.4x
  // faster on the CPU (boxes move by about 1e-3 pixels). torchvision's detectors (custom
  // operators, Python-like post-processing) are kept as they are.
  if (model_.device().is_cpu() && config.detect.layout != "torchvision")
    model_.optimize_for_inference();
}

void DetectTask::misfit(const std::string& expected, const torch::jit::IValue& out) const {
  std::string hint;
  if (out.isTensor() && out.toTensor().dim() == 3) {
    auto t = out.toTensor();
    if (config_.detect.layout != "yolov8" && t.size(1) > 4 && t.size(1) < t.size(2))
      hint = " (it looks like layout \"yolov8\")";
    else if (config_.detect.layout != "yolov5" && t.size(2) > 5 && t.size(2) < t.size(1))
      hint = " (it looks like layout \"yolov5\")";
  }
  throw RuntimeError("model " + model_.path() + ": output does not fit detect layout \"" +
                     config_.detect.layout + "\": expected " + expected + ", got " +
                     describe_output(out) + hint);
}

namespace {

// Where a frame of `frame` size lands in the model's input: the resized picture's size and the
// scale factors (input pixels per frame pixel). {frame, 1, 1} when no resize is configured.
struct Placement {
  FrameSize input, picture;
  float sx = 1.f, sy = 1.f;
};

Placement place(const DetectConfig& dc, FrameSize frame) {
  Placement p{frame, frame};
  if (dc.input_width <= 0 || dc.input_height <= 0 ||
      (dc.input_width == frame.width && dc.input_height == frame.height))
    return p;
  p.input = {dc.input_width, dc.input_height};
  if (dc.resize == "letterbox") {
    const float r = std::min(float(p.input.width) / frame.width,
                             float(p.input.height) / frame.height);
    p.sx = p.sy = r;
    p.picture = {std::max(1, static_cast<int>(std::lround(frame.width * r))),
                 std::max(1, static_cast<int>(std::lround(frame.height * r)))};
  } else {
    p.sx = float(p.input.width) / frame.width;
    p.sy = float(p.input.height) / frame.height;
    p.picture = p.input;
  }
  return p;
}

}  // namespace

FrameSize DetectTask::input_frame_size(FrameSize frame) const {
  // Frames that are drawn on are needed at full size.
  if (config_.detect.write_video) return frame;
  return place(config_.detect, frame).picture;
}

std::vector<std::vector<Detection>> DetectTask::run_batch(const uint8_t* pixels, int frames,
                                                          FrameSize size, FrameSize frame) {
  const DetectConfig& dc = config_.detect;
  if (frame.width <= 0) frame = size;
  const Placement p = place(dc, frame);
  torch::Tensor x = frames_to_tensor(pixels, frames, size, model_.device());
  const float sx = p.sx, sy = p.sy;
  const FrameSize input = p.input;
  const int64_t rw = p.picture.width, rh = p.picture.height;
  if (!(size == p.picture))
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{rh, rw})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  if (rw < input.width || rh < input.height)
    x = torch::constant_pad_nd(x, {0, input.width - rw, 0, input.height - rh}, dc.pad_value);
  x = apply_input_transform(x, config_.input);
  torch::jit::IValue out = model_.forward(x.contiguous());
  return parse(out, frames, frame, sx, sy);
}

std::vector<std::vector<Detection>> DetectTask::parse(const torch::jit::IValue& out, int frames,
                                                      FrameSize size, float sx, float sy) {
  const DetectConfig& dc = config_.detect;
  const float W = size.width, H = size.height;
  std::vector<std::vector<Detection>> result(frames);
  // Maps a box from input pixels to frame pixels, clipped to the frame.
  auto to_frame = [&](float x1, float y1, float x2, float y2, Detection& d) {
    d.x1 = std::clamp(x1 / sx, 0.f, W);
    d.y1 = std::clamp(y1 / sy, 0.f, H);
    d.x2 = std::clamp(x2 / sx, 0.f, W);
    d.y2 = std::clamp(y2 / sy, 0.f, H);
    return d.x2 > d.x1 && d.y2 > d.y1;
  };
  // Indices of the detections to keep: class-wise NMS, best first, capped.
  auto select = [&](const std::vector<Detection>& dets) {
    std::vector<size_t> keep = class_wise_nms(dets, static_cast<float>(dc.iou_threshold));
    if (keep.size() > static_cast<size_t>(dc.max_detections)) keep.resize(dc.max_detections);
    return keep;
  };

  if (dc.layout == "yolov5" || dc.layout == "yolov8") {
    const bool v5 = dc.layout == "yolov5";
    const std::string expected = v5 ? "a tensor of shape [" + std::to_string(frames) + ", N, 5+C]"
                                    : "a tensor of shape [" + std::to_string(frames) + ", 4+C, N]";
    if (!out.isTensor()) misfit(expected, out);
    torch::Tensor t = out.toTensor();
    if (t.dim() != 3 || t.size(0) != frames || (v5 ? t.size(2) < 6 : t.size(1) < 5))
      misfit(expected, out);
    t = t.to(torch::kFloat);
    if (!v5) t = t.transpose(1, 2);  // -> [B, N, 4+C]
    const int first_class = v5 ? 5 : 4;
    model_classes_ = static_cast<int>(t.size(2)) - first_class;
    auto cls = t.slice(2, first_class);
    auto best = cls.max(2);
    torch::Tensor scores = std::get<0>(best), labels = std::get<1>(best);
    if (v5) scores = scores * t.select(2, 4);
    t = t.cpu().contiguous();
    scores = scores.cpu().contiguous();
    labels = labels.cpu().to(torch::kInt).contiguous();
    const int64_t n = t.size(1), stride = t.size(2);
    for (int b = 0; b < frames; ++b) {
      const float* rows = t[b].data_ptr<float>();
      const float* sc = scores[b].data_ptr<float>();
      const int* lb = labels[b].data_ptr<int>();
      std::vector<Detection>& dets = result[b];
      for (int64_t i = 0; i < n; ++i) {
        if (!(sc[i] >= dc.score_threshold)) continue;
        const float* r = rows + i * stride;
        Detection d;
        d.score = sc[i];
        d.class_id = lb[i];
        if (to_frame(r[0] - r[2] / 2, r[1] - r[3] / 2, r[0] + r[2] / 2, r[1] + r[3] / 2, d))
          dets.push_back(std::move(d));
      }
      std::vector<Detection> kept;
      for (size_t k : select(dets)) kept.push_back(std::move(dets[k]));
      dets = std::move(kept);
    }
    return result;
  }

  // torchvision: List[Dict[str, Tensor]], or (losses, List[Dict[str, Tensor]]).
  const std::string expected = "a list of " + std::to_string(frames) +
                               " dicts with boxes [N,4], labels [N], scores [N] (masks [N,1,H,W])";
  torch::jit::IValue list = out;
  if (out.isTuple() && out.toTuple()->elements().size() == 2) list = out.toTuple()->elements()[1];
  if (!list.isList() || list.toList().size() != static_cast<size_t>(frames)) misfit(expected, out);
  auto items = list.toList();
  for (int b = 0; b < frames; ++b) {
    torch::jit::IValue item = items.get(b);
    if (!item.isGenericDict()) misfit(expected, out);
    auto dict = item.toGenericDict();
    auto get = [&](const char* key, bool required) -> torch::Tensor {
      if (!dict.contains(key)) {
        if (required) misfit(expected, out);
        return {};
      }
      torch::jit::IValue v = dict.at(key);
      if (!v.isTensor()) misfit(expected, out);
      return v.toTensor();
    };
    torch::Tensor boxes = get("boxes", true), labels = get("labels", true),
                  scores = get("scores", true), masks = get("masks", false);
    const int64_t n = boxes.size(0);
    if (boxes.dim() != 2 || boxes.size(1) != 4 || labels.numel() != n || scores.numel() != n ||
        (masks.defined() && (masks.dim() != 4 || masks.size(0) != n)))
      misfit(expected, out);
    boxes = boxes.to(torch::kFloat).cpu().contiguous();
    labels = labels.to(torch::kLong).cpu().contiguous();
    scores = scores.to(torch::kFloat).cpu().contiguous();
    std::vector<Detection> dets;
    std::vector<int64_t> source;  // index into the model's detections, for masks
    for (int64_t i = 0; i < n; ++i) {
      float s = scores.data_ptr<float>()[i];
      if (!(s >= dc.score_threshold)) continue;
      const float* r = boxes.data_ptr<float>() + 4 * i;
      Detection d;
      d.score = s;
      d.class_id = static_cast<int>(labels.data_ptr<int64_t>()[i]);
      if (to_frame(r[0], r[1], r[2], r[3], d)) {
        dets.push_back(std::move(d));
        source.push_back(i);
      }
    }
    std::vector<Detection> kept;
    for (size_t k : select(dets)) {
      Detection d = std::move(dets[k]);
      if (masks.defined()) {
        // Mask in input pixels -> the part that covers the frame -> frame size -> threshold.
        torch::Tensor m = masks[source[k]].to(torch::kFloat).unsqueeze(0);  // [1,1,h,w]
        int64_t valid_w = std::min<int64_t>(m.size(3), std::lround(size.width * sx));
        int64_t valid_h = std::min<int64_t>(m.size(2), std::lround(size.height * sy));
        m = m.slice(2, 0, valid_h).slice(3, 0, valid_w);
        m = F::interpolate(m, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{size.height, size.width})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
        torch::Tensor bin = (m[0][0] >= dc.mask_threshold).to(torch::kUInt8).cpu().contiguous();
        d.mask.assign(bin.data_ptr<uint8_t>(), bin.data_ptr<uint8_t>() + bin.numel());
      }
      kept.push_back(std::move(d));
    }
    result[b] = std::move(kept);
  }
  return result;
}

void DetectTask::process(Chunk& chunk) {
  c10::InferenceMode guard;
  use_threads(threads_);
  auto t0 = Clock::now();
  const int batch = batch_size();
  chunk.annotations.clear();
  for (int i = 0; i < chunk.count(); i += batch) {
    int n = std::min(batch, chunk.count() - i);
    const FrameSize frame = chunk.frame_size.width > 0 ? chunk.frame_size : chunk.size;
    auto per_frame = run_batch(chunk.frame(i), n, chunk.size, frame);
    for (int k = 0; k < n; ++k) {
      chunk.annotations.push_back(
          detections_to_json(per_frame[k], frame.width, frame.height, class_names_));
      if (config_.detect.write_video)
        draw_detections({chunk.frame(i + k), chunk.size.width, chunk.size.height}, per_frame[k],
                        class_names_, config_.detect.mask_alpha);
    }
  }
  add_timings(seconds_since(t0), chunk.count());
}

}  // namespace vidscore
