#include "vidscore/render/results_writer.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "vidscore/error.h"
#include "vidscore/partial_files.h"

namespace vidscore {

ResultsWriter::ResultsWriter(const std::string& path, const std::string& what)
    : path_(path), temp_path_(create_partial_file(path)), what_(what) {
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) {
    int err = errno;
    std::remove(temp_path_.c_str());
    release_partial_file(temp_path_);
    throw RuntimeError("cannot write " + what_ + " " + temp_path_ + ": " + std::strerror(err));
  }
}

ResultsWriter::~ResultsWriter() {
  if (file_) std::fclose(file_);
  if (!finished_) std::remove(temp_path_.c_str());
  release_partial_file(temp_path_);
}

void ResultsWriter::add_failed(int64_t index, const std::string& reason) {
  throw std::logic_error("internal error: " + what_ + " has no place for a failed picture");
}

void ResultsWriter::write_failed() const {
  throw RuntimeError("cannot write " + what_ + " " + temp_path_ + ": " + std::strerror(errno));
}

void ResultsWriter::finish() { commit(); }

void ResultsWriter::commit() {
  bool ok = std::ferror(file_) == 0;
  ok &= std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok) write_failed();
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  release_partial_file(temp_path_);
  if (ec) throw RuntimeError("cannot rename " + temp_path_ + " to " + path_ + ": " + ec.message());
  finished_ = true;
}

JsonResultsWriter::JsonResultsWriter(const std::string& path, const JsonResultsHeader& h)
    : ResultsWriter(path, h.key), key_(h.key) {
  nlohmann::json categories = nlohmann::json::array();
  for (size_t i = 0; i < h.class_names.size(); ++i)
    categories.push_back({{"id", i}, {"name", h.class_names[i]}});
  nlohmann::json video = {{"path", h.input_path},      {"width", h.width},
                          {"height", h.height},        {"frame_rate", h.frame_rate},
                          {"time_base", h.time_base},  {"duration_s", h.duration_s}};
  nlohmann::json model = {{"path", h.model_path}};
  if (!h.layout.empty()) model["layout"] = h.layout;
  std::fprintf(file_, "{\n\"video\": %s,\n\"model\": %s,\n\"categories\": %s,\n\"frames\": [",
               video.dump().c_str(), model.dump().c_str(), categories.dump().c_str());
}

void JsonResultsWriter::add(int64_t index, double pts_time, const std::string& result) {
  std::fprintf(file_, "%s\n{\"frame\": %lld, \"pts_time\": %.6f, \"%s\": %s}", frames_ ? "," : "",
               static_cast<long long>(index), pts_time, key_.c_str(), result.c_str());
  ++frames_;
}

void JsonResultsWriter::finish() {
  std::fprintf(file_, "\n],\n\"frame_count\": %lld\n}\n", static_cast<long long>(frames_));
  commit();
}

JsonLinesWriter::JsonLinesWriter(const std::string& path,
                                 std::shared_ptr<const std::vector<std::string>> names)
    : ResultsWriter(path, "results"), names_(std::move(names)) {}

void JsonLinesWriter::add(int64_t index, double, const std::string& result) {
  std::fprintf(file_, "{\"path\": %s, \"classes\": %s}\n", json_string(names_->at(index)).c_str(),
               result.c_str());
}

void JsonLinesWriter::add_failed(int64_t index, const std::string& reason) {
  std::fprintf(file_, "{\"path\": %s, \"error\": %s}\n", json_string(names_->at(index)).c_str(),
               json_string(reason).c_str());
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

std::string json_string(const std::string& s) {
  // Invalid UTF-8 (a file name from another system) is replaced rather than refused.
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace vidscore
