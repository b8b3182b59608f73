#include "vidscore/media/video_muxer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

extern "C" {
#include <libavutil/display.h>
}

#include "vidscore/error.h"
#include "vidscore/partial_files.h"
#include "vidscore/timing.h"

namespace vidscore {

namespace fs = std::filesystem;

const AVOutputFormat* output_format_for(const std::string& output_path) {
  const AVOutputFormat* f = av_guess_format(nullptr, output_path.c_str(), nullptr);
  // AVI and others accept H.264 but lose timestamps (no pts: B-frames and VFR break), so only
  // the containers that keep every timestamp are offered.
  if (!f || !(std::strcmp(f->name, "mp4") == 0 || std::strcmp(f->name, "mov") == 0 ||
              std::strcmp(f->name, "matroska") == 0))
    throw UsageError("output " + output_path + ": " +
                     (f ? std::string("the ") + f->name + " container is not supported"
                        : std::string("cannot tell the container from the extension")) +
                     "; use .mp4, .mov or .mkv");
  return f;
}

VideoMuxer::VideoMuxer(const std::string& output_path, const VideoInfo& video,
                       const EncoderParams& enc, const WriterOptions& opts)
    : final_path_(output_path),
      temp_path_(partial_path_for(output_path)),
      video_(video),
      enc_tb_(enc.time_base),
      frame_duration_(enc.frame_duration),
      reorder_delay_(enc.reorder_delay),
      extradata_(enc.par->extradata, enc.par->extradata + enc.par->extradata_size),
      packet_(make_packet()) {
  const AVOutputFormat* ofmt = output_format_for(output_path);
  AVFormatContext* raw = nullptr;
  av_check(avformat_alloc_output_context2(&raw, ofmt, nullptr, temp_path_.c_str()),
           "output " + output_path);
  out_.reset(raw);
  if (avformat_query_codec(ofmt, enc.par->codec_id, FF_COMPLIANCE_NORMAL) != 1)
    throw UsageError("output " + output_path + ": the " + ofmt->name + " container cannot hold " +
                     avcodec_get_name(enc.par->codec_id) + " video (use .mp4, .mov or .mkv)");

  stream_ = avformat_new_stream(out_.get(), nullptr);
  if (!stream_) throw std::bad_alloc();
  av_check(avcodec_parameters_copy(stream_->codecpar, enc.par.get()), "output video stream");
  stream_->codecpar->codec_tag = 0;
  stream_->time_base = enc.time_base;
  stream_->avg_frame_rate = video.frame_rate;
  stream_->sample_aspect_ratio = video.sample_aspect_ratio;
  if (video.has_display_matrix) {
    uint8_t* sd = av_stream_new_side_data(stream_, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9);
    if (!sd) throw std::bad_alloc();
    std::memcpy(sd, video.display_matrix.data(), sizeof(int32_t) * 9);
    if (std::strcmp(ofmt->name, "matroska") == 0) {
      double deg = av_display_rotation_get(video.display_matrix.data());
      notes_.push_back("the input's display rotation (" + std::to_string(std::lround(-deg)) +
                       " degrees) cannot be stored in .mkv by this FFmpeg; the output plays "
                       "unrotated (write .mp4 or .mov to keep it)");
    }
  }
  // HDR10 static metadata travels as stream side data in MP4/MKV: carry it as it is.
  for (AVPacketSideDataType type :
       {AV_PKT_DATA_MASTERING_DISPLAY_METADATA, AV_PKT_DATA_CONTENT_LIGHT_LEVEL}) {
    auto it = video.side_data.find(type);
    if (it == video.side_data.end()) continue;
    uint8_t* sd = av_stream_new_side_data(stream_, type, it->second.size());
    if (!sd) throw std::bad_alloc();
    std::memcpy(sd, it->second.data(), it->second.size());
  }
  const bool hdr_transfer =
      video.color.transfer == AVCOL_TRC_SMPTE2084 || video.color.transfer == AVCOL_TRC_ARIB_STD_B67;
  if (hdr_transfer && !video.side_data.count(AV_PKT_DATA_MASTERING_DISPLAY_METADATA))
    notes_.push_back(std::string("HDR input (") + av_color_transfer_name(video.color.transfer) +
                     "): its colour tags are kept, but mastering-display and content-light "
                     "metadata inside the video bitstream (SEI) are not carried");
  if (video.has_alpha)
    notes_.push_back("the input's alpha channel (" +
                     std::string(av_get_pix_fmt_name(video.pix_fmt) ? av_get_pix_fmt_name(video.pix_fmt) : "?") +
                     ") is not kept: the model sees and the output has opaque frames");

  copier_ = std::make_unique<StreamCopier>(video.path, video.stream_index, video.ts_shift_us,
                                           out_.get(), opts);

  create_partial_file(output_path);
  try {
    int rc = avio_open(&out_->pb, temp_path_.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0)
      throw RuntimeError("cannot write " + temp_path_ + " (for " + output_path +
                         "): " + av_error_text(rc));
    av_check(avformat_write_header(out_.get(), nullptr),
             "output " + output_path + ": writing the header");
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    out_.reset();
    std::remove(temp_path_.c_str());
    release_partial_file(temp_path_);
    throw;
  }
}

VideoMuxer::~VideoMuxer() {
  if (finished_) return;
  // Failure path: close what is open and remove the partial file. Never throws.
  out_.reset();
  std::remove(temp_path_.c_str());
  release_partial_file(temp_path_);
}

std::vector<std::string> VideoMuxer::notes() const {
  std::vector<std::string> all = notes_;
  all.insert(all.end(), copier_->notes().begin(), copier_->notes().end());
  return all;
}

WriterStats VideoMuxer::stats() const {
  WriterStats s = stats_;
  s.copied = copier_->stats();
  return s;
}

void VideoMuxer::write_segment(SegmentResult& seg) {
  VIDSCORE_ASSERT(!finished_);
  auto t0 = Clock::now();
  if (seg.packets.empty()) return;
  if (seg.extradata != extradata_)
    throw RuntimeError("segment " + std::to_string(seg.index) + " (rank " +
                       std::to_string(seg.rank) + "): the encoder's stream header differs from "
                       "the other segments' (" + std::to_string(seg.extradata.size()) + " vs " +
                       std::to_string(extradata_.size()) + " bytes): the segments cannot be "
                       "joined; are all ranks running the same FFmpeg and x264?");
  std::vector<int64_t> display;
  display.reserve(seg.packets.size());
  for (const auto& p : seg.packets) display.push_back(p.pts);
  std::sort(display.begin(), display.end());
  // Decode timestamps as one continuous encode gives them: with a reorder depth of D frames,
  // packet n (decode order, counted over the whole output) decodes when the frame n - D of the
  // display order is due, and the first D packets just before the first frame. Every packet
  // shows no earlier than its decode time because no frame is decoded more than D places ahead
  // of its display position, and the joins need no special case.
  const int64_t d = reorder_delay_;
  const int64_t before = packets_written_;
  const int64_t tail_start = before - static_cast<int64_t>(tail_pts_.size());
  if (before == 0) first_pts_ = display.front();
  for (size_t j = 0; j < seg.packets.size(); ++j) {
    PacketData& p = seg.packets[j];
    const int64_t k = before + static_cast<int64_t>(j) - d;  // display index decoded now
    if (k < 0)
      p.dts = first_pts_ - (-k) * frame_duration_;
    else if (k < before)
      p.dts = tail_pts_[k - tail_start];
    else
      p.dts = display[k - before];
    if (last_dts_ != kNoPts && p.dts <= last_dts_)
      throw RuntimeError("segment " + std::to_string(seg.index) +
                         ": decode timestamps do not increase across the join (" +
                         std::to_string(p.dts) + " after " + std::to_string(last_dts_) + ")");
    if (p.dts > p.pts)
      throw RuntimeError("segment " + std::to_string(seg.index) + ": a packet would decode after "
                         "it is shown (dts " + std::to_string(p.dts) + " > pts " +
                         std::to_string(p.pts) + "): the encoder reorders more than " +
                         std::to_string(d) + " frames");
    last_dts_ = p.dts;
  }
  if (last_pts_ != kNoPts && display.front() <= last_pts_)
    throw RuntimeError("segment " + std::to_string(seg.index) +
                       " overlaps the previous one in time (frames out of order)");
  for (int64_t t : display) {
    tail_pts_.push_back(t);
    if (static_cast<int64_t>(tail_pts_.size()) > d) tail_pts_.pop_front();
  }
  last_pts_ = display.back();
  packets_written_ += static_cast<int64_t>(seg.packets.size());

  for (auto& p : seg.packets) {
    // Audio up to this packet's decode time goes first, so the file interleaves.
    copier_->write_until(p.dts * av_q2d(enc_tb_));
    AVPacket* pkt = packet_.get();
    av_check(av_new_packet(pkt, static_cast<int>(p.data.size())), "video packet");
    std::memcpy(pkt->data, p.data.data(), p.data.size());
    pkt->pts = p.pts;
    pkt->dts = p.dts;
    pkt->duration = p.duration > 0 ? p.duration : frame_duration_;
    pkt->flags = p.flags;
    pkt->stream_index = stream_->index;
    av_packet_rescale_ts(pkt, enc_tb_, stream_->time_base);
    av_check(av_interleaved_write_frame(out_.get(), pkt), "writing video");
    stats_.video_end_s = std::max(stats_.video_end_s,
                                  (p.pts + (p.duration > 0 ? p.duration : frame_duration_)) *
                                      av_q2d(enc_tb_));
  }
  stats_.frames_written += seg.frames();
  ++stats_.segments_written;
  stats_.mux_s += seconds_since(t0);
}

void VideoMuxer::finish() {
  VIDSCORE_ASSERT(!finished_);
  auto t0 = Clock::now();
  copier_->finish();
  av_check(av_write_trailer(out_.get()), "output " + final_path_ + ": writing the trailer");
  stats_.mux_s += seconds_since(t0);
  out_.reset();  // closes the file
  std::error_code ec;
  fs::rename(temp_path_, final_path_, ec);
  release_partial_file(temp_path_);
  if (ec) {
    std::remove(temp_path_.c_str());
    throw RuntimeError("cannot rename " + temp_path_ + " to " + final_path_ + ": " + ec.message());
  }
  finished_ = true;
}

}  // namespace vidscore
