// Encodes a segment's frames (RGB24, or YUV planes written by the task) into compressed packets (libx264 by default), on the rank that
// ran the model. Every segment gets a fresh encoder, so it starts with an IDR frame and its GOPs
// are closed; x264 runs with stitchable=1 (headers that do not depend on the content) and
// open-gop=0, so every segment's global header (avcC) is byte-identical and the segments join
// into one valid stream (VideoMuxer checks). Same settings on every rank. Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "vidscore/ffmpeg_raii.h"
#include "vidscore/media/stream_copier.h"
#include "vidscore/media/video_reader.h"
#include "vidscore/segment.h"

namespace vidscore {

// The codec parameters of the output's video stream, as every segment's encoder will produce
// them (from opening one encoder without encoding): what VideoMuxer writes into the header.
struct EncoderParams {
  CodecParametersPtr par;
  AVRational time_base{1, 1};
  int64_t frame_duration = 1;  // one frame at the average rate, in time_base (at least 1)
  int reorder_delay = 0;       // frames the encoder holds back for B-frames (dts below pts)
};

// A segment's encoder after its last frame: flushing it (x264 still holds its look-ahead, a good
// part of the segment's work) can run on another thread while the next segment's encoder starts.
class PendingFlush {
 public:
  // Flushes; moves the packets (decode order) and the segment's extradata into `out`.
  void finish(SegmentResult& out);

 private:
  friend class SegmentEncoder;
  CodecContextPtr enc_;
  std::vector<PacketData> packets_;  // those that came out before the flush
};

class SegmentEncoder {
 public:
  // Checks the options by opening an encoder once. Throws UsageError for an unknown encoder or
  // option value, RuntimeError when the encoder refuses the frame size or format.
  // `threads`: slices for the RGB -> YUV conversion (x264 picks its own threads).
  SegmentEncoder(const VideoInfo& video, const WriterOptions& opts, int threads = 1);

  void begin();                                 // a fresh encoder for the next segment
  void encode(const uint8_t* rgb, int64_t pts);  // pts in video.time_base, increasing
  // The float path: the planes of the next picture to encode, for the task to write into
  // (8-bit planar YUV with the output's matrix and range); then encode_next sends it.
  YuvImage next_picture();
  void encode_next(int64_t pts);
  // Flushes; moves the packets (decode order) and the segment's extradata into `out`.
  void end(SegmentResult& out);
  // The segment's encoder, every frame sent, for flushing elsewhere; begin() may follow at once.
  PendingFlush release();

  EncoderParams params() const;
  // Options the encoder does not have (ignored), 10-bit to 8-bit, ...: for rank 0 to print.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  CodecContextPtr open_encoder();

  VideoInfo video_;
  WriterOptions opts_;
  const AVCodec* codec_ = nullptr;
  AVPixelFormat pix_fmt_ = AV_PIX_FMT_NONE;
  bool interlaced_ = false;
  ColorTags tags_;
  CodecContextPtr enc_;
  CodecParametersPtr par_;
  int reorder_delay_ = 0;
  FramePtr yuv_;
  PacketPtr packet_;
  std::unique_ptr<FromRgbConverter> from_rgb_;
  std::vector<PacketData> pending_;
  std::vector<std::string> notes_;
};

}  // namespace vidscore
