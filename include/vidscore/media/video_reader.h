// Demuxes the best video stream of a file: either its compressed packets as they are (packets
// transport: the ranks decode), or decoded frames with their original presentation timestamps,
// corrected so that they increase (frames transport, and tools). Other streams are ignored here
// (StreamCopier copies them). One reader per thread; it owns every FFmpeg object it opens.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vidscore/ffmpeg_raii.h"
#include "vidscore/frame.h"
#include "vidscore/media/converter.h"
#include "vidscore/segment.h"

namespace vidscore {

struct VideoInfo {
  std::string path;
  std::string format_name;     // demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec_name;      // e.g. "h264"
  int stream_index = -1;       // of the video stream in the input file
  FrameSize size;              // frames are delivered at this size
  AVRational time_base{0, 1};  // of the video stream: pts values are in it
  AVRational frame_rate{0, 1}; // average rate (0/1 when unknown)
  AVRational sample_aspect_ratio{0, 1};
  int64_t frame_count = 0;     // from the container header; 0 when it does not say (WebM)
  double duration_s = 0;       // of the video stream, or the file when the stream lacks one
  ColorTags color;
  AVPixelFormat pix_fmt = AV_PIX_FMT_NONE;  // as decoded (chroma layout guides the encoder's)
  bool has_display_matrix = false;
  std::array<int32_t, 9> display_matrix{};  // rotation/flip, carried to the output
  AVFieldOrder field_order = AV_FIELD_UNKNOWN;  // interlacing as the container/decoder says
  bool rgb_coded = false;      // decoded pixels are RGB (FFV1 bgr0/gbrp, libx264rgb): no matrix
  bool has_alpha = false;      // the source carries transparency the output cannot keep
  // Added to every stream's timestamps (microseconds) so that none is negative: MPEG-TS files
  // whose 33-bit clock wrapped start before zero once FFmpeg unwraps them.
  int64_t ts_shift_us = 0;
  // Stream side data the output carries unchanged (HDR10 mastering display, content light).
  std::map<AVPacketSideDataType, std::vector<uint8_t>> side_data;

  // Best estimate of the number of frames, for progress: 0 when unknown.
  int64_t expected_frames() const;
  // One frame at the average rate, in time_base units (at least 1); 0 when the rate is unknown.
  int64_t frame_step() const;
};

class VideoReader {
 public:
  // Opens `path` and its video decoder. Throws RuntimeError naming the file and the cause.
  explicit VideoReader(const std::string& path);

  const VideoInfo& info() const { return info_; }

  // The video stream's codec parameters (what a decoder elsewhere needs).
  const AVCodecParameters* codec_parameters() const;

  // The next packet of the video stream (decode order, pts/dts in info().time_base, plus
  // ts_shift). Returns false at the end, or where the file is damaged (with a note). Do not mix
  // with next_frame().
  bool read_packet(PacketData& packet);

  // Decodes the next frame; returns it (valid until the next call) and its corrected pts, or
  // null at the end of the stream. Throws RuntimeError on read or decode failure.
  const AVFrame* next_frame(int64_t* pts);
  // The same converted into `rgb` (info().size.rgb_bytes() bytes). Returns false at the end.
  bool read(uint8_t* rgb, int64_t* pts);

  int64_t frames_read() const { return frames_read_; }
  // What the user should know about the input, found while reading: damage, early end, size
  // changes. Complete once read() returned false.
  const std::vector<std::string>& notes() const { return notes_; }
  // True when the input was damaged or ended before the frames its header announced.
  bool damaged() const { return damaged_; }

 private:
  bool receive(int64_t* pts);
  void end_of_input();
  int64_t frame_step() const;  // info_.frame_step(), or 1 when the rate is unknown

  VideoInfo info_;
  InputFormatPtr fmt_;
  CodecContextPtr dec_;
  PacketPtr packet_;
  FramePtr frame_;
  ToRgbConverter to_rgb_;
  bool draining_ = false;
  bool finished_ = false;
  int64_t frames_read_ = 0;
  int64_t packets_read_ = 0;
  int64_t last_pts_ = AV_NOPTS_VALUE;
  int64_t pts_shift_ = 0;  // ts_shift_us in the video time base
  int64_t jump_offset_ = 0;  // added after a timestamp reset or jump (joined streams)
  int64_t invalid_packets_ = 0;
  int64_t repeated_pts_ = 0;
  FrameSize last_size_;
  std::vector<std::string> notes_;
  bool damaged_ = false;
  bool ended_ = false;
};

// Notes at the end of an input: repeated timestamps moved, damaged packets skipped, fewer frames
// than announced. Returns true when the input counts as damaged (exit code 3).
bool end_of_input_notes(const VideoInfo& info, int64_t frames, int64_t invalid_packets,
                        int64_t repeated_pts, std::vector<std::string>& notes);

}  // namespace vidscore
