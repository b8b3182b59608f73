#include "vidscore/cluster/assembler.h"

#include <algorithm>

#include "vidscore/error.h"

namespace vidscore {

Assembler::Assembler(VideoMuxer* muxer, DetectionsWriter* detections, const VideoInfo& video,
                     Progress& progress, int ranks)
    : muxer_(muxer),
      detections_(detections),
      time_base_s_(av_q2d(video.time_base)),
      progress_(progress),
      ranks_(ranks) {}

void Assembler::deliver(SegmentResult result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t key = result.index;
    waiting_.emplace(key, std::move(result));
  }
  cv_.notify_all();
}

void Assembler::set_segment_count(int64_t segments) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    segment_count_ = segments;
  }
  cv_.notify_all();
}

void Assembler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void Assembler::run() {
  for (;;) {
    SegmentResult seg;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopped_ || waiting_.count(next_) || (segment_count_ >= 0 && next_ >= segment_count_);
      });
      if (stopped_) return;
      auto it = waiting_.find(next_);
      if (it == waiting_.end()) return;  // every segment written
      seg = std::move(it->second);
      waiting_.erase(it);
    }
    if (muxer_) muxer_->write_segment(seg);
    if (detections_) {
      VIDSCORE_ASSERT(static_cast<int>(seg.annotations.size()) == seg.frames());
      for (int i = 0; i < seg.frames(); ++i)
        detections_->add_frame(frames_written_ + i, seg.frame_pts[i] * time_base_s_,
                               seg.annotations[i]);
    }
    frames_written_ += seg.frames();
    invalid_packets_ += seg.invalid_packets;
    repeated_pts_ += seg.repeated_pts;
    for (auto& n : seg.notes)
      if (notes_seen_.insert(n).second) notes_.push_back(n);
    RankStats& r = ranks_.at(seg.rank);
    r.frames += seg.frames();
    ++r.segments;
    r.decode_s = std::max(r.decode_s, seg.decode_s);
    r.convert_s = std::max(r.convert_s, seg.convert_s);
    r.inference_s = std::max(r.inference_s, seg.inference_s);
    r.encode_s = std::max(r.encode_s, seg.encode_s);
    r.peak_rss_mib = std::max(r.peak_rss_mib, seg.peak_rss_mib);
    progress_.update(frames_written_);
    ++next_;
    if (written_) written_();
  }
}

}  // namespace vidscore
