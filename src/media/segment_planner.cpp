#include "vidscore/media/segment_planner.h"

#include <algorithm>

namespace vidscore {

SegmentPlanner::SegmentPlanner(int64_t target_frames, int64_t frame_step, int64_t expected_frames)
    : target_(std::max<int64_t>(1, target_frames)),
      step_(std::max<int64_t>(0, frame_step)),
      expected_(std::max<int64_t>(0, expected_frames)) {
  current_.index = next_index_++;
  current_target_ = next_target();
}

int64_t SegmentPlanner::next_target() const {
  // The frames left, shared evenly among the segments of about the target's length they make:
  // the segments of a job come out alike, with no short one left at the end.
  if (expected_ <= 0) return target_;
  const int64_t left = expected_ - planned_frames_;
  const int64_t segments = (left + target_ / 2) / target_;
  // The last: no cut unless the input runs a whole segment past its expected length.
  if (segments <= 1) return std::max<int64_t>(left, 0) + target_;
  return (left + segments - 1) / segments;
}

std::optional<SegmentWork> SegmentPlanner::close_pending() {
  std::optional<SegmentWork> done = std::move(closing_);
  closing_.reset();
  return done;
}

std::optional<SegmentWork> SegmentPlanner::add(PacketData packet) {
  const bool key = is_keyframe(packet);
  if (key) ++keyframes_;
  // Reordering seen so far: the longest run of packets that display before one decoded before
  // them (B-pictures). It bounds the frames a gap in pts can hide: a pause in variable-rate
  // video, without B-pictures, hides none.
  if (packet.pts != kNoPts) {
    if (stream_max_pts_ == kNoPts || packet.pts > stream_max_pts_) {
      longest_run_ = std::max(longest_run_, run_);
      run_ = 0;
      stream_max_pts_ = packet.pts;
    } else {
      ++run_;
    }
  }
  std::optional<SegmentWork> done;
  if (closing_) {
    // Pictures after the cut (decode order) that display before it: B-pictures, leading
    // pictures of a keyframe. They belong to the segment being closed (which holds the picture
    // they reference). After a cut at a keyframe the next segment does not need them: pictures
    // after them in display order do not reference them. After a cut between keyframes it
    // decodes from the keyframe, in decode order, and later pictures may reference them: it
    // gets them too (and drops them by pts). A packet without pts (a second field, say) may
    // belong to either: both get it, and each keeps its frames by pts.
    if (packet.pts == kNoPts || packet.pts < closing_->end_pts) {
      if (closing_shared_ || packet.pts == kNoPts) current_.packets.push_back(packet);
      closing_->packets.push_back(std::move(packet));
      return std::nullopt;
    }
    done = close_pending();
  }
  // Pictures before the first keyframe (a stream cut mid-GOP) cannot be decoded: the first
  // segment starts at that keyframe.
  if (key && packet.pts != kNoPts && !keyframe_seen_ && current_.index == 0 && current_own_ > 0)
    current_.start_pts = packet.pts;
  if (key && packet.pts != kNoPts) keyframe_seen_ = true;
  // A cut needs a picture that displays after every picture already in the segment; so does a
  // keyframe that pre-roll may start from.
  const bool rises = packet.pts != kNoPts &&
                     (current_max_pts_ == kNoPts ||
                      packet.pts > current_max_pts_ + current_repeats_);
  bool boundary = false;
  int64_t kept = 0;
  if (rises) {
    // Frames the segment keeps if cut here: its own so far, and those that display between its
    // last pts and this one (B-pictures, after this one in decode order). The next boundary
    // is likely as far on again: cut here unless that one comes nearer the target.
    int64_t hidden = 0;
    if (step_ > 0 && current_max_pts_ != kNoPts) {
      const int64_t gap = (packet.pts - current_max_pts_ + step_ / 2) / step_;
      hidden = std::min(longest_run_, std::max<int64_t>(0, gap - 1));
    }
    kept = current_own_ + hidden;
    boundary = 2 * kept + hidden + 1 >= 2 * current_target_;
  }
  const int64_t preroll =
      gop_start_ >= 0 ? static_cast<int64_t>(current_.packets.size()) - gop_start_ : -1;
  const bool cut = boundary && (key || (preroll >= 0 && preroll <= 2 * target_));
  if (cut) {
    planned_frames_ += kept;
    current_target_ = next_target();
    current_.end_pts = packet.pts;
    closing_ = std::move(current_);
    closing_->packets.push_back(packet);  // post-roll: the picture its leading pictures need
    current_ = SegmentWork{};
    current_.index = next_index_++;
    current_.start_pts = packet.pts;
    closing_shared_ = !key;
    if (!key) {
      // Pre-roll: decoding starts at the segment's last keyframe. Its leading pictures (after it
      // in decode order, before it in display) stay out: they reference pictures before the
      // keyframe, and no picture after it references them.
      const auto from = closing_->packets.begin() + gop_start_;
      const int64_t key_pts = from->pts;
      for (auto it = from; it != closing_->packets.end() - 1; ++it)
        if (it == from || it->pts == kNoPts || it->pts >= key_pts) current_.packets.push_back(*it);
    }
    gop_start_ = 0;
    current_own_ = 0;
    current_max_pts_ = kNoPts;
    current_pts_.clear();
    current_repeats_ = 0;
  } else if (key && rises) {
    gop_start_ = static_cast<int64_t>(current_.packets.size());
  }
  if (packet.pts != kNoPts) {
    current_max_pts_ = std::max(current_max_pts_, packet.pts);
    if (!current_pts_.insert(packet.pts).second) ++current_repeats_;
  }
  ++current_own_;
  current_.packets.push_back(std::move(packet));
  return done;
}

std::vector<SegmentWork> SegmentPlanner::finish() {
  std::vector<SegmentWork> out;
  if (closing_) out.push_back(*close_pending());
  if (!current_.packets.empty()) {
    current_.end_pts = kEndOfStream;
    out.push_back(std::move(current_));
  } else {
    --next_index_;  // the empty segment opened last is not planned
  }
  current_ = SegmentWork{};
  return out;
}

}  // namespace vidscore
