// Plans segments from the input's video packets as they are demuxed (streaming: no pre-pass).
// A segment holds the packets of a run of frames in decode order. A cut is made at a picture
// whose pts is above every pts already in the segment (a boundary in display order: an I- or
// P-picture, never a B-picture that displays before an earlier one), at the boundary where the
// segment comes nearest `target_frames` frames:
// - at a keyframe, the next segment starts there;
// - between keyframes, when the segment's last keyframe is at most 2 x `target_frames` packets
//   back, the next segment is given the packets from that keyframe on as pre-roll (decoded,
//   then dropped by pts; the keyframe's leading pictures left out). Only a keyframe that
//   displays after every picture before it starts pre-roll. So segments come out the length
//   asked for and the ranks' shares of a job even out, for GOPs up to twice the segment length.
//   The pre-roll costs decoding alone, the cheapest stage (about a tenth of a 1080p identity
//   transcode, far less beside a real model); longer GOPs wait for the next keyframe.
// Pictures after the cut (decode order) that display before it (B-pictures, leading pictures of
// an open GOP) are given to the segment being closed as post-roll, with the picture they
// reference; that segment keeps only frames with pts < the cut's, the next keeps pts >= it, so
// every frame is kept exactly once. A stream that starts before its first keyframe (cut mid-GOP)
// keeps frames from that keyframe on, as a decoder would. Knows nothing of FFmpeg
// (AV_PKT_FLAG_KEY is bit 0 of `flags`).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "vidscore/segment.h"

namespace vidscore {

// Which rule cuts the segments: a job kept in a work folder under another rule is not resumed
// (its segments would not meet the ones cut now). 2: cuts between keyframes with pre-roll.
constexpr int kSegmentPlannerRule = 2;

class SegmentPlanner {
 public:
  // `frame_step`: the input's frame duration in its time base (0: unknown), to count the frames
  // a cut would keep before their packets arrive (B-pictures, up to the longest run of them
  // seen so far). `expected_frames`: the input's frame count as
  // its container gives it (0: unknown); the frames left are then shared evenly among the
  // segments still to cut, so all come out near the same length.
  explicit SegmentPlanner(int64_t target_frames, int64_t frame_step = 0,
                          int64_t expected_frames = 0);

  // The next packet in decode order; returns the segment it completed, if any.
  std::optional<SegmentWork> add(PacketData packet);
  // End of the stream: the segments still open (at most two: one awaiting post-roll, the last).
  std::vector<SegmentWork> finish();

  int64_t segments_planned() const { return next_index_; }
  int64_t keyframes_seen() const { return keyframes_; }

 private:
  std::optional<SegmentWork> close_pending();
  int64_t next_target() const;

  int64_t target_;
  int64_t step_;
  int64_t expected_;
  int64_t planned_frames_ = 0;  // frames the segments cut so far keep (as estimated at the cut)
  int64_t current_target_ = 0;  // length sought for the current segment
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
  // index in current_.packets of its last keyframe that displays after every picture before
  // it (a start for pre-roll), -1: none yet
  int64_t gop_start_ = -1;
  int64_t stream_max_pts_ = kNoPts;
  int64_t run_ = 0;          // packets since stream_max_pts_ rose (B-pictures)
  int64_t longest_run_ = 0;  // the longest such run so far
  std::optional<SegmentWork> closing_;  // cut, collecting its post-roll
  bool closing_shared_ = false;         // cut between keyframes: post-roll is current_'s pre-roll
};

// True when bit 0 (AV_PKT_FLAG_KEY) is set.
inline bool is_keyframe(const PacketData& p) { return (p.flags & 1) != 0; }

}  // namespace vidscore
