#include "support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

// torch first: its logging defines a CHECK macro that Catch's must replace.
#include "filter_models.h"
#undef CHECK
#include <catch2/catch.hpp>

namespace vidscore::test {

namespace fs = std::filesystem;

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CommandResult run(const std::string& command) {
  CommandResult r;
  auto t0 = std::chrono::steady_clock::now();
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

CommandResult run_vidscore(const std::string& args) {
  return run(quote(VIDSCORE_BIN) + " --progress off " + args);
}

CommandResult run_vidscore_mpi(int ranks, const std::string& args) {
  return run("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe "
             "--bind-to none -np " + std::to_string(ranks) + " " + quote(VIDSCORE_BIN) +
             " --progress off " + args);
}

TempDir::TempDir() {
  std::string base = (fs::temp_directory_path() / "vidscore-test-XXXXXX").string();
  std::vector<char> tmpl(base.begin(), base.end());
  tmpl.push_back('\0');
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  dir_ = tmpl.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool file_exists(const std::string& path) { return fs::exists(path); }

std::vector<std::string> files_with_prefix(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

void ffmpeg(const std::string& args) {
  CommandResult r = run("ffmpeg -nostdin -v error -y " + args);
  INFO("ffmpeg " << args << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
}

namespace {

std::string probe(const std::string& args) {
  CommandResult r = run("ffprobe -v error " + args);
  INFO("ffprobe " << args << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace

VideoProbe probe_video(const std::string& path) {
  VideoProbe v;
  auto head = lines(probe("-select_streams v:0 -show_entries stream=width,height,codec_name "
                          "-of csv=p=0 " + quote(path)));
  REQUIRE(!head.empty());  // MPEG-TS lists its stream again under its program
  char codec[64] = {0};
  REQUIRE(std::sscanf(head[0].c_str(), "%63[^,],%d,%d", codec, &v.width, &v.height) == 3);
  v.codec = codec;
  for (const auto& l : lines(probe("-select_streams v:0 -show_entries "
                                   "frame=best_effort_timestamp_time -of csv=p=0 " + quote(path))))
    v.frame_times.push_back(std::stod(l));
  return v;
}

std::vector<int64_t> video_packet_dts(const std::string& path) {
  std::vector<int64_t> out;
  for (const auto& l : lines(probe("-select_streams v:0 -show_entries packet=dts -of csv=p=0 " +
                                   quote(path))))
    out.push_back(l == "N/A" ? INT64_MIN : std::stoll(l));
  return out;
}

std::vector<std::string> stream_types(const std::string& path) {
  return lines(probe("-show_entries stream=codec_type -of csv=p=0 " + quote(path)));
}

std::string audio_packets_md5(const std::string& path) {
  CommandResult r = run("ffmpeg -nostdin -v error -i " + quote(path) +
                        " -map 0:a:0 -c copy -f md5 -");
  REQUIRE(r.exit_code == 0);
  return r.output;
}

int audio_packet_count(const std::string& path) {
  return static_cast<int>(
      lines(probe("-select_streams a:0 -show_entries packet=size -of csv=p=0 " + quote(path)))
          .size());
}

double stream_end_time(const std::string& path, const std::string& type) {
  double end = 0;
  for (const auto& l : lines(probe("-select_streams " + type.substr(0, 1) +
                                   ":0 -show_entries packet=pts_time,duration_time -of csv=p=0 " +
                                   quote(path)))) {
    double pts = 0, dur = 0;
    if (std::sscanf(l.c_str(), "%lf,%lf", &pts, &dur) >= 1) end = std::max(end, pts + dur);
  }
  return end;
}

std::vector<std::vector<uint8_t>> decode_rgb(const std::string& path, int width, int height) {
  std::string raw = path + ".rgb";
  ffmpeg("-i " + quote(path) + " -map 0:v:0 -fps_mode passthrough -f rawvideo -pix_fmt rgb24 " +
         quote(raw));
  std::ifstream in(raw, std::ios::binary);
  std::vector<std::vector<uint8_t>> frames;
  const size_t bytes = static_cast<size_t>(width) * height * 3;
  for (;;) {
    std::vector<uint8_t> f(bytes);
    if (!in.read(reinterpret_cast<char*>(f.data()), bytes)) break;
    frames.push_back(std::move(f));
  }
  fs::remove(raw);
  return frames;
}

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = double(a[i]) - double(b[i]);
    se += d * d;
  }
  double mse = se / a.size();
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

void save_scripted(const std::string& source, const std::string& path) {
  filters::module_from_source(source).save(path);
}

void save_filter(const std::string& name, const std::string& path) {
  filters::make_filter(name).save(path);
}

std::string shared_dir() {
  const char* env = std::getenv("VIDSCORE_SHARED");
  std::string dir = env && *env ? env : std::string(VIDSCORE_SOURCE_DIR) + "/../shared";
  if (fs::is_directory(dir + "/models") && fs::is_directory(dir + "/media")) return dir;
  return "";
}

// Decodes cleanly, every frame with its pts, audio identical, dts strictly increasing.
// `frame_step` > 0: the input has no usable timestamps (AVI); frames are that far apart.
void check_output(const std::string& clip, const std::string& out, bool has_audio,
                  double frame_step) {
  // rawvideo keeps no timestamps, so only the decoder speaks (the null muxer complains about
  // VFR timestamps rounded to its frame-rate time base, whatever the input).
  auto errors = run("ffmpeg -nostdin -v error -xerror -i " + quote(out) +
                    " -f rawvideo -y /dev/null 2>&1");
  INFO(errors.output);
  CHECK(errors.exit_code == 0);
  CHECK(errors.output.empty());
  VideoProbe got = probe_video(out);
  if (frame_step > 0) {
    auto frames = run("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                      "stream=nb_read_frames -of csv=p=0 " + quote(clip));
    REQUIRE(got.frame_times.size() == std::stoul(frames.output));
    for (size_t i = 0; i < got.frame_times.size(); ++i)
      CHECK(got.frame_times[i] == Approx(got.frame_times[0] + i * frame_step).margin(1e-3));
  } else {
    VideoProbe in = probe_video(clip);
    REQUIRE(got.frame_times.size() == in.frame_times.size());
    for (size_t i = 0; i < in.frame_times.size(); ++i) {
      INFO("frame " << i);
      CHECK(got.frame_times[i] == Approx(in.frame_times[i]).margin(1e-3));
    }
  }
  if (has_audio) CHECK(audio_packets_md5(out) == audio_packets_md5(clip));
  auto dts = video_packet_dts(out);
  for (size_t i = 1; i < dts.size(); ++i) {
    INFO("packet " << i);
    REQUIRE(dts[i] != INT64_MIN);
    CHECK(dts[i] > dts[i - 1]);
  }
}

// Every frame of `out` is within 1 dB of the same frame of `reference` (both against the input).
void check_no_seams(const std::string& clip, const std::string& reference, const std::string& out,
                    int w, int h) {
  auto in = decode_rgb(clip, w, h), ref = decode_rgb(reference, w, h), got = decode_rgb(out, w, h);
  REQUIRE(got.size() == in.size());
  REQUIRE(ref.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    INFO("frame " << i);
    // The identity model: output ~ input. Compare how close each is to the input.
    CHECK(psnr(got[i], in[i]) >= std::min(psnr(ref[i], in[i]) - 1.0, 60.0));
  }
}

}  // namespace vidscore::test
