#include "vidscore/media/segment_planner.h"

#include <algorithm>

namespace vidscore {

SegmentPlanner::SegmentPlanner(int64_t target_frames)
    : target_(std::max<int64_t>(1, target_frames)) {
  current_.index = next_index_++;
}

std::optional<SegmentWork> SegmentPlanner::close_pending() {
  std::optional<SegmentWork> done = std::move(closing_);
  closing_.reset();
  return done;
}

std::optional<SegmentWork> SegmentPlanner::add(PacketData packet) {
  const bool key = is_keyframe(packet);
  if (key) ++keyframes_;
  std::optional<SegmentWork> done;
  if (closing_) {
    // Leading pictures of the cut keyframe: they display before it, so they belong to the
    // segment being closed (which holds the keyframe they reference). The next segment does
    // not need them: pictures after them in display order do not reference them.
    if (packet.pts != kNoPts && packet.pts < closing_->end_pts) {
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
  const bool cut = key && packet.pts != kNoPts && current_own_ >= target_ &&
                   (current_max_pts_ == kNoPts ||
                    packet.pts > current_max_pts_ + current_repeats_);
  if (cut) {
    current_.end_pts = packet.pts;
    closing_ = std::move(current_);
    closing_->packets.push_back(packet);  // post-roll: the keyframe its leading pictures need
    current_ = SegmentWork{};
    current_.index = next_index_++;
    current_.start_pts = packet.pts;
    current_own_ = 0;
    current_max_pts_ = kNoPts;
    current_pts_.clear();
    current_repeats_ = 0;
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
