#include "vidscore/media/segment_decoder.h"

#include <algorithm>
#include <cstring>

extern "C" {
#include <libavutil/imgutils.h>
}

#include "vidscore/error.h"

namespace vidscore {

RawFrame to_raw_frame(const AVFrame& f, int64_t pts) {
  RawFrame r;
  r.pts = pts;
  r.width = f.width;
  r.height = f.height;
  r.format = f.format;
  r.color_space = f.colorspace;
  r.color_range = f.color_range;
  r.interlaced = f.interlaced_frame;
  r.top_field_first = f.top_field_first;
  const auto fmt = static_cast<AVPixelFormat>(f.format);
  const int bytes = av_image_get_buffer_size(fmt, f.width, f.height, 1);
  av_check(bytes, "frame size");
  r.data.resize(bytes);
  av_check(av_image_copy_to_buffer(r.data.data(), bytes, f.data, f.linesize, fmt, f.width,
                                   f.height, 1),
           "packing a frame");
  return r;
}

namespace {

void from_raw_frame(const RawFrame& r, AVFrame* f) {
  av_frame_unref(f);
  f->width = r.width;
  f->height = r.height;
  f->format = r.format;
  f->colorspace = static_cast<AVColorSpace>(r.color_space);
  f->color_range = static_cast<AVColorRange>(r.color_range);
  f->interlaced_frame = r.interlaced;
  f->top_field_first = r.top_field_first;
  av_check(av_frame_get_buffer(f, 0), "video frame buffer");
  const auto fmt = static_cast<AVPixelFormat>(r.format);
  uint8_t* src_data[4] = {};
  int src_lines[4] = {};
  av_check(av_image_fill_arrays(src_data, src_lines, r.data.data(), fmt, r.width, r.height, 1),
           "unpacking a frame");
  av_image_copy(f->data, f->linesize, const_cast<const uint8_t**>(src_data), src_lines, fmt,
                r.width, r.height);
  f->pts = r.pts;
}

}  // namespace

SegmentDecoder::SegmentDecoder(const VideoInfo& video, const AVCodecParameters* par)
    : video_(video), packet_(make_packet()), frame_(make_frame()), last_size_(video.size) {
  if (video.frame_step() > 0) frame_step_ = video.frame_step();
  if (!par) return;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (!codec)
    throw RuntimeError(video.path + ": no decoder for video codec " +
                       avcodec_get_name(par->codec_id) + " on this rank");
  dec_.reset(avcodec_alloc_context3(codec));
  if (!dec_) throw std::bad_alloc();
  av_check(avcodec_parameters_to_context(dec_.get(), par), video.path + ": video decoder");
  dec_->pkt_timebase = video.time_base;
  dec_->thread_count = 0;  // FFmpeg picks by core count
  // Codecs whose "not referenced" mark is final: H.264's nal_ref_idc 0, MPEG-1/2/4 B-pictures.
  // HEVC's sub-layer non-reference pictures may still be referenced from a higher temporal
  // sub-layer (phones write such streams); other codecs are left alone too.
  skip_unreferenced_ = par->codec_id == AV_CODEC_ID_H264 ||
                       par->codec_id == AV_CODEC_ID_MPEG1VIDEO ||
                       par->codec_id == AV_CODEC_ID_MPEG2VIDEO ||
                       par->codec_id == AV_CODEC_ID_MPEG4;
  // A segment may start at a keyframe that is not an IDR (open GOPs: H.264 recovery points,
  // HEVC CRA, MPEG-2 I-frames). FFmpeg's H.264 decoder then withholds the pictures decoded
  // before the keyframe is output as "not yet recovered", although they are complete: show all.
  // The leading pictures that really are incomplete are not sent (they went to the previous
  // segment as its post-roll, and pre-roll leaves them out), and pre-roll frames are dropped by
  // pts.
  dec_->flags2 |= AV_CODEC_FLAG2_SHOW_ALL;
  int rc = avcodec_open2(dec_.get(), codec, nullptr);
  if (rc < 0)
    throw RuntimeError(video.path + ": cannot open " + codec->name + " decoder: " +
                       av_error_text(rc));
}

std::vector<std::string> SegmentDecoder::take_notes() {
  std::vector<std::string> n = std::move(notes_);
  notes_.clear();
  return n;
}

void SegmentDecoder::emit(const AVFrame& frame, int64_t t, const SegmentWork& work,
                          const FrameFn& fn) {
  if (frame.width != last_size_.width || frame.height != last_size_.height) {
    notes_.push_back(video_.path + ": the video changes size in segment " +
                     std::to_string(work.index) + " (" + std::to_string(last_size_.width) + "x" +
                     std::to_string(last_size_.height) + " -> " + std::to_string(frame.width) +
                     "x" + std::to_string(frame.height) + "); scaled to the first size, " +
                     std::to_string(video_.size.width) + "x" + std::to_string(video_.size.height));
    last_size_ = {frame.width, frame.height};
  }
  // A repeated or backwards timestamp (duplicates in MKV) moves by one tick, as the reader does.
  if (last_kept_ != kNoPts && t <= last_kept_) {
    t = last_kept_ + 1;
    ++repeated_pts_;
  }
  last_kept_ = t;
  fn(frame, t);
}

void SegmentDecoder::receive_all(const SegmentWork& work, const FrameFn& fn) {
  for (;;) {
    int rc = avcodec_receive_frame(dec_.get(), frame_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    if (rc == AVERROR_INVALIDDATA) {  // a damaged picture (frame threads report it late)
      ++invalid_packets_;
      continue;
    }
    av_check(rc, video_.path + ": decoding video stream " + std::to_string(video_.stream_index));
    // The packet's own pts, carried through reordering: FFmpeg's best-effort guess may switch to
    // dts after one repeated pts, which would move frames across segment boundaries.
    int64_t t = frame_->pts;
    if (t == AV_NOPTS_VALUE) t = frame_->best_effort_timestamp;
    // Frames without any timestamp continue the sequence by one frame.
    // The first frame of a segment is that of its first packet (pre-roll, when there is some).
    if (t == AV_NOPTS_VALUE) {
      const int64_t first = !work.packets.empty() && work.packets.front().pts != kNoPts
                                ? work.packets.front().pts
                                : work.start_pts;
      t = last_pts_ != kNoPts ? last_pts_ + frame_step_ : (first != kNoPts ? first : 0);
    }
    last_pts_ = t;
    const bool kept = (work.start_pts == kNoPts || t >= work.start_pts) && t < work.end_pts;
    if (kept)
      emit(*frame_, t, work, fn);
    else
      ++dropped_frames_;
    av_frame_unref(frame_.get());
  }
}

void SegmentDecoder::decode(const SegmentWork& work, const FrameFn& fn) {
  last_pts_ = kNoPts;
  if (!work.frames.empty()) {
    for (const RawFrame& r : work.frames) {
      from_raw_frame(r, frame_.get());
      emit(*frame_, r.pts, work, fn);
    }
    av_frame_unref(frame_.get());
    return;
  }
  VIDSCORE_ASSERT(dec_);
  // Pictures outside the segment's range are decoded only when others refer to them, and only
  // where every packet has a pts: without one, a frame's time is counted from the frame before,
  // which a skipped picture would leave out.
  const bool skip_unkept =
      skip_unreferenced_ && work.start_pts != kNoPts &&
      std::all_of(work.packets.begin(), work.packets.end(),
                  [](const PacketData& p) { return p.pts != kNoPts; });
  for (const PacketData& p : work.packets) {
    if (skip_unkept)
      dec_->skip_frame = p.pts < work.start_pts || p.pts >= work.end_pts ? AVDISCARD_NONREF
                                                                        : AVDISCARD_DEFAULT;
    av_check(av_new_packet(packet_.get(), static_cast<int>(p.data.size())), "video packet");
    std::memcpy(packet_->data, p.data.data(), p.data.size());
    packet_->pts = p.pts;
    packet_->dts = p.dts;
    packet_->duration = p.duration;
    packet_->flags = p.flags;
    for (;;) {
      int rc = avcodec_send_packet(dec_.get(), packet_.get());
      if (rc == AVERROR(EAGAIN)) {  // output waiting first
        receive_all(work, fn);
        continue;
      }
      if (rc == AVERROR_INVALIDDATA) ++invalid_packets_;
      // Damaged packets: decoders report and resync; only lasting failures are fatal.
      else if (rc < 0)
        throw RuntimeError(video_.path + ": decoding video stream " +
                           std::to_string(video_.stream_index) + ": " + av_error_text(rc));
      break;
    }
    av_packet_unref(packet_.get());
    receive_all(work, fn);
  }
  dec_->skip_frame = AVDISCARD_DEFAULT;
  // End of the segment: drain, then make the decoder ready for the next one.
  av_check(avcodec_send_packet(dec_.get(), nullptr), video_.path + ": flushing the decoder");
  receive_all(work, fn);
  avcodec_flush_buffers(dec_.get());
}

}  // namespace vidscore
