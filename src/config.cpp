#include "vidscore/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "vidscore/error.h"

namespace vidscore {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string type_of(const json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  return std::string("a ") + v.type_name();
}

// Walks one JSON object, taking keys by name; finish() rejects the keys nobody took.
class ObjectReader {
 public:
  ObjectReader(const json& obj, std::string path, const std::string& origin)
      : obj_(obj), path_(std::move(path)), origin_(origin) {
    if (!obj_.is_object()) fail(path_.empty() ? "/" : path_, "expected an object, got " + type_of(obj_));
  }

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw UsageError("config " + origin_ + ": " + where + ": " + what);
  }

  const json* take(const std::string& key) {
    known_.push_back(key);
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }
  std::string at(const std::string& key) const { return path_ + "/" + key; }

  void str(const std::string& key, std::string& out, const std::vector<std::string>& allowed = {}) {
    const json* v = take(key);
    if (!v) return;
    if (!v->is_string()) fail(at(key), "expected a string, got " + type_of(*v));
    std::string s = v->get<std::string>();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + ("\"" + a + "\"");
      fail(at(key), "\"" + s + "\" is not one of " + list);
    }
    out = s;
  }

  void integer(const std::string& key, int& out, int lo, int hi) {
    const json* v = take(key);
    if (!v) return;
    if (!v->is_number_integer()) fail(at(key), "expected an integer, got " + type_of(*v));
    long long x = v->get<long long>();
    if (x < lo || x > hi)
      fail(at(key), std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
    out = static_cast<int>(x);
  }

  void number(const std::string& key, double& out, double lo, double hi) {
    const json* v = take(key);
    if (!v) return;
    if (!v->is_number()) fail(at(key), "expected a number, got " + type_of(*v));
    double x = v->get<double>();
    if (!(x >= lo && x <= hi)) {
      std::ostringstream m;
      m << x << " is out of range [" << lo << ", " << hi << "]";
      fail(at(key), m.str());
    }
    out = x;
  }

  void boolean(const std::string& key, bool& out) {
    const json* v = take(key);
    if (!v) return;
    if (!v->is_boolean()) fail(at(key), "expected true or false, got " + type_of(*v));
    out = v->get<bool>();
  }

  void triple(const std::string& key, std::array<double, 3>& out, bool positive) {
    const json* v = take(key);
    if (!v) return;
    if (!v->is_array() || v->size() != 3)
      fail(at(key), "expected an array of 3 numbers, got " + type_of(*v));
    for (size_t i = 0; i < 3; ++i) {
      const json& e = (*v)[i];
      std::string where = at(key) + "/" + std::to_string(i);
      if (!e.is_number()) fail(where, "expected a number, got " + type_of(e));
      double x = e.get<double>();
      if (positive && !(x > 0)) fail(where, "must be greater than 0");
      out[i] = x;
    }
  }

  // A nested object, or nullptr when absent.
  const json* object(const std::string& key) { return take(key); }

  void finish() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (std::find(known_.begin(), known_.end(), it.key()) != known_.end()) continue;
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail(at(it.key()), "unknown key (known here: " + list + ")");
    }
  }

 private:
  const json& obj_;
  std::string path_;
  const std::string& origin_;
  std::vector<std::string> known_;
};

std::string resolve(const std::string& p, const std::string& base_dir) {
  if (p.empty() || base_dir.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

}  // namespace

Config config_from_json(const json& j, const std::string& origin, const std::string& base_dir) {
  Config c;
  ObjectReader root(j, "", origin);
  root.str("task", c.task, {"style", "detect", "classify", "embed"});

  if (const json* m = root.object("model")) {
    ObjectReader r(*m, "/model", origin);
    r.str("path", c.model_path);
    c.model_path = resolve(c.model_path, base_dir);
    r.str("device", c.device, {"auto", "cpu", "cuda"});
    r.str("precision", c.precision, {"fp32", "fp16"});
    r.integer("batch_size", c.batch_size, 0, 1024);
    r.integer("threads", c.threads, 0, 1024);
    r.integer("streams", c.streams, 0, 64);
    if (const json* in = r.object("input")) {
      ObjectReader ri(*in, "/model/input", origin);
      ri.number("scale", c.input.scale, 1e-9, 1e9);
      ri.triple("mean", c.input.mean, false);
      ri.triple("std", c.input.std, true);
      std::string order = c.input.bgr ? "bgr" : "rgb";
      ri.str("channel_order", order, {"rgb", "bgr"});
      c.input.bgr = order == "bgr";
      ri.str("resize", c.image.resize, {"center_crop", "stretch", "letterbox"});
      if (const json* size = ri.take("size")) {
        if (!size->is_array() || size->size() != 2 || !(*size)[0].is_number_integer() ||
            !(*size)[1].is_number_integer() || (*size)[0].get<int>() < 1 ||
            (*size)[1].get<int>() < 1 || (*size)[0].get<int>() > 16384 ||
            (*size)[1].get<int>() > 16384)
          ri.fail(ri.at("size"), "expected [width, height] in pixels (1-16384)");
        c.image.width = (*size)[0].get<int>();
        c.image.height = (*size)[1].get<int>();
      }
      ri.integer("shorter_side", c.image.shorter_side, 1, 16384);
      ri.integer("pad_value", c.image.pad_value, 0, 255);
      ri.finish();
    }
    r.finish();
  }
  if (const json* s = root.object("style")) {
    ObjectReader r(*s, "/style", origin);
    r.integer("pad_multiple", c.pad_multiple, 1, 256);
    r.finish();
  }
  if (const json* d = root.object("detect")) {
    ObjectReader r(*d, "/detect", origin);
    DetectConfig& t = c.detect;
    r.str("layout", t.layout, {"torchvision", "yolov5", "yolov8"});
    if (const json* size = r.take("input_size")) {
      if (!size->is_array() || size->size() != 2 || !(*size)[0].is_number_integer() ||
          !(*size)[1].is_number_integer() || (*size)[0].get<int>() < 0 ||
          (*size)[1].get<int>() < 0)
        r.fail(r.at("input_size"), "expected [width, height] in pixels, or [0, 0] for the frame size");
      t.input_width = (*size)[0].get<int>();
      t.input_height = (*size)[1].get<int>();
    }
    r.str("resize", t.resize, {"letterbox", "stretch"});
    r.integer("pad_value", t.pad_value, 0, 255);
    r.number("score_threshold", t.score_threshold, 0, 1);
    r.number("iou_threshold", t.iou_threshold, 0, 1);
    r.integer("max_detections", t.max_detections, 1, 100000);
    r.str("class_names", t.class_names);
    t.class_names = resolve(t.class_names, base_dir);
    if (const json* libs = r.take("operator_libraries")) {
      if (!libs->is_array()) r.fail(r.at("operator_libraries"), "expected an array of paths");
      for (size_t i = 0; i < libs->size(); ++i) {
        if (!(*libs)[i].is_string())
          r.fail(r.at("operator_libraries") + "/" + std::to_string(i),
                 "expected a string, got " + type_of((*libs)[i]));
        t.operator_libraries.push_back(resolve((*libs)[i].get<std::string>(), base_dir));
      }
    }
    r.number("mask_threshold", t.mask_threshold, 0, 1);
    r.boolean("write_video", t.write_video);
    double alpha = t.mask_alpha;
    r.number("mask_alpha", alpha, 0, 1);
    t.mask_alpha = static_cast<float>(alpha);
    r.str("json", t.json_path);
    t.json_path = resolve(t.json_path, base_dir);
    r.finish();
  }
  if (const json* k = root.object("classify")) {
    ObjectReader r(*k, "/classify", origin);
    r.integer("top_k", c.classify.top_k, 1, 100000);
    r.str("class_names", c.classify.class_names);
    c.classify.class_names = resolve(c.classify.class_names, base_dir);
    r.str("output", c.classify.output, {"probabilities", "logits"});
    r.finish();
  }
  if (const json* e = root.object("embed")) {
    ObjectReader r(*e, "/embed", origin);
    r.str("dtype", c.embed.dtype, {"float32", "float16"});
    r.boolean("normalize", c.embed.normalize);
    r.finish();
  }
  if (const json* e = root.object("encode")) {
    ObjectReader r(*e, "/encode", origin);
    r.str("codec", c.codec);
    r.integer("crf", c.crf, 0, 51);
    r.str("preset", c.preset,
          {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow", "placebo"});
    r.str("pix_fmt", c.pix_fmt, {"auto", "yuv420p", "yuv444p"});
    r.str("audio_fallback_codec", c.audio_fallback_codec);
    r.integer("audio_fallback_bitrate", c.audio_fallback_bitrate, 8000, 1536000);
    r.finish();
  }
  if (const json* p = root.object("pipeline")) {
    ObjectReader r(*p, "/pipeline", origin);
    r.str("transport", c.transport, {"auto", "packets", "frames"});
    r.integer("segment_frames", c.segment_frames, 0, 100000);
    r.number("segment_seconds", c.segment_seconds, 0, 3600);
    r.integer("window_segments", c.window_segments, 0, 4096);
    r.boolean("resume", c.resume);
    r.str("work_dir", c.work_dir);
    r.str("output_extension", c.output_extension, {".mp4", ".mov", ".mkv"});
    r.integer("segment_images", c.segment_images, 1, 100000);
    c.work_dir = resolve(c.work_dir, base_dir);
    r.finish();
  }
  if (const json* p = root.object("progress")) {
    ObjectReader r(*p, "/progress", origin);
    r.str("mode", c.progress, {"auto", "bar", "lines", "off"});
    r.number("interval_s", c.progress_interval_s, 0.1, 86400);
    r.finish();
  }
  root.finish();
  return c;
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("config " + path + ": cannot open: " + std::strerror(errno));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    std::string what = e.what();
    auto pos = what.find("] ");
    throw UsageError("config " + path + ": not valid JSON: " +
                     (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  return config_from_json(j, path, fs::path(path).parent_path().string());
}

json config_to_json(const Config& c) {
  return json{
      {"task", c.task},
      {"model",
       {{"path", c.model_path},
        {"device", c.device},
        {"precision", c.precision},
        {"batch_size", c.batch_size},
        {"threads", c.threads},
        {"streams", c.streams},
        {"input",
         {{"scale", c.input.scale},
          {"mean", c.input.mean},
          {"std", c.input.std},
          {"channel_order", c.input.bgr ? "bgr" : "rgb"},
          {"resize", c.image.resize},
          {"size", {c.image.width, c.image.height}},
          {"shorter_side", c.image.shorter_side},
          {"pad_value", c.image.pad_value}}}}},
      {"style", {{"pad_multiple", c.pad_multiple}}},
      {"detect",
       {{"layout", c.detect.layout},
        {"input_size", {c.detect.input_width, c.detect.input_height}},
        {"resize", c.detect.resize},
        {"pad_value", c.detect.pad_value},
        {"score_threshold", c.detect.score_threshold},
        {"iou_threshold", c.detect.iou_threshold},
        {"max_detections", c.detect.max_detections},
        {"class_names", c.detect.class_names},
        {"operator_libraries", c.detect.operator_libraries},
        {"mask_threshold", c.detect.mask_threshold},
        {"write_video", c.detect.write_video},
        {"mask_alpha", c.detect.mask_alpha},
        {"json", c.detect.json_path}}},
      {"classify",
       {{"top_k", c.classify.top_k},
        {"class_names", c.classify.class_names},
        {"output", c.classify.output}}},
      {"embed", {{"dtype", c.embed.dtype}, {"normalize", c.embed.normalize}}},
      {"encode",
       {{"codec", c.codec},
        {"crf", c.crf},
        {"preset", c.preset},
        {"pix_fmt", c.pix_fmt},
        {"audio_fallback_codec", c.audio_fallback_codec},
        {"audio_fallback_bitrate", c.audio_fallback_bitrate}}},
      {"pipeline",
       {{"transport", c.transport},
        {"segment_frames", c.segment_frames},
        {"segment_seconds", c.segment_seconds},
        {"window_segments", c.window_segments},
        {"resume", c.resume},
        {"work_dir", c.work_dir},
        {"output_extension", c.output_extension},
        {"segment_images", c.segment_images}}},
      {"progress", {{"mode", c.progress}, {"interval_s", c.progress_interval_s}}},
  };
}

int Config::effective_segment_frames(double fps, int ranks) const {
  if (segment_frames > 0) return segment_frames;
  if (!(fps > 0)) fps = 25.0;
  // One rank has nothing to balance: longer segments restart the encoder less often (each
  // restart costs a cold look-ahead and an IDR; 5 segments of 2 s made a 10 s 1080p job ~15%
  // slower than 1 of 10 s) and still bound what a failure loses.
  const double seconds = segment_seconds > 0 ? segment_seconds : ranks <= 1 ? 10.0 : 2.0;
  return std::max(1, static_cast<int>(seconds * fps + 0.5));
}

void validate_config(const Config& c) {
  if (c.model_path.empty())
    throw UsageError("no model: set \"model\": {\"path\": ...} in the config or pass --model FILE");
  if (c.precision == "fp16" && c.device == "cpu")
    throw UsageError("precision \"fp16\" needs a CUDA device; use \"fp32\" with device \"cpu\"");
}

}  // namespace vidscore
