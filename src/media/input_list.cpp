#include "vidscore/media/input_list.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

extern "C" {
#include <libavformat/avformat.h>
}

#include "vidscore/error.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;

// Demuxers that recognise files which hold no video: images, subtitles, text, audio-only.
bool holds_no_video(const std::string& name) {
  static const std::set<std::string> kNoVideo = {
      "image2", "tty", "srt", "ass", "webvtt", "subviewer", "subviewer1", "microdvd", "sami",
      "jacosub", "mpl2", "pjs", "realtext", "stl", "vplayer", "lrc", "aqtitle", "mp3", "wav",
      "flac", "aac", "ac3", "eac3", "aiff", "w64", "wv", "ape", "tta", "amr", "au", "caf", "dts",
      "truehd", "mlp", "ico", "apng"};
  if (name.size() > 5 && name.compare(name.size() - 5, 5, "_pipe") == 0) return true;  // images
  for (size_t start = 0;;) {  // "mov,mp4,m4a,3gp,3g2,mj2": any of the names
    const size_t comma = name.find(',', start);
    const std::string one = name.substr(start, comma - start);
    if (!kNoVideo.count(one)) return false;
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool has_video_extension(const fs::path& p) {
  static const std::set<std::string> kVideo = {
      ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
      ".vob", ".flv", ".wmv", ".asf", ".ogv", ".3gp", ".3g2", ".mxf", ".y4m", ".nut", ".gif"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return kVideo.count(ext) > 0;
}

bool has_image_extension(const fs::path& p) {
  static const std::set<std::string> kImage = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp",
                                               ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm",
                                               ".pnm", ".tga", ".qoi", ".jp2", ".j2k", ".dpx",
                                               ".exr", ".sgi", ".pcx", ".xbm", ".xwd"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return kImage.count(ext) > 0;
}

bool is_image_format(const std::string& name) {
  return name == "image2" || (name.size() > 5 && name.compare(name.size() - 5, 5, "_pipe") == 0);
}

enum class Kind { kVideo, kImage, kOther };

// What FFmpeg's probe recognises in the file's first 64 KiB says whether it is video or an
// image, or its name does (so a damaged file is still reported rather than skipped).
Kind kind_of(const fs::path& path) {
  if (has_video_extension(path)) return Kind::kVideo;
  if (has_image_extension(path)) return Kind::kImage;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Kind::kOther;
  std::vector<uint8_t> buf(64 * 1024 + AVPROBE_PADDING_SIZE, 0);
  in.read(reinterpret_cast<char*>(buf.data()), 64 * 1024);
  const int got = static_cast<int>(in.gcount());
  if (got <= 0) return Kind::kOther;
  AVProbeData pd{};
  pd.filename = "";  // by content only: the extension was looked at above
  pd.buf = buf.data();
  pd.buf_size = got;
  int score = 0;
  const AVInputFormat* fmt = av_probe_input_format3(&pd, 1, &score);
  if (!fmt || score <= AVPROBE_SCORE_EXTENSION / 2) return Kind::kOther;
  if (is_image_format(fmt->name)) return Kind::kImage;
  return holds_no_video(fmt->name) ? Kind::kOther : Kind::kVideo;
}

void add_folder(const fs::path& root, bool images, std::vector<JobInput>& out,
                std::vector<std::string>& skipped) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    // Work folders and partial outputs of vidscore itself, hidden files.
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (name.find(".vidscore-work") != std::string::npos) {
      it.disable_recursion_pending();
      continue;
    }
    if (name.find(".partial-") != std::string::npos) continue;
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const Kind kind = kind_of(f);
    if (kind == Kind::kVideo || (images && kind == Kind::kImage))
      out.push_back({f.string(), f.lexically_relative(root).string(), kind == Kind::kImage, true});
    else
      skipped.push_back(f.lexically_relative(root).string());
  }
}

}  // namespace

bool is_archive_job(const std::vector<std::string>& values) {
  if (values.size() != 1) return values.size() > 1;
  std::error_code ec;
  return values[0].rfind("@", 0) == 0 || fs::is_directory(values[0], ec);
}

std::vector<JobInput> expand_inputs(const std::vector<std::string>& values,
                                    std::vector<std::string>& notes, bool images) {
  std::vector<JobInput> out;
  std::vector<std::string> skipped;
  std::error_code ec;
  for (const std::string& v : values) {
    if (v.rfind("@", 0) == 0) {
      const std::string list = v.substr(1);
      std::ifstream in(list);
      if (!in) throw UsageError("input list " + list + ": cannot open: " + std::strerror(errno));
      std::string line;
      while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        out.push_back({line, fs::path(line).filename().string(), images && kind_of(line) == Kind::kImage});
      }
    } else if (fs::is_directory(v, ec)) {
      add_folder(v, images, out, skipped);
    } else {
      // A missing file is reported with the others when its turn comes.
      out.push_back({v, fs::path(v).filename().string(), images && kind_of(v) == Kind::kImage});
    }
  }
  if (!skipped.empty()) {
    std::string names;
    for (size_t i = 0; i < skipped.size() && i < 5; ++i) names += (i ? ", " : "") + skipped[i];
    if (skipped.size() > 5) names += ", ...";
    notes.push_back("skipped " + std::to_string(skipped.size()) + " file" +
                    (skipped.size() > 1 ? "s" : "") + " that FFmpeg does not recognise as video" + (images ? " or an image (" : " (") +
                    names + ")");
  }
  // Two inputs may not write the same output.
  std::map<std::string, std::string> seen;
  for (const auto& in : out) {
    if (in.image) continue;  // images write no output of their own
    const std::string key = fs::path(in.relative).replace_extension().string();
    auto [it, fresh] = seen.emplace(key, in.path);
    if (!fresh)
      throw UsageError("inputs " + it->second + " and " + in.path +
                       " would write the same output (" + key + "); give them different names");
  }
  return out;
}

}  // namespace vidscore
