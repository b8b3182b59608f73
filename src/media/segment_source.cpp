#include "vidscore/media/segment_source.h"

#include <algorithm>
#include <cstring>

#include "vidscore/error.h"
#include "vidscore/media/segment_decoder.h"

namespace vidscore {

namespace {

int balanced_length(int wanted, bool shorten, int ranks, int64_t expected_frames) {
  wanted = std::max(1, wanted);
  if (!shorten || ranks <= 1 || expected_frames <= 0) return wanted;
  // About 4 segments per rank: the dynamic scheduler evens out the tail with that many, and
  // every segment more is an encoder restart and an IDR (15-frame segments of the SMPTE bars
  // cost 29% more bytes than 50-frame ones).
  const int64_t even = (expected_frames + 4 * ranks - 1) / (4 * ranks);  // rounded up
  return static_cast<int>(std::min<int64_t>(wanted, std::max<int64_t>(8, even)));
}

}  // namespace

SegmentSource::SegmentSource(const std::string& path, const std::string& wanted,
                             const std::function<int(double fps)>& length_at, bool shorten,
                             int ranks)
    : path_(path),
      reader_(std::make_unique<VideoReader>(path)),
      planner_(1) {
  segment_frames_ = balanced_length(length_at(av_q2d(info().frame_rate)), shorten, ranks,
                                    info().expected_frames());
  planner_ = SegmentPlanner(segment_frames_, info().frame_step(), info().expected_frames());
  choice_ = choose(wanted, ranks);
  if (choice_.transport == Transport::kFrames && !lookahead_.empty()) {
    // The look-ahead read packets the decoder never saw: start again from the top.
    lookahead_.clear();
    reader_ = std::make_unique<VideoReader>(path);
  }
}

const AVCodecParameters* SegmentSource::codec_parameters() const {
  return choice_.transport == Transport::kPackets ? reader_->codec_parameters() : nullptr;
}

TransportChoice SegmentSource::choose(const std::string& wanted, int ranks) {
  const VideoInfo& info = reader_->info();
  if (wanted == "frames") return {Transport::kFrames, "as configured"};
  auto unsuitable = [&](const std::string& why) -> TransportChoice {
    if (wanted == "packets")
      throw UsageError("pipeline.transport \"packets\": " + path_ + " cannot be split into "
                       "packet segments (" + why + "); use \"auto\" or \"frames\"");
    return {Transport::kFrames, why};
  };
  const std::string fmt = info.format_name;
  if (fmt == "avi")
    return unsuitable("AVI: its packets carry no presentation timestamps, decode order only");
  if (fmt == "mpegts" || fmt == "mpeg")
    return unsuitable("MPEG-TS/PS: timestamps may wrap or restart mid-stream");
  if (info.ts_shift_us != 0) return unsuitable("negative start time (wrapped timestamps)");

  // A bounded look-ahead: enough packets to see a few keyframes.
  const size_t limit = std::max<size_t>(500, 4 * static_cast<size_t>(segment_frames_));
  int64_t keyframes = 0;
  std::vector<size_t> key_at;
  bool eof = false;
  while (lookahead_.size() < limit && keyframes < 3) {
    PacketData p;
    if (!reader_->read_packet(p)) {
      eof = true;
      break;
    }
    if (p.pts == kNoPts) {
      lookahead_.push_back(std::move(p));  // read: the reader must start again (see above)
      return unsuitable("packets without timestamps (decode order only)");
    }
    if (is_keyframe(p)) {
      ++keyframes;
      key_at.push_back(lookahead_.size());
    }
    lookahead_.push_back(std::move(p));
  }
  if (lookahead_.empty()) return {Transport::kPackets, "empty"};
  if (ranks <= 1) return {Transport::kPackets, "the input's packets, decoded where they are used"};
  // Segments the input will give: a cut needs a keyframe, so a segment is at least a GOP long.
  int64_t segments = 0;
  std::string how;
  if (eof) {
    SegmentPlanner trial(segment_frames_, info.frame_step(), info.expected_frames());
    for (const PacketData& p : lookahead_) {
      PacketData meta;
      meta.pts = p.pts;
      meta.flags = p.flags;
      if (trial.add(std::move(meta))) ++segments;
    }
    segments += static_cast<int64_t>(trial.finish().size());
  } else {
    const int64_t gop = key_at.size() >= 2
                            ? static_cast<int64_t>(key_at.back() - key_at.front()) /
                                  static_cast<int64_t>(key_at.size() - 1)
                            : static_cast<int64_t>(limit);
    // Cuts fall between keyframes up to 2 segment lengths after one (SegmentPlanner): GOPs up
    // to that long give segments of the length asked for, longer ones 3 per GOP.
    const int64_t total = info.expected_frames();
    const int64_t in_gops = gop <= 2 * segment_frames_ ? total / std::max(1, segment_frames_)
                                                       : 3 * (total / std::max<int64_t>(1, gop));
    segments = total > 0 ? std::max<int64_t>(1, in_gops) : 2 * ranks;
    how = " (keyframes every " + std::to_string(gop) + " frames)";
  }
  if (segments < 2 * ranks && wanted != "packets")
    return unsuitable("too few keyframes to split: about " + std::to_string(segments) +
                      " segment(s) for " + std::to_string(ranks) + " ranks" + how);
  return {Transport::kPackets, "the input's packets, decoded where they are used"};
}

std::optional<SegmentWork> SegmentSource::next() {
  if (choice_.transport == Transport::kFrames) {
    if (ended_) return std::nullopt;
    SegmentWork work;
    work.index = next_index_;
    int64_t pts = 0;
    size_t bytes = 0;
    // MPI counts are ints: a segment stays well below 2 GiB (4K 4:4:4 at 16 bits is 50 MB a frame).
    constexpr size_t kMaxSegmentBytes = size_t(1) << 30;
    while (static_cast<int>(work.frames.size()) < segment_frames_ && bytes < kMaxSegmentBytes) {
      const AVFrame* f = reader_->next_frame(&pts);
      if (!f) {
        ended_ = true;
        break;
      }
      work.frames.push_back(to_raw_frame(*f, pts));
      bytes += work.frames.back().data.size();
    }
    if (work.frames.empty()) return std::nullopt;
    ++next_index_;
    return work;
  }
  while (ready_.empty() && !ended_) {
    PacketData p;
    bool got = false;
    if (!lookahead_.empty()) {
      p = std::move(lookahead_.front());
      lookahead_.pop_front();
      got = true;
    } else {
      got = reader_->read_packet(p);
    }
    if (!got) {
      for (auto& s : planner_.finish()) ready_.push_back(std::move(s));
      ended_ = true;
      break;
    }
    if (auto s = planner_.add(std::move(p))) ready_.push_back(std::move(*s));
  }
  if (ready_.empty()) return std::nullopt;
  SegmentWork w = std::move(ready_.front());
  ready_.pop_front();
  return w;
}

}  // namespace vidscore
