// Embeddings as a NumPy .npy file of shape (rows, D), float32 or float16, streamed row by row:
// its header has a fixed size, written first with a placeholder and rewritten with the row count
// at the end, so memory stays flat whatever the input's length. Beside it, "<name>.index.jsonl"
// says what each row is, one line per row in order:
//   video:  {"row": 0, "input": "in.mp4", "frame": 0, "pts_time": 0.000000}
//   images: {"row": 0, "path": "sub/a.jpg"}, and {"row": null, "path": ..., "error": "..."} for
//           an image that could not be scored.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vidscore/render/results_writer.h"

namespace vidscore {

// The index beside `npy_path`: "x.npy" -> "x.index.jsonl".
std::string npy_index_path(const std::string& npy_path);

class NpyWriter : public ResultsWriter {
 public:
  // A video's frames (`input_path` goes into the index), or images (`names` by index).
  NpyWriter(const std::string& path, const std::string& dtype, const std::string& input_path,
            std::shared_ptr<const std::vector<std::string>> names = nullptr);
  ~NpyWriter() override;
  // `row`: the bytes of one row (EmbedTask's annotation).
  void add(int64_t index, double pts_time, const std::string& row) override;
  void add_failed(int64_t index, const std::string& reason) override;
  void finish() override;
  int64_t rows() const { return rows_; }
  std::string written() const override { return path_ + " + " + npy_index_path(path_); }

 private:
  class Index;
  std::string header(int64_t rows) const;
  std::string descr_;
  size_t element_bytes_;
  std::string input_path_;
  std::shared_ptr<const std::vector<std::string>> names_;
  std::unique_ptr<Index> index_;
  int64_t rows_ = 0;
  size_t row_bytes_ = 0;
};

}  // namespace vidscore
