// Muxes encoded segments, in order, with the input's audio and subtitle streams (StreamCopier)
// into an MP4/MOV/MKV chosen by the output's extension. Rank 0 runs it; it never encodes video.
// Joining segments: each segment's global header must equal the stream's (checked, a mismatch
// is an error), and decode timestamps are rebuilt for the whole stream from the display order
// and the encoder's reorder depth, so that they increase strictly across the joins (each
// segment's own encoder starts its dts below its first pts, i.e. below the previous segment's
// last dts).
// Writes to a temporary name beside the target and renames it only in finish(): a muxer
// destroyed before finish() removes its temporary file. Not thread-safe.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "vidscore/ffmpeg_raii.h"
#include "vidscore/media/segment_encoder.h"
#include "vidscore/media/stream_copier.h"
#include "vidscore/media/video_reader.h"
#include "vidscore/segment.h"

namespace vidscore {

struct WriterStats {
  int64_t frames_written = 0;
  int64_t segments_written = 0;
  double video_end_s = 0;  // last frame's pts plus its duration
  double mux_s = 0;        // carried streams and container writes
  CopyStats copied;
};

// The muxer for an output name (.mp4, .mov, .mkv); throws UsageError for anything else.
const AVOutputFormat* output_format_for(const std::string& output_path);

class VideoMuxer {
 public:
  VideoMuxer(const std::string& output_path, const VideoInfo& video, const EncoderParams& enc,
             const WriterOptions& opts);
  ~VideoMuxer();
  VideoMuxer(const VideoMuxer&) = delete;
  VideoMuxer& operator=(const VideoMuxer&) = delete;

  // The next segment in display order (its packets in decode order, encoder time base).
  void write_segment(SegmentResult& segment);
  // Flushes the copied streams, writes the trailer, renames into place.
  void finish();

  // Streams re-encoded or dropped, what the container cannot keep: what the user should know.
  std::vector<std::string> notes() const;
  WriterStats stats() const;

 private:
  std::string final_path_;
  std::string temp_path_;
  VideoInfo video_;
  AVRational enc_tb_;
  int64_t frame_duration_;
  int reorder_delay_;
  std::vector<uint8_t> extradata_;
  OutputFormatPtr out_;
  AVStream* stream_ = nullptr;
  PacketPtr packet_;
  std::unique_ptr<StreamCopier> copier_;
  std::deque<int64_t> tail_pts_;  // the last reorder_delay_ pts written, display order
  int64_t packets_written_ = 0;
  int64_t first_pts_ = kNoPts;
  int64_t last_dts_ = kNoPts;
  int64_t last_pts_ = kNoPts;
  bool finished_ = false;
  std::vector<std::string> notes_;
  WriterStats stats_;
};

}  // namespace vidscore
