// Turns a segment's payload back into decoded frames on the rank that runs the model.
// Packets transport: one decoder per rank, given the input's codec parameters once and reused
// across segments (flushed with a NULL packet at the end of each); it keeps only the frames whose
// pts fall in the segment's range, so pre- and post-roll frames (open GOPs) are dropped. A
// pre- or post-roll packet that no other picture refers to is not decoded at all (the decoder's
// skip_frame, AVDISCARD_NONREF; H.264 and MPEG-1/2/4 only: B-pictures outside the range cost
// nothing).
// Frames transport: the frames rank 0 decoded, rebuilt from their packed planes.
// Not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vidscore/ffmpeg_raii.h"
#include "vidscore/media/video_reader.h"
#include "vidscore/segment.h"

namespace vidscore {

// Packs a decoded frame's planes for the frames transport (rank 0).
RawFrame to_raw_frame(const AVFrame& frame, int64_t pts);

class SegmentDecoder {
 public:
  // `par`: the input's codec parameters (packets transport), or null (frames transport).
  SegmentDecoder(const VideoInfo& video, const AVCodecParameters* par);

  using FrameFn = std::function<void(const AVFrame& frame, int64_t pts)>;
  // Calls `fn` for each frame of the segment, in display order, with increasing pts.
  void decode(const SegmentWork& work, const FrameFn& fn);

  // Totals since construction.
  int64_t invalid_packets() const { return invalid_packets_; }
  int64_t repeated_pts() const { return repeated_pts_; }
  // Pictures decoded only to be dropped (pre- and post-roll that other pictures refer to).
  int64_t dropped_frames() const { return dropped_frames_; }
  // Found while decoding (size changes); taken by the caller.
  std::vector<std::string> take_notes();

 private:
  void receive_all(const SegmentWork& work, const FrameFn& fn);
  void emit(const AVFrame& frame, int64_t pts, const SegmentWork& work, const FrameFn& fn);

  VideoInfo video_;
  CodecContextPtr dec_;
  PacketPtr packet_;
  FramePtr frame_;
  int64_t frame_step_ = 1;
  int64_t last_pts_ = kNoPts;  // of the last frame decoded in the current segment
  int64_t last_kept_ = kNoPts;
  int64_t invalid_packets_ = 0;
  int64_t repeated_pts_ = 0;
  int64_t dropped_frames_ = 0;
  bool skip_unreferenced_ = false;  // the codec marks unreferenced pictures for good
  FrameSize last_size_;
  std::vector<std::string> notes_;
};

}  // namespace vidscore
