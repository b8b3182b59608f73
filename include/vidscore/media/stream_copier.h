// Carries every audio and subtitle stream of the input into the output: packet for packet when
// the output container can hold the codec, otherwise (audio only) re-encoded to the fallback
// codec, with a note saying so. It reads the input with its own demuxer, in step with the video
// being written, so memory stays bounded however long the file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vidscore/ffmpeg_raii.h"

namespace vidscore {

struct WriterOptions {
  std::string codec = "libx264";
  int crf = 18;
  std::string preset = "medium";
  std::string pix_fmt = "auto";
  std::string audio_fallback_codec = "aac";
  int audio_fallback_bitrate = 192000;
};

struct CopyStats {
  int64_t packets_copied = 0;    // stream-copied packets written
  int64_t packets_encoded = 0;   // packets of re-encoded streams written
  double audio_end_s = 0;        // end time of the longest audio stream written
};

class StreamCopier {
 public:
  // Opens `input_path` again and adds an output stream to `out` for each stream it will carry.
  // Call before avformat_write_header. `video_stream` is the input stream being re-encoded.
  // `ts_shift_us` is added to every timestamp (VideoInfo::ts_shift_us). Also copies the input's
  // container metadata (title, ...) and chapters to `out`.
  StreamCopier(const std::string& input_path, int video_stream, int64_t ts_shift_us,
               AVFormatContext* out, const WriterOptions& opts);
  ~StreamCopier();

  // Writes the carried packets whose decode time is at most `t_seconds` (interleaving).
  void write_until(double t_seconds);
  // Writes everything left, flushing re-encoders.
  void finish();

  // Human-readable notes: streams re-encoded or dropped, and why.
  const std::vector<std::string>& notes() const { return notes_; }
  const CopyStats& stats() const { return stats_; }
  bool empty() const { return streams_.empty(); }

 private:
  struct Carried;
  bool read_next();
  void write_packet(Carried& c, AVPacket* pkt);

  void copy_metadata_and_chapters();

  std::string path_;
  int64_t shift_us_ = 0;
  AVFormatContext* out_;
  InputFormatPtr in_;
  PacketPtr pending_;
  bool have_pending_ = false;
  bool input_done_ = false;
  std::vector<std::unique_ptr<Carried>> streams_;  // by output order
  std::vector<Carried*> by_input_;                  // input stream index -> carried or null
  std::vector<std::string> notes_;
  CopyStats stats_;
};

}  // namespace vidscore
