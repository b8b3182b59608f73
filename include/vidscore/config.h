// The job's settings: a JSON file (see configs/ and README "Config reference"), then CLI
// overrides. Every field has its default in-class; load_config() validates types, ranges and
// unknown keys and names the JSON path of the bad value in the UsageError it throws.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vidscore {

struct ModelInput {
  double scale = 1.0;                      // multiply the 0-255 pixel values by this first
  std::array<double, 3> mean{0.0, 0.0, 0.0};  // then subtract per channel (after scale)
  std::array<double, 3> std{1.0, 1.0, 1.0};   // then divide per channel
  bool bgr = false;                        // feed channels as B,G,R instead of R,G,B
};

// classify / embed: how a picture (an image of any size, or a video frame) becomes the model's
// input size (model/image_transform.h). Defaults: torchvision's Resize(256) + CenterCrop(224).
struct ImageInput {
  std::string resize = "center_crop";  // "center_crop", "stretch", "letterbox"
  int width = 224, height = 224;       // the model's input size
  int shorter_side = 256;              // center_crop: the shorter side is scaled to this first
  int pad_value = 0;                   // letterbox padding, 0-255
};

// Settings of the "classify" task.
struct ClassifyConfig {
  int top_k = 5;                          // classes kept per frame or image, best first
  std::string class_names;                // file, line i = name of class i; "": ids only
  std::string output = "probabilities";   // what the model outputs: "probabilities", or
                                          // "logits" (softmax applied here)
};

// Settings of the "embed" task.
struct EmbedConfig {
  std::string dtype = "float32";  // rows of the .npy: "float32" or "float16"
  bool normalize = false;         // L2-normalise each row
};

// Settings of the "detect" task.
struct DetectConfig {
  std::string layout = "yolov5";  // model output: "torchvision", "yolov5", "yolov8"
  int input_width = 0;            // model input size; 0 x 0: the frame's own size
  int input_height = 0;
  std::string resize = "letterbox";  // "letterbox" (keep aspect, pad right/bottom), "stretch"
  int pad_value = 114;               // letterbox padding, 0-255 pixel value
  double score_threshold = 0.25;     // keep detections scoring at least this
  double iou_threshold = 0.45;       // class-wise NMS: drop boxes overlapping a better one more
  int max_detections = 100;          // per frame, best first
  std::string class_names;           // file, line i = name of class i; "": ids only
  std::vector<std::string> operator_libraries;  // shared libraries of custom ops, loaded first
  double mask_threshold = 0.5;       // mask probability that counts as inside
  bool write_video = true;           // false: only the detections JSON
  float mask_alpha = 0.45f;          // opacity of drawn masks
  std::string json_path;             // detections file; "": the output with .json
};

struct Config {
  std::string task = "style";  // "style" (frames in, frames out), "detect" (boxes, masks),
                               // "classify" (top-k classes), "embed" (the model's output rows)

  // [model]
  std::string model_path;        // TorchScript file (torch.jit.script/trace output); required
  std::string device = "auto";   // "auto" (a GPU when there is one), "cpu", "cuda"
  std::string precision = "fp32";  // "fp32", or "fp16" (CUDA only)
  int batch_size = 0;            // frames per forward call; 0: auto (1 on a CPU, 4 on a GPU,
                                 // see make_task)
  int threads = 0;               // intra-op threads per rank; 0: cores of the node / ranks on it
  int streams = 0;               // batches run at once per rank, sharing its threads; 0: auto
                                 // (2 on a CPU with 2+ threads, but for the float path; else 1)
  ModelInput input;              // how pixels become the model's input tensor
  ImageInput image;              // classify / embed: resize, crop or pad to the input size

  // [style]
  int pad_multiple = 4;

  // [detect]
  DetectConfig detect;  // frames are reflect-padded to a multiple of this, then cropped back

  // [classify], [embed]
  ClassifyConfig classify;
  EmbedConfig embed;

  // [encode]
  std::string codec = "libx264";   // video encoder
  int crf = 18;                    // constant rate factor, 0 (lossless) - 51
  std::string preset = "medium";   // x264 preset: ultrafast ... veryslow
  std::string pix_fmt = "auto";    // "auto": yuv420p, or yuv444p when a side is odd
  std::string audio_fallback_codec = "aac";  // for audio the output container cannot hold
  int audio_fallback_bitrate = 192000;       // bits per second of that re-encode

  // [pipeline]
  std::string transport = "auto";  // how segments travel to the ranks: "packets" (the input's
                                   // compressed packets; ranks decode), "frames" (rank 0 decodes,
                                   // YUV frames travel), "auto" (packets where the input splits)
  int segment_frames = 0;          // frames per segment; 0: from segment_seconds
  double segment_seconds = 0;      // segment length when segment_frames is 0; 0: 2 s, or 10 s
                                   // for a job on one rank (nothing to balance, fewer encoder
                                   // restarts)
  int window_segments = 0;         // segments rank 0 holds at most; 0: 2 per rank + 2
  bool resume = true;              // keep finished segments so a rerun after a failure resumes
  std::string work_dir;            // where they are kept; "": "<output>.vidscore-work" beside it
  std::string output_extension = ".mp4";  // archive jobs: the outputs' container
  int segment_images = 32;         // image jobs: images per unit of work sent to a rank

  // [progress]
  std::string progress = "auto";  // "auto" (bar on a terminal, lines otherwise), "bar",
                                  // "lines", "off"
  double progress_interval_s = 10.0;  // seconds between plain progress lines

  // Frames per segment at `fps` frames per second (0 when unknown: 25 assumed).
  int effective_segment_frames(double fps, int ranks) const;
};

// Reads and validates a config file. Relative paths inside it resolve against its folder.
// Throws UsageError("config <file>: <json path>: <what is wrong>").
Config load_config(const std::string& path);

// The same from JSON already parsed; `origin` names it in messages, `base_dir` resolves paths.
Config config_from_json(const nlohmann::json& j, const std::string& origin,
                        const std::string& base_dir);

// The config as JSON (all keys, live values): --print-config and the docs use it.
nlohmann::json config_to_json(const Config& c);

// Checks cross-field rules after CLI overrides (e.g. a model is set). Throws UsageError.
void validate_config(const Config& c);

}  // namespace vidscore
