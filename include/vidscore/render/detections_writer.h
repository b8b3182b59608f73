// Streams the detections JSON document of DESIGN.md to disk in frame order, so memory does not
// grow with the video: {"video": {...}, "model": {...}, "categories": [...], "frames": [
// {"frame", "pts_time", "detections"}, ...], "frame_count": N}. Written under a temporary name
// and renamed by finish(); destroyed unfinished, it removes the temporary file.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace vidscore {

struct DetectionsHeader {
  std::string input_path;
  int width = 0, height = 0;
  std::string frame_rate;  // "30000/1001"
  std::string time_base;   // "1/30000"
  double duration_s = 0;
  std::string model_path, layout;
  std::vector<std::string> class_names;
};

class DetectionsWriter {
 public:
  DetectionsWriter(const std::string& path, const DetectionsHeader& header);
  ~DetectionsWriter();
  DetectionsWriter(const DetectionsWriter&) = delete;
  DetectionsWriter& operator=(const DetectionsWriter&) = delete;

  // Appends one frame; `detections_json` is the frame's JSON array of detections.
  void add_frame(int64_t index, double pts_time, const std::string& detections_json);
  void finish();
  const std::string& path() const { return path_; }

 private:
  std::string path_, temp_path_;
  FILE* file_ = nullptr;
  int64_t frames_ = 0;
  bool finished_ = false;
};

// Class names from a file, one per line (blank trailing lines ignored). Throws UsageError.
std::vector<std::string> load_class_names(const std::string& path);

// Splits a chunk's annotations (a JSON array with one array per frame) into per-frame texts.
std::vector<std::string> split_frame_annotations(const std::string& chunk_annotations);

}  // namespace vidscore
