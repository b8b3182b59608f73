// Rank 0's writers of a task's results, fed in order (frame by frame, image by image) and
// streamed to disk, so memory does not grow with the input. Each writes under a partial name
// (partial_files.h) and renames into place in finish(); destroyed unfinished, it removes what it
// wrote.
//   JsonResultsWriter: one JSON document per video (detect, classify):
//     {"video": {...}, "model": {...}, "categories": [...], "frames": [
//      {"frame", "pts_time", "<key>": <result>}, ...], "frame_count": N}
//   JsonLinesWriter: image folders (classify): one line per image, in the job's order:
//     {"path": "<relative path>", "classes": <result>} or {"path": ..., "error": "<reason>"}
//   NpyWriter (npy_writer.h): embeddings.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace vidscore {

class ResultsWriter {
 public:
  virtual ~ResultsWriter();
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;

  // The result of frame or image `index` (a video frame: its presentation time too).
  virtual void add(int64_t index, double pts_time, const std::string& result) = 0;
  // An image that could not be scored, with the reason (image folders).
  virtual void add_failed(int64_t index, const std::string& reason);
  // Writes the end and renames into place. Throws RuntimeError.
  virtual void finish();
  const std::string& path() const { return path_; }
  // What it writes, for the summary: its path (and its companions').
  virtual std::string written() const { return path_; }

 protected:
  // Opens the partial file for `path`; `what` names the output in messages ("detections").
  ResultsWriter(const std::string& path, const std::string& what);
  void commit();  // closes and renames into place
  [[noreturn]] void write_failed() const;
  std::string path_, temp_path_, what_;
  FILE* file_ = nullptr;

 private:
  bool finished_ = false;
};

struct JsonResultsHeader {
  std::string input_path;
  int width = 0, height = 0;
  std::string frame_rate;  // "30000/1001"
  std::string time_base;   // "1/30000"
  double duration_s = 0;
  std::string model_path, layout;  // layout: detect's output layout, or "" (not written)
  std::vector<std::string> class_names;
  std::string key = "detections";  // of each frame's result: "detections", "classes"
};

class JsonResultsWriter : public ResultsWriter {
 public:
  JsonResultsWriter(const std::string& path, const JsonResultsHeader& header);
  void add(int64_t index, double pts_time, const std::string& result) override;
  void finish() override;

 private:
  std::string key_;
  int64_t frames_ = 0;
};

class JsonLinesWriter : public ResultsWriter {
 public:
  // `names`: each image's relative path, by index.
  JsonLinesWriter(const std::string& path, std::shared_ptr<const std::vector<std::string>> names);
  void add(int64_t index, double pts_time, const std::string& result) override;
  void add_failed(int64_t index, const std::string& reason) override;

 private:
  std::shared_ptr<const std::vector<std::string>> names_;
};

// Class names from a file, one per line (blank trailing lines ignored). Throws UsageError.
std::vector<std::string> load_class_names(const std::string& path);

// `s` as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

}  // namespace vidscore
