// Plans segments from the input's video packets as they are demuxed (streaming: no pre-pass).
// A segment starts at a keyframe and holds the packets up to the next cut (decode order). A cut
// is made at the first keyframe, once the segment has `target_frames` packets, whose pts is above
// every pts already in the segment (a true random-access point in display order). Open GOPs:
// packets after the cut keyframe that display before it (leading pictures) are given to the
// segment being closed as post-roll, together with the keyframe they reference; that segment
// keeps only frames with pts < the keyframe's, the next keeps pts >= it, so every frame is kept
// exactly once. A stream that starts before its first keyframe (cut mid-GOP) keeps frames from
// that keyframe on, as a decoder would. Knows nothing of FFmpeg (AV_PKT_FLAG_KEY is bit 0 of
// `flags`).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "vidscore/segment.h"

namespace vidscore {

class SegmentPlanner {
 public:
  explicit SegmentPlanner(int64_t target_frames);

  // The next packet in decode order; returns the segment it completed, if any.
  std::optional<SegmentWork> add(PacketData packet);
  // End of the stream: the segments still open (at most two: one awaiting post-roll, the last).
  std::vector<SegmentWork> finish();

  int64_t segments_planned() const { return next_index_; }
  int64_t keyframes_seen() const { return keyframes_; }

 private:
  std::optional<SegmentWork> close_pending();

  int64_t target_;
  int64_t next_index_ = 0;
  int64_t keyframes_ = 0;
  SegmentWork current_;        // being filled
  int64_t current_own_ = 0;    // its packets that are not pre-roll
  int64_t current_max_pts_ = kNoPts;
  // pts already seen in the current segment, and how many packets repeated one: the ranks move
  // each repeat one tick on, so a cut needs that much room above the segment's last pts.
  std::set<int64_t> current_pts_;
  int64_t current_repeats_ = 0;
  bool keyframe_seen_ = false;
  std::optional<SegmentWork> closing_;  // cut, collecting its post-roll
};

// True when bit 0 (AV_PKT_FLAG_KEY) is set.
inline bool is_keyframe(const PacketData& p) { return (p.flags & 1) != 0; }

}  // namespace vidscore
