#include "vidscore/media/video_reader.h"

#include <cmath>
#include <cstdio>
#include <cstring>

extern "C" {
#include <libavutil/display.h>
}

#include "vidscore/error.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

std::string describe_streams(const AVFormatContext* fmt) {
  std::string s;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* p = fmt->streams[i]->codecpar;
    const char* type = av_get_media_type_string(p->codec_type);
    s += (s.empty() ? "" : ", ") + std::to_string(i) + ": " + (type ? type : "unknown") + " " +
         avcodec_get_name(p->codec_id);
  }
  return s.empty() ? "none" : s;
}

}  // namespace

int64_t VideoInfo::expected_frames() const {
  if (frame_count > 0) return frame_count;
  if (duration_s > 0 && frame_rate.num > 0)
    return static_cast<int64_t>(std::llround(duration_s * av_q2d(frame_rate)));
  return 0;
}

int64_t VideoInfo::frame_step() const {
  if (frame_rate.num <= 0) return 0;
  return std::max<int64_t>(1, av_rescale_q(1, av_inv_q(frame_rate), time_base));
}

VideoReader::VideoReader(const std::string& path)
    : packet_(make_packet()), frame_(make_frame()), to_rgb_(FrameSize{}) {
  info_.path = path;
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) throw RuntimeError("cannot open input " + path + ": " + av_error_text(rc));
  fmt_.reset(raw);
  rc = avformat_find_stream_info(fmt_.get(), nullptr);
  if (rc < 0) throw RuntimeError("cannot read stream info of " + path + ": " + av_error_text(rc));

  const AVCodec* codec = nullptr;
  int index = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (index == AVERROR_STREAM_NOT_FOUND)
    throw RuntimeError(path + ": no video stream (streams: " + describe_streams(fmt_.get()) + ")");
  if (index == AVERROR_DECODER_NOT_FOUND || !codec) {
    int any = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    const char* name = any >= 0 ? avcodec_get_name(fmt_->streams[any]->codecpar->codec_id) : "?";
    throw RuntimeError(path + ": no decoder for video codec " + name);
  }
  av_check(index, path + ": cannot select the video stream");
  AVStream* st = fmt_->streams[index];
  // Cover art (attached pictures) is not the video.
  if (st->disposition & AV_DISPOSITION_ATTACHED_PIC)
    throw RuntimeError(path + ": no video stream, only an attached picture (streams: " +
                       describe_streams(fmt_.get()) + ")");

  dec_.reset(avcodec_alloc_context3(codec));
  if (!dec_) throw std::bad_alloc();
  av_check(avcodec_parameters_to_context(dec_.get(), st->codecpar),
           path + ": stream " + std::to_string(index));
  dec_->pkt_timebase = st->time_base;
  dec_->thread_count = 0;  // FFmpeg picks by core count
  rc = avcodec_open2(dec_.get(), codec, nullptr);
  if (rc < 0)
    throw RuntimeError(path + ": cannot open " + codec->name + " decoder for stream " +
                       std::to_string(index) + ": " + av_error_text(rc));
  if (dec_->width <= 0 || dec_->height <= 0)
    throw RuntimeError(path + ": video stream " + std::to_string(index) + " has no frame size");

  info_.format_name = fmt_->iformat->name;
  info_.codec_name = codec->name;
  info_.stream_index = index;
  info_.size = {dec_->width, dec_->height};
  info_.time_base = st->time_base;
  info_.frame_rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  info_.sample_aspect_ratio = av_guess_sample_aspect_ratio(fmt_.get(), st, nullptr);
  info_.frame_count = st->nb_frames;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    info_.duration_s = st->duration * av_q2d(st->time_base);
  else if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0)
    info_.duration_s = fmt_->duration / static_cast<double>(AV_TIME_BASE);
  info_.pix_fmt = dec_->pix_fmt;
  info_.color = {dec_->colorspace, dec_->color_range, dec_->color_primaries, dec_->color_trc};
  size_t sd_size = 0;
  const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sd_size);
  if (sd && sd_size >= sizeof(int32_t) * 9) {
    info_.has_display_matrix = true;
    std::memcpy(info_.display_matrix.data(), sd, sizeof(int32_t) * 9);
  }
  info_.field_order = st->codecpar->field_order;
  if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(dec_->pix_fmt)) {
    info_.rgb_coded = (d->flags & AV_PIX_FMT_FLAG_RGB) || dec_->colorspace == AVCOL_SPC_RGB;
    info_.has_alpha = d->flags & AV_PIX_FMT_FLAG_ALPHA;
  }
  // WebM VP9 keeps alpha in side data that FFmpeg's native decoder skips; the tag says so.
  if (const AVDictionaryEntry* e = av_dict_get(st->metadata, "alpha_mode", nullptr, 0))
    info_.has_alpha |= std::string(e->value) == "1";
  if (fmt_->start_time != AV_NOPTS_VALUE && fmt_->start_time < 0) {
    info_.ts_shift_us = -fmt_->start_time;
    pts_shift_ = av_rescale_q(info_.ts_shift_us, AV_TIME_BASE_Q, st->time_base);
  }
  for (AVPacketSideDataType type :
       {AV_PKT_DATA_MASTERING_DISPLAY_METADATA, AV_PKT_DATA_CONTENT_LIGHT_LEVEL}) {
    size_t n = 0;
    const uint8_t* data = av_stream_get_side_data(st, type, &n);
    if (data && n) info_.side_data[type].assign(data, data + n);
  }
  last_size_ = info_.size;
  to_rgb_ = ToRgbConverter(info_.size);
}

int64_t VideoReader::frame_step() const { return std::max<int64_t>(1, info_.frame_step()); }

bool VideoReader::receive(int64_t* pts) {
  av_frame_unref(frame_.get());
  int rc = avcodec_receive_frame(dec_.get(), frame_.get());
  if (rc == AVERROR(EAGAIN)) return false;
  if (rc == AVERROR_EOF) {
    finished_ = true;
    return false;
  }
  if (rc == AVERROR_INVALIDDATA) {  // a damaged picture (frame threads report it late)
    ++invalid_packets_;
    return false;
  }
  av_check(rc, info_.path + ": decoding video stream " + std::to_string(info_.stream_index));
  int64_t t = frame_->best_effort_timestamp;
  if (t == AV_NOPTS_VALUE) t = frame_->pts;
  if (t != AV_NOPTS_VALUE) t += pts_shift_;
  if (frame_->width != last_size_.width || frame_->height != last_size_.height) {
    notes_.push_back(info_.path + ": the video changes size at frame " +
                     std::to_string(frames_read_) + " (" + std::to_string(last_size_.width) + "x" +
                     std::to_string(last_size_.height) + " -> " + std::to_string(frame_->width) +
                     "x" + std::to_string(frame_->height) + "); scaled to the first size, " +
                     std::to_string(info_.size.width) + "x" + std::to_string(info_.size.height));
    last_size_ = {frame_->width, frame_->height};
  }
  // A reset or a jump of more than 10 s (joined TS files, concatenations): later frames keep
  // their spacing and continue where the stream was, as FFmpeg's CLI does.
  if (t != AV_NOPTS_VALUE) t += jump_offset_;
  if (t != AV_NOPTS_VALUE && last_pts_ != AV_NOPTS_VALUE) {
    const int64_t second = av_rescale_q(1, AVRational{1, 1}, info_.time_base);
    if (t < last_pts_ - second || t > last_pts_ + 10 * second) {
      const int64_t delta = last_pts_ + frame_step() - t;
      jump_offset_ += delta;
      t += delta;
      notes_.push_back(info_.path + ": video timestamps jump by " +
                       signed_seconds_text(-delta * av_q2d(info_.time_base)) + " s at frame " +
                       std::to_string(frames_read_) +
                       " (a reset or joined stream); continued in step from there");
    }
  }
  // Frames without any timestamp continue the sequence by one frame. A repeated or backwards
  // timestamp (duplicates in MKV) moves by one tick only: bumping it a whole frame would push
  // every later frame along with it. The encoder needs strictly increasing pts.
  if (t == AV_NOPTS_VALUE) {
    t = last_pts_ == AV_NOPTS_VALUE ? 0 : last_pts_ + frame_step();
  } else if (last_pts_ != AV_NOPTS_VALUE && t <= last_pts_) {
    t = last_pts_ + 1;
    ++repeated_pts_;
  }
  last_pts_ = t;
  *pts = t;
  ++frames_read_;
  return true;
}

const AVCodecParameters* VideoReader::codec_parameters() const {
  return fmt_->streams[info_.stream_index]->codecpar;
}

bool VideoReader::read_packet(PacketData& out) {
  for (;;) {
    int rc = av_read_frame(fmt_.get(), packet_.get());
    if (rc == AVERROR_EOF) return false;
    if (rc < 0) {
      // Damaged or cut file: keep what came before, as for a truncated TS or MKV.
      damaged_ = true;
      notes_.push_back(info_.path + ": input damaged after packet " +
                       std::to_string(packets_read_) + " (" + av_error_text(rc) +
                       "); the frames before it were kept");
      return false;
    }
    if (packet_->stream_index != info_.stream_index) {
      av_packet_unref(packet_.get());
      continue;
    }
    out.pts = packet_->pts == AV_NOPTS_VALUE ? kNoPts : packet_->pts + pts_shift_;
    out.dts = packet_->dts == AV_NOPTS_VALUE ? kNoPts : packet_->dts + pts_shift_;
    out.duration = packet_->duration;
    out.flags = packet_->flags;
    out.data.assign(packet_->data, packet_->data + packet_->size);
    av_packet_unref(packet_.get());
    ++packets_read_;
    return true;
  }
}

bool VideoReader::read(uint8_t* rgb, int64_t* pts) {
  const AVFrame* f = next_frame(pts);
  if (!f) return false;
  to_rgb_.convert(*f, rgb);
  return true;
}

const AVFrame* VideoReader::next_frame(int64_t* pts) {
  while (!finished_) {
    if (receive(pts)) return frame_.get();
    if (finished_) break;
    if (draining_) continue;
    int rc = av_read_frame(fmt_.get(), packet_.get());
    if (rc == AVERROR_EOF) {
      draining_ = true;
      av_check(avcodec_send_packet(dec_.get(), nullptr), info_.path + ": flushing the decoder");
      continue;
    }
    if (rc < 0) {
      // Damaged or cut file: keep what decoded, as for a truncated TS or MKV.
      damaged_ = true;
      notes_.push_back(info_.path + ": input damaged after frame " + std::to_string(frames_read_) +
                       " (" + av_error_text(rc) + "); the frames before it were kept");
      draining_ = true;
      av_check(avcodec_send_packet(dec_.get(), nullptr), info_.path + ": flushing the decoder");
      continue;
    }
    if (packet_->stream_index == info_.stream_index) {
      rc = avcodec_send_packet(dec_.get(), packet_.get());
      if (rc == AVERROR_INVALIDDATA) ++invalid_packets_;
      // Damaged packets: decoders report and resync; only lasting failures are fatal.
      if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_INVALIDDATA) {
        av_packet_unref(packet_.get());
        throw RuntimeError(info_.path + ": decoding video stream " +
                           std::to_string(info_.stream_index) + ": " + av_error_text(rc));
      }
    }
    av_packet_unref(packet_.get());
  }
  end_of_input();
  return nullptr;
}

void VideoReader::end_of_input() {
  if (ended_) return;
  ended_ = true;
  damaged_ |= end_of_input_notes(info_, frames_read_, invalid_packets_, repeated_pts_, notes_);
}

bool end_of_input_notes(const VideoInfo& info, int64_t frames, int64_t invalid_packets,
                        int64_t repeated_pts, std::vector<std::string>& notes) {
  bool damaged = false;
  if (repeated_pts > 0)
    notes.push_back(info.path + ": " + std::to_string(repeated_pts) +
                    " frame(s) repeated an earlier timestamp; each was moved one time-base "
                    "tick later so that timestamps increase");
  if (invalid_packets > 0) {
    damaged = true;
    notes.push_back(info.path + ": " + std::to_string(invalid_packets) +
                    " damaged video packet(s) could not be decoded and were skipped");
  }
  const int64_t expected = info.expected_frames();
  // Counts from duration x rate are estimates (VFR, rounding), and announced counts include
  // frames an edit list leaves out (trimmed MP4s): a few percent short is not a loss.
  const int64_t slack = std::max<int64_t>(2, expected / 50);
  if (expected > 0 && frames + slack < expected) {
    damaged = true;
    notes.push_back(info.path + ": the input ended early: " + std::to_string(frames) + " of " +
                    std::to_string(expected) +
                    (info.frame_count > 0 ? " announced" : " expected (from its duration)") +
                    " frames decoded and written");
  }
  return damaged;
}

}  // namespace vidscore
