#include "vidscore/render/npy_writer.h"

#include <cinttypes>
#include <cstring>

#include "vidscore/error.h"

namespace vidscore {
namespace {

// Magic, version, header length and the header dict padded to 128 bytes: room for any shape.
constexpr size_t kHeaderBytes = 128;

}  // namespace

std::string npy_index_path(const std::string& npy_path) {
  const std::string ext = ".npy";
  if (npy_path.size() > ext.size() &&
      npy_path.compare(npy_path.size() - ext.size(), ext.size(), ext) == 0)
    return npy_path.substr(0, npy_path.size() - ext.size()) + ".index.jsonl";
  return npy_path + ".index.jsonl";
}

class NpyWriter::Index : public ResultsWriter {
 public:
  explicit Index(const std::string& path) : ResultsWriter(path, "embedding index") {}
  void add(int64_t, double, const std::string& line) override {
    if (std::fputs(line.c_str(), file_) < 0) write_failed();
  }
};

NpyWriter::NpyWriter(const std::string& path, const std::string& dtype,
                     const std::string& input_path,
                     std::shared_ptr<const std::vector<std::string>> names)
    : ResultsWriter(path, "embeddings"),
      descr_(dtype == "float16" ? "<f2" : "<f4"),
      element_bytes_(dtype == "float16" ? 2 : 4),
      input_path_(input_path),
      names_(std::move(names)),
      index_(std::make_unique<Index>(npy_index_path(path))) {
  const std::string h = header(0);
  if (std::fwrite(h.data(), 1, h.size(), file_) != h.size()) write_failed();
}

NpyWriter::~NpyWriter() = default;

std::string NpyWriter::header(int64_t rows) const {
  char dict[kHeaderBytes];
  std::snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRId64
                ", %zu), }", descr_.c_str(), rows, row_bytes_ / element_bytes_);
  std::string h = "\x93NUMPY";
  h += '\x01';
  h += '\x00';
  const size_t dict_bytes = kHeaderBytes - 10;
  h += static_cast<char>(dict_bytes & 0xff);
  h += static_cast<char>(dict_bytes >> 8);
  std::string d = dict;
  d.resize(dict_bytes - 1, ' ');
  h += d + '\n';
  return h;
}

void NpyWriter::add(int64_t index, double pts_time, const std::string& row) {
  if (rows_ == 0) {
    row_bytes_ = row.size();
  } else if (row.size() != row_bytes_) {
    throw RuntimeError("embedding of " + std::string(names_ ? "image " : "frame ") +
                       std::to_string(index) + " has " + std::to_string(row.size() / element_bytes_) +
                       " values, the earlier ones " + std::to_string(row_bytes_ / element_bytes_));
  }
  if (std::fwrite(row.data(), 1, row.size(), file_) != row.size()) write_failed();
  char line[160];
  if (names_) {
    index_->add(0, 0, "{\"row\": " + std::to_string(rows_) +
                          ", \"path\": " + json_string(names_->at(index)) + "}\n");
  } else {
    std::snprintf(line, sizeof(line), ", \"frame\": %" PRId64 ", \"pts_time\": %.6f}\n", index,
                  pts_time);
    index_->add(0, 0, "{\"row\": " + std::to_string(rows_) + ", \"input\": " +
                          json_string(input_path_) + line);
  }
  ++rows_;
}

void NpyWriter::add_failed(int64_t index, const std::string& reason) {
  VIDSCORE_ASSERT(names_);
  index_->add(0, 0, "{\"row\": null, \"path\": " + json_string(names_->at(index)) +
                        ", \"error\": " + json_string(reason) + "}\n");
}

void NpyWriter::finish() {
  const std::string h = header(rows_);
  if (std::fseek(file_, 0, SEEK_SET) != 0 || std::fwrite(h.data(), 1, h.size(), file_) != h.size())
    write_failed();
  index_->finish();
  commit();
}

}  // namespace vidscore
