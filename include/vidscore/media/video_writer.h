// Encodes RGB24 frames (libx264 by default) and muxes them, with the input's audio and subtitle
// streams (StreamCopier), into an MP4/MOV/MKV chosen by the output's extension. Writes to a
// temporary name beside the target and renames it only in finish(): a writer destroyed before
// finish() removes its temporary file, so a failed run leaves nothing under the final name.
// Not thread-safe; one thread owns a writer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vidscore/ffmpeg_raii.h"
#include "vidscore/media/converter.h"
#include "vidscore/media/stream_copier.h"
#include "vidscore/media/video_reader.h"

namespace vidscore {

struct WriterStats {
  int64_t frames_written = 0;
  double video_end_s = 0;  // last frame's pts plus its duration
  double encode_s = 0;     // colour conversion and encoding
  double mux_s = 0;        // carried streams and container writes
  CopyStats copied;
};

// The muxer for an output name (.mp4, .mov, .mkv); throws UsageError for anything else.
const AVOutputFormat* output_format_for(const std::string& output_path);

class VideoWriter {
 public:
  VideoWriter(const std::string& output_path, const VideoInfo& video, const WriterOptions& opts);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Encodes one frame of video.size with its pts (video.time_base). pts must increase.
  void write(const uint8_t* rgb, int64_t pts);
  // Flushes the encoder and the copied streams, writes the trailer, renames into place.
  void finish();

  // Streams re-encoded or dropped, options ignored: what the user should know.
  std::vector<std::string> notes() const;
  WriterStats stats() const;
  const std::string& temp_path() const { return temp_path_; }

 private:
  void drain();

  std::string final_path_;
  std::string temp_path_;
  VideoInfo video_;
  OutputFormatPtr out_;
  CodecContextPtr enc_;
  AVStream* stream_ = nullptr;
  FramePtr yuv_;
  PacketPtr packet_;
  std::unique_ptr<FromRgbConverter> from_rgb_;
  std::unique_ptr<StreamCopier> copier_;
  bool header_written_ = false;
  bool finished_ = false;
  bool interlaced_ = false;
  int64_t last_pts_ = AV_NOPTS_VALUE;
  int64_t frame_duration_ = 1;  // in the encoder's time base
  std::vector<std::string> notes_;
  WriterStats stats_;
};

}  // namespace vidscore
