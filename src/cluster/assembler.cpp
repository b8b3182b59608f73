#include "vidscore/cluster/assembler.h"

#include <algorithm>

#include "vidscore/error.h"

namespace vidscore {

Assembler::Assembler(Progress& progress, int ranks, std::function<InputSinks(int)> sinks,
                     std::function<void(int, InputTotals&)> finished)
    : progress_(progress), sinks_(std::move(sinks)), finished_(std::move(finished)), ranks_(ranks) {}

void Assembler::deliver(SegmentResult result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto key = std::make_pair(static_cast<int>(result.input), result.index);
    waiting_.emplace(key, std::move(result));
  }
  cv_.notify_all();
}

void Assembler::input_planned(int input, int64_t segments) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    planned_[input] = segments;
  }
  cv_.notify_all();
}

void Assembler::planning_done() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    planning_done_ = true;
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

void Assembler::write(SegmentResult& seg) {
  if (!sink_known_) {
    sink_ = sinks_(next_input_);
    sink_known_ = true;
  }
  if (sink_.muxer) sink_.muxer->write_segment(seg);
  if (sink_.results) {
    VIDSCORE_ASSERT(static_cast<int>(seg.annotations.size()) == seg.frames());
    const bool images = !seg.item_errors.empty();  // frame_pts: the images' indices
    for (int i = 0; i < seg.frames(); ++i) {
      if (images && !seg.item_errors[i].empty()) {
        sink_.results->add_failed(seg.frame_pts[i], seg.item_errors[i]);
        totals_.failed_items.emplace_back(seg.frame_pts[i], seg.item_errors[i]);
      }
      else if (images)
        sink_.results->add(seg.frame_pts[i], 0, seg.annotations[i]);
      else
        sink_.results->add(totals_.frames + i, seg.frame_pts[i] * sink_.time_base_s,
                           seg.annotations[i]);
    }
  }
  totals_.frames += seg.frames();
  ++totals_.segments;
  totals_.invalid_packets += seg.invalid_packets;
  totals_.repeated_pts += seg.repeated_pts;
  for (auto& n : seg.notes)
    if (notes_seen_.insert(std::to_string(next_input_) + n).second) totals_.notes.push_back(n);
  frames_written_ += seg.frames();
  if (seg.rank == kReusedRank) {  // read back from the work folder, not computed now
    ++totals_.reused;
  } else {
    RankStats& r = ranks_.at(seg.rank);
    r.frames += seg.frames();
    ++r.segments;
    r.decode_s = std::max(r.decode_s, seg.decode_s);
    r.convert_s = std::max(r.convert_s, seg.convert_s);
    r.inference_s = std::max(r.inference_s, seg.inference_s);
    r.encode_s = std::max(r.encode_s, seg.encode_s);
    r.peak_rss_mib = std::max(r.peak_rss_mib, seg.peak_rss_mib);
  }
  progress_.update(frames_written_);
}

bool Assembler::finish_next_input() {
  auto it = planned_.find(next_input_);
  return it != planned_.end() && next_index_ >= it->second;
}

void Assembler::run() {
  for (;;) {
    SegmentResult seg;
    bool input_ended = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopped_ || waiting_.count({next_input_, next_index_}) || finish_next_input() ||
               (planning_done_ && planned_.upper_bound(next_input_ - 1) == planned_.end());
      });
      if (stopped_) return;
      auto it = waiting_.find({next_input_, next_index_});
      if (it != waiting_.end()) {
        seg = std::move(it->second);
        waiting_.erase(it);
      } else if (finish_next_input()) {
        input_ended = true;
      } else {
        return;  // every input written
      }
    }
    if (input_ended) {
      InputTotals totals = std::move(totals_);
      totals_ = InputTotals{};
      sink_known_ = false;
      const int input = next_input_;
      ++next_input_;
      next_index_ = 0;
      finished_(input, totals);
      continue;
    }
    // A failed input (a rank could not do a segment, or its output could not be written) has
    // nothing more written; its later segments are dropped.
    if (!seg.error.empty()) {
      if (totals_.error.empty()) totals_.error = seg.error;
    } else if (totals_.error.empty()) {
      try {
        write(seg);
      } catch (const std::exception& e) {
        if (!write_errors_fail_input_) throw;
        totals_.error = e.what();
      }
    }
    ++next_index_;
    if (written_) written_();
  }
}

}  // namespace vidscore
