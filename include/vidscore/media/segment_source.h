// Rank 0's side of the segments: chooses the transport for an input and produces its segments in
// order, streaming (bounded look-ahead, never a pass over the whole file).
// - Packets transport: demuxes the video stream and plans segments at keyframes
//   (SegmentPlanner); no decoding on rank 0.
// - Frames transport: decodes (VideoReader, which also corrects timestamps: resets, wraps,
//   repeats, missing pts) and groups frames in their native YUV layout, split anywhere.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "vidscore/media/segment_planner.h"
#include "vidscore/media/video_reader.h"
#include "vidscore/segment.h"

namespace vidscore {

struct TransportChoice {
  Transport transport = Transport::kPackets;
  std::string reason;  // for the start-up line
};

class SegmentSource {
 public:
  // Opens `path`; `wanted` is "auto", "packets" or "frames"; `ranks` decides whether the input
  // has keyframes enough (a couple of segments per rank). `length_at` gives the segment length
  // asked for at the input's frame rate (0 when unknown); when `shorten` is set (a length from
  // segment_seconds, not set by the user), short inputs get shorter segments, down to 8 frames,
  // so that every rank gets about 4. Throws UsageError when "packets" is forced on an input that
  // cannot be split, RuntimeError for unreadable input.
  SegmentSource(const std::string& path, const std::string& wanted,
                const std::function<int(double fps)>& length_at, bool shorten, int ranks);

  int segment_frames() const { return segment_frames_; }

  const VideoInfo& info() const { return reader_->info(); }
  const TransportChoice& choice() const { return choice_; }
  // The input's codec parameters for the ranks' decoders (packets), or null (frames).
  const AVCodecParameters* codec_parameters() const;

  // The next segment, or nothing at the end.
  std::optional<SegmentWork> next();

  // Found while reading (damage, size changes, timestamp jumps: frames transport).
  const std::vector<std::string>& notes() const { return reader_->notes(); }
  bool damaged() const { return reader_->damaged(); }
  // Frames transport: the reader counted and checked the frames; packets transport: the caller
  // checks the frames that came back (end_of_input_notes).
  bool frames_checked_here() const { return choice_.transport == Transport::kFrames; }

 private:
  TransportChoice choose(const std::string& wanted, int ranks);

  std::string path_;
  int segment_frames_;
  std::unique_ptr<VideoReader> reader_;
  TransportChoice choice_;
  std::deque<PacketData> lookahead_;
  SegmentPlanner planner_;
  std::deque<SegmentWork> ready_;
  bool ended_ = false;
  int64_t next_index_ = 0;  // frames transport
};

}  // namespace vidscore
