#include "vidscore/render/detections_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "vidscore/error.h"
#include "vidscore/partial_files.h"

namespace vidscore {

DetectionsWriter::DetectionsWriter(const std::string& path, const DetectionsHeader& h)
    : path_(path), temp_path_(create_partial_file(path)) {
  file_ = std::fopen(temp_path_.c_str(), "w");
  if (!file_) {
    int err = errno;
    std::remove(temp_path_.c_str());
    release_partial_file(temp_path_);
    throw RuntimeError("cannot write detections " + temp_path_ + ": " + std::strerror(err));
  }
  nlohmann::json categories = nlohmann::json::array();
  for (size_t i = 0; i < h.class_names.size(); ++i)
    categories.push_back({{"id", i}, {"name", h.class_names[i]}});
  nlohmann::json video = {{"path", h.input_path},      {"width", h.width},
                          {"height", h.height},        {"frame_rate", h.frame_rate},
                          {"time_base", h.time_base},  {"duration_s", h.duration_s}};
  nlohmann::json model = {{"path", h.model_path}, {"layout", h.layout}};
  std::fprintf(file_, "{\n\"video\": %s,\n\"model\": %s,\n\"categories\": %s,\n\"frames\": [",
               video.dump().c_str(), model.dump().c_str(), categories.dump().c_str());
}

DetectionsWriter::~DetectionsWriter() {
  if (file_) std::fclose(file_);
  if (!finished_) std::remove(temp_path_.c_str());
  release_partial_file(temp_path_);
}

void DetectionsWriter::add_frame(int64_t index, double pts_time, const std::string& dets) {
  std::fprintf(file_, "%s\n{\"frame\": %lld, \"pts_time\": %.6f, \"detections\": %s}",
               frames_ ? "," : "", static_cast<long long>(index), pts_time, dets.c_str());
  ++frames_;
}

void DetectionsWriter::finish() {
  std::fprintf(file_, "\n],\n\"frame_count\": %lld\n}\n", static_cast<long long>(frames_));
  bool ok = std::ferror(file_) == 0;
  ok &= std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok) throw RuntimeError("cannot write detections " + temp_path_ + ": " + std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  release_partial_file(temp_path_);
  if (ec) throw RuntimeError("cannot rename " + temp_path_ + " to " + path_ + ": " + ec.message());
  finished_ = true;
}

std::vector<std::string> load_class_names(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("class names " + path + ": cannot open: " + std::strerror(errno));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) throw UsageError("class names " + path + ": the file has no names");
  return names;
}

std::vector<std::string> split_frame_annotations(const std::string& chunk_annotations) {
  std::vector<std::string> out;
  nlohmann::json arr = nlohmann::json::parse(chunk_annotations);
  VIDSCORE_ASSERT(arr.is_array());
  for (const auto& f : arr) out.push_back(f.dump());
  return out;
}

}  // namespace vidscore
