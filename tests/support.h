// Test helpers: run the real binary and the ffmpeg/ffprobe CLIs, make clips, decode outputs
// independently of vidscore's own reader, compare frames.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vidscore::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

// Runs a shell command line, capturing its output.
CommandResult run(const std::string& command);
// Runs build/vidscore with `args` (already quoted as needed).
CommandResult run_vidscore(const std::string& args);
// `mpirun -np N --oversubscribe build/vidscore args`.
CommandResult run_vidscore_mpi(int ranks, const std::string& args);

std::string quote(const std::string& s);

// A fresh folder under the build tree, removed at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

bool file_exists(const std::string& path);
// Files in `dir` whose name starts with `prefix` (catches leftover partial outputs).
std::vector<std::string> files_with_prefix(const std::string& dir, const std::string& prefix);

// Runs ffmpeg with `args` (-v error -y prepended); REQUIREs success.
void ffmpeg(const std::string& args);

struct VideoProbe {
  int width = 0, height = 0;
  std::vector<double> frame_times;  // best-effort timestamps of decoded frames, seconds
  std::string codec;
};
VideoProbe probe_video(const std::string& path);
// Stream codec types in file order, e.g. {"audio", "video"}.
std::vector<std::string> stream_types(const std::string& path);
// MD5 of all packets of the first audio stream, stream-copied (byte identity check), and count.
std::string audio_packets_md5(const std::string& path);
int audio_packet_count(const std::string& path);
// Duration of first audio / video stream from packet timestamps (end of last packet).
double stream_end_time(const std::string& path, const std::string& type);

// Decode timestamps of the first video stream's packets, in file (decode) order; INT64_MIN for
// packets without one.
std::vector<int64_t> video_packet_dts(const std::string& path);

// All frames decoded to packed RGB24 by the ffmpeg CLI.
std::vector<std::vector<uint8_t>> decode_rgb(const std::string& path, int width, int height);

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// The checks every joined output passes: decodes with `ffmpeg -xerror` and no message, every
// frame with its pts (`frame_step` > 0: the input has no usable timestamps, frames are that far
// apart), audio packets identical (`has_audio`), dts strictly increasing.
void check_output(const std::string& clip, const std::string& out, bool has_audio,
                  double frame_step = 0);
// Every frame of `out` is within 1 dB of the same frame of `reference` (both against the input,
// so: an identity-like model); no seam at segment boundaries.
void check_no_seams(const std::string& clip, const std::string& reference, const std::string& out,
                    int w, int h);

// Saves a TorchScript module whose forward is `source` (a whole "def forward(self, x): ...").
void save_scripted(const std::string& source, const std::string& path);
// Saves a named hand-set filter (tools/filter_models.h).
void save_filter(const std::string& name, const std::string& path);

// ../shared (VIDSCORE_SHARED), or "" when absent; tests then print VIDSCORE_SKIPPED.
std::string shared_dir();

}  // namespace vidscore::test
