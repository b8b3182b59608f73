#include "vidscore/cluster/work_folder.h"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include "vidscore/cluster/protocol.h"
#include "vidscore/error.h"
#include "vidscore/media/segment_planner.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr size_t kEndBytes = 4 << 20;  // of the input hashed at each end
constexpr char kMagic[8] = {'V', 'S', 'S', 'E', 'G', '0', '0', '1'};

uint64_t fnv1a(const uint8_t* data, size_t n, uint64_t h = kFnvOffset) {
  for (size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, h);
  return buf;
}

// FNV-1a of [offset, offset + length) of the file, chained onto `h`.
uint64_t hash_range(std::ifstream& in, uint64_t offset, uint64_t length, uint64_t h) {
  std::vector<uint8_t> buf(1 << 20);
  in.seekg(static_cast<std::streamoff>(offset));
  while (length > 0 && in) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(length, buf.size()));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(want));
    const size_t got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    h = fnv1a(buf.data(), got, h);
    length -= got;
  }
  return h;
}

// Size, mtime and a hash of the file's first and last `end_bytes` (all of it when 0). Hashes are
// remembered by path, size and mtime: an archive job hashes its model once, not once per input.
json file_identity(const std::string& path, const std::string& what, size_t end_bytes) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw RuntimeError("cannot read " + what + " " + path + ": " + ec.message());
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  static std::mutex cache_mutex;
  static std::map<std::string, json> cache;
  const std::string key = path + "\n" + std::to_string(size) + "\n" + std::to_string(mtime) +
                          "\n" + std::to_string(end_bytes);
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot read " + what + " " + path + ": " + std::strerror(errno));
  uint64_t h = kFnvOffset;
  if (end_bytes == 0 || size <= 2 * end_bytes) {
    h = hash_range(in, 0, size, h);
  } else {
    h = hash_range(in, 0, end_bytes, h);
    h = hash_range(in, size - end_bytes, end_bytes, h);
  }
  json id{{"size", size}, {"mtime", static_cast<int64_t>(mtime)}, {"hash", hex(h)}};
  std::lock_guard<std::mutex> lock(cache_mutex);
  cache[key] = id;
  return id;
}

// The first setting (as "section.key") where two settings objects differ.
std::string first_difference(const json& a, const json& b, const std::string& prefix = "") {
  if (!a.is_object() || !b.is_object()) return prefix;
  for (auto it = a.begin(); it != a.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (!b.contains(it.key())) return key;
    if (it.value() != b.at(it.key())) return first_difference(it.value(), b.at(it.key()), key);
  }
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key())) return prefix.empty() ? it.key() : prefix + "." + it.key();
  return prefix;
}

// Why a kept folder cannot be reused, or "" when it can.
std::string mismatch(const json& kept, const json& now) {
  if (!kept.is_object()) return "an unreadable manifest";
  if (kept.value("vidscore", json()) != now["vidscore"]) return "another vidscore version";
  if (kept.value("libavcodec", json()) != now["libavcodec"]) return "another FFmpeg version";
  if (kept.value("segment_rule", json()) != now["segment_rule"])
    return "segments cut by another rule (an earlier vidscore)";
  if (kept.value("input", json()) != now["input"]) return "a different input (size, date or content)";
  if (kept.value("model", json()) != now["model"]) return "a different model file";
  if (kept.value("class_names", json()) != now["class_names"]) return "a different class names file";
  if (kept.value("settings", json()) != now["settings"])
    return "a different setting (" + first_difference(kept.value("settings", json::object()),
                                                      now["settings"]) + ")";
  return "";
}

void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      const int err = errno;
      std::error_code ec;
      fs::remove(tmp, ec);
      throw RuntimeError("cannot write " + tmp + ": " + std::strerror(err ? err : EIO));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw RuntimeError("cannot rename " + tmp + ": " + ec.message());
  }
}

bool parse_segment_name(const std::string& name, int64_t* index) {
  long long i = 0;
  int used = 0;
  if (std::sscanf(name.c_str(), "seg-%lld.bin%n", &i, &used) != 1) return false;
  if (used != static_cast<int>(name.size()) || i < 0) return false;
  *index = i;
  return true;
}

const char* transport_name(Transport t) { return t == Transport::kPackets ? "packets" : "frames"; }

}  // namespace

json result_identity(const Config& config, const std::string& input) {
  json settings = config_to_json(config);
  // Not part of the result: where things are, how fast, how it is shown.
  settings.erase("progress");
  settings["model"].erase("path");  // the file's content is what counts
  settings["model"].erase("threads");
  settings["pipeline"].erase("window_segments");
  settings["pipeline"].erase("work_dir");
  settings["pipeline"].erase("resume");
  settings["detect"].erase("json");
  settings["detect"].erase("class_names");
  settings["classify"].erase("class_names");
  settings["pipeline"].erase("segment_images");  // image jobs do not resume
  json id{{"vidscore", VIDSCORE_VERSION},
          {"libavcodec", avcodec_version()},  // the encoders' build (x264 comes with it)
          {"segment_rule", kSegmentPlannerRule},
          {"input", file_identity(input, "input", kEndBytes)},
          {"model", file_identity(config.model_path, "model", 0)},
          {"settings", settings}};
  const std::string& names =
      config.task == "classify" ? config.classify.class_names : config.detect.class_names;
  id["class_names"] = names.empty() ? json() : file_identity(names, "class names", 0);
  // The mtime of the model and class names does not matter: a copy with the same bytes is the
  // same model.
  id["model"].erase("mtime");
  if (id["class_names"].is_object()) id["class_names"].erase("mtime");
  return id;
}

std::string work_folder_for(const std::string& output, const std::string& work_dir) {
  const fs::path out(output);
  const std::string name = out.filename().string() + ".vidscore-work";
  if (work_dir.empty()) return (out.parent_path() / name).string();
  const std::string full = fs::absolute(out).lexically_normal().string();
  const uint64_t h = fnv1a(reinterpret_cast<const uint8_t*>(full.data()), full.size());
  return (fs::path(work_dir) / (out.filename().string() + "-" + hex(h).substr(0, 8) +
                                ".vidscore-work"))
      .string();
}

WorkFolder::WorkFolder(std::string path, json identity, std::vector<std::string>& notes)
    : path_(std::move(path)), identity_(std::move(identity)) {
  std::error_code ec;
  created_here_ = !fs::exists(path_, ec);
  fs::create_directories(path_, ec);
  if (ec || !fs::is_directory(path_))
    throw RuntimeError("cannot create work folder " + path_ + ": " +
                       (ec ? ec.message() : "a file has that name"));
  json kept;
  const fs::path manifest = fs::path(path_) / "manifest.json";
  if (fs::exists(manifest, ec)) {
    std::ifstream in(manifest);
    kept = json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  int64_t segments = 0;
  for (const auto& entry : fs::directory_iterator(path_, ec)) {
    const std::string name = entry.path().filename().string();
    int64_t index = 0;
    if (name.find(".tmp-") != std::string::npos) {
      fs::remove(entry.path(), ec);  // a write that a killed job did not finish
    } else if (parse_segment_name(name, &index)) {
      on_disk_.insert(index);
      ++segments;
    }
  }
  const std::string why = kept.is_discarded() || kept.is_null()
                              ? (segments ? "no manifest" : "")
                              : mismatch(kept.value("identity", json()), identity_);
  if (why.empty() && kept.is_object() && kept.contains("plan")) {
    const json& p = kept["plan"];
    SegmentPlan plan;
    plan.transport = p.value("transport", "") == "frames" ? Transport::kFrames : Transport::kPackets;
    plan.segment_frames = p.value("segment_frames", 0);
    if (plan.segment_frames > 0 && !on_disk_.empty()) previous_plan_ = plan;
    return;
  }
  if (!why.empty() && segments > 0)
    notes.push_back("work folder " + path_ + " holds " + std::to_string(segments) +
                    " segments of a job with " + why + "; they are not reused, starting afresh");
  // Removed when this job keeps its first segment, not now: a run that fails before (a typo in
  // an option) leaves them to the run after it.
  stale_.assign(on_disk_.begin(), on_disk_.end());
  on_disk_.clear();
}

void WorkFolder::begin(const SegmentPlan& plan) { plan_ = plan; }

void WorkFolder::commit() {
  std::error_code ec;
  for (int64_t index : stale_) fs::remove(segment_path(index), ec);
  stale_.clear();
  json m{{"identity", identity_},
         {"plan", {{"transport", transport_name(plan_.transport)},
                   {"segment_frames", plan_.segment_frames}}}};
  const std::string text = m.dump(2) + "\n";
  write_file_atomically((fs::path(path_) / "manifest.json").string(),
                        std::vector<uint8_t>(text.begin(), text.end()));
  committed_ = true;
}

std::string WorkFolder::segment_path(int64_t index) const {
  char name[40];
  std::snprintf(name, sizeof(name), "seg-%08lld.bin", static_cast<long long>(index));
  return (fs::path(path_) / name).string();
}

std::optional<SegmentResult> WorkFolder::reuse(int64_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!on_disk_.count(index)) return std::nullopt;
  }
  const std::string path = segment_path(index);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // magic, payload, FNV-1a of the payload
  const size_t head = sizeof(kMagic), tail = sizeof(uint64_t);
  bool ok = bytes.size() > head + tail && std::memcmp(bytes.data(), kMagic, head) == 0;
  if (ok) {
    uint64_t stored = 0;
    std::memcpy(&stored, bytes.data() + bytes.size() - tail, tail);
    ok = stored == fnv1a(bytes.data() + head, bytes.size() - head - tail);
  }
  std::optional<SegmentResult> out;
  if (ok) {
    try {
      out = unpack_result(std::vector<uint8_t>(bytes.begin() + head, bytes.end() - tail));
      ok = out->index == index;
    } catch (const std::exception&) {
      ok = false;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!ok) {
    notes_.push_back("kept segment " + path + " is damaged; it is done again");
    std::error_code ec;
    fs::remove(path, ec);
    on_disk_.erase(index);
    return std::nullopt;
  }
  out->rank = kReusedRank;
  return out;
}

void WorkFolder::keep(const SegmentResult& result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (write_failed_) return;
  }
  std::vector<uint8_t> payload = pack_result(result);
  std::vector<uint8_t> bytes(kMagic, kMagic + sizeof(kMagic));
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  const uint64_t h = fnv1a(payload.data(), payload.size());
  const auto* hb = reinterpret_cast<const uint8_t*>(&h);
  bytes.insert(bytes.end(), hb, hb + sizeof(h));
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (!committed_) commit();
    write_file_atomically(segment_path(result.index), bytes);
    on_disk_.insert(result.index);
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu_);  // taken again: the guard above ended with its scope
    write_failed_ = true;
    notes_.push_back(std::string("cannot keep finished segments for resuming (") + e.what() +
                     "); the job goes on, but a rerun after a failure would start afresh");
  }
}

bool WorkFolder::unused_and_new() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_here_ && on_disk_.empty() && stale_.empty();
}

int64_t WorkFolder::kept_on_disk() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(on_disk_.size());
}

std::vector<std::string> WorkFolder::take_notes() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(notes_);
}

void WorkFolder::remove() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace vidscore
