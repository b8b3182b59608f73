#include "vidscore/media/video_writer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

extern "C" {
#include <libavutil/display.h>
#include <libavutil/opt.h>
}

#include "vidscore/error.h"
#include "vidscore/partial_files.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

namespace fs = std::filesystem;

AVPixelFormat pick_pix_fmt(const std::string& wanted, const VideoInfo& video) {
  const FrameSize size = video.size;
  const bool odd = size.width % 2 || size.height % 2;
  if (wanted == "yuv444p") return AV_PIX_FMT_YUV444P;
  if (wanted == "yuv420p") {
    if (odd)
      throw UsageError("pix_fmt yuv420p needs even frame sides, the video is " +
                       std::to_string(size.width) + "x" + std::to_string(size.height) +
                       "; use \"auto\" or \"yuv444p\"");
    return AV_PIX_FMT_YUV420P;
  }
  // "auto": keep the source's chroma resolution (4:4:4 stays 4:4:4, 4:2:2 stays 4:2:2), 4:2:0
  // otherwise. 4:2:0 halves chroma in both directions, so odd sides would lose a row or column.
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(video.pix_fmt);
  if (odd || (d && d->log2_chroma_w == 0 && d->log2_chroma_h == 0)) return AV_PIX_FMT_YUV444P;
  if (d && d->log2_chroma_w == 1 && d->log2_chroma_h == 0) return AV_PIX_FMT_YUV422P;
  return AV_PIX_FMT_YUV420P;
}

void set_codec_option(AVCodecContext* enc, const char* key, const std::string& value,
                      std::vector<std::string>& notes) {
  int rc = av_opt_set(enc->priv_data, key, value.c_str(), 0);
  if (rc == AVERROR_OPTION_NOT_FOUND)
    notes.push_back(std::string("encoder ") + enc->codec->name + " has no option \"" + key +
                    "\"; ignored");
  else
    av_check(rc, std::string("encoder option ") + key + "=" + value);
}

}  // namespace

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

VideoWriter::VideoWriter(const std::string& output_path, const VideoInfo& video,
                         const WriterOptions& opts)
    : final_path_(output_path),
      temp_path_(partial_path_for(output_path)),
      video_(video),
      yuv_(make_frame()),
      packet_(make_packet()) {
  const AVOutputFormat* ofmt = output_format_for(output_path);
  AVFormatContext* raw = nullptr;
  av_check(avformat_alloc_output_context2(&raw, ofmt, nullptr, temp_path_.c_str()),
           "output " + output_path);
  out_.reset(raw);

  const AVCodec* codec = avcodec_find_encoder_by_name(opts.codec.c_str());
  if (!codec || codec->type != AVMEDIA_TYPE_VIDEO)
    throw UsageError("video encoder \"" + opts.codec + "\" is not available in this FFmpeg");
  if (avformat_query_codec(ofmt, codec->id, FF_COMPLIANCE_NORMAL) != 1)
    throw UsageError("output " + output_path + ": the " + ofmt->name + " container cannot hold " +
                     avcodec_get_name(codec->id) + " video (use .mp4, .mov or .mkv)");

  enc_.reset(avcodec_alloc_context3(codec));
  if (!enc_) throw std::bad_alloc();
  AVCodecContext* e = enc_.get();
  e->width = video.size.width;
  e->height = video.size.height;
  e->pix_fmt = pick_pix_fmt(opts.pix_fmt, video);
  e->time_base = video.time_base;  // frames keep their source pts: VFR stays VFR
  if (video.frame_rate.num > 0) e->framerate = video.frame_rate;  // rate control hint only
  e->sample_aspect_ratio = video.sample_aspect_ratio;
  // Tags describe the output's own pixels. RGB-coded sources become YUV here: their "gbr"
  // matrix tag would make players decode the YUV as GBR, so tag the matrix actually used.
  ColorTags tags = video.color;
  if (video.rgb_coded) tags.space = effective_color_space(AVCOL_SPC_UNSPECIFIED, video.size);
  e->color_primaries = tags.primaries;
  e->color_trc = tags.transfer;
  e->colorspace = tags.space;
  e->color_range = tags.range == AVCOL_RANGE_JPEG ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  // Interlaced sources stay interlaced: the model sees frames as decoded, the encoder codes
  // them field by field with the source's field order.
  interlaced_ = video.field_order == AV_FIELD_TT || video.field_order == AV_FIELD_BB ||
                video.field_order == AV_FIELD_TB || video.field_order == AV_FIELD_BT;
  if (interlaced_) {
    e->flags |= AV_CODEC_FLAG_INTERLACED_DCT | AV_CODEC_FLAG_INTERLACED_ME;
    e->field_order = video.field_order;
  }
  e->thread_count = 0;
  if (ofmt->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (std::string(codec->name) == "libx264" || std::string(codec->name) == "libx265") {
    set_codec_option(e, "preset", opts.preset, notes_);
    set_codec_option(e, "crf", std::to_string(opts.crf), notes_);
  }
  int rc = avcodec_open2(e, codec, nullptr);
  if (rc < 0)
    throw RuntimeError("cannot open " + opts.codec + " encoder for " +
                       std::to_string(video.size.width) + "x" + std::to_string(video.size.height) +
                       " " + av_get_pix_fmt_name(e->pix_fmt) + ": " + av_error_text(rc));
  if (video.frame_rate.num > 0)
    frame_duration_ =
        std::max<int64_t>(1, av_rescale_q(1, av_inv_q(video.frame_rate), e->time_base));

  stream_ = avformat_new_stream(out_.get(), nullptr);
  if (!stream_) throw std::bad_alloc();
  av_check(avcodec_parameters_from_context(stream_->codecpar, e), "output video stream");
  if (interlaced_) stream_->codecpar->field_order = video.field_order;
  stream_->time_base = e->time_base;
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
  if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(video.pix_fmt);
      d && d->comp[0].depth > 8 && av_pix_fmt_desc_get(e->pix_fmt)->comp[0].depth == 8)
    notes_.push_back("the input has " + std::to_string(d->comp[0].depth) + "-bit samples (" +
                     av_get_pix_fmt_name(video.pix_fmt) + "); the model works on 8-bit RGB and "
                     "the output is 8-bit " + av_get_pix_fmt_name(e->pix_fmt) +
                     " (colour tags and HDR metadata are kept)");
  if (video.has_alpha)
    notes_.push_back("the input's alpha channel (" +
                     std::string(av_get_pix_fmt_name(video.pix_fmt) ? av_get_pix_fmt_name(video.pix_fmt) : "?") +
                     ") is not kept: the model sees and the output has opaque frames");

  copier_ = std::make_unique<StreamCopier>(video.path, video.stream_index, video.ts_shift_us,
                                           out_.get(), opts);

  yuv_->format = e->pix_fmt;
  yuv_->width = e->width;
  yuv_->height = e->height;
  av_check(av_frame_get_buffer(yuv_.get(), 0), "video frame buffer");
  yuv_->interlaced_frame = interlaced_;
  yuv_->top_field_first = video.field_order == AV_FIELD_TT || video.field_order == AV_FIELD_TB;
  from_rgb_ = std::make_unique<FromRgbConverter>(video.size, e->pix_fmt, tags);

  // mp4, mov and mkv all write a file (output_format_for admits no other).
  create_partial_file(output_path);
  try {
    rc = avio_open(&out_->pb, temp_path_.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0)
      throw RuntimeError("cannot write " + temp_path_ + " (for " + output_path +
                         "): " + av_error_text(rc));
    rc = avformat_write_header(out_.get(), nullptr);
    header_written_ = true;
    av_check(rc, "output " + output_path + ": writing the header");
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    out_.reset();
    std::remove(temp_path_.c_str());
    release_partial_file(temp_path_);
    throw;
  }
}

VideoWriter::~VideoWriter() {
  if (finished_) return;
  // Failure path: close what is open and remove the partial file. Never throws.
  out_.reset();
  if (header_written_ || fs::exists(temp_path_)) std::remove(temp_path_.c_str());
  release_partial_file(temp_path_);
}

std::vector<std::string> VideoWriter::notes() const {
  std::vector<std::string> all = notes_;
  all.insert(all.end(), copier_->notes().begin(), copier_->notes().end());
  return all;
}

WriterStats VideoWriter::stats() const {
  WriterStats s = stats_;
  s.copied = copier_->stats();
  return s;
}

void VideoWriter::drain() {
  for (;;) {
    int rc = avcodec_receive_packet(enc_.get(), packet_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    av_check(rc, "encoding video");
    if (packet_->duration <= 0) packet_->duration = frame_duration_;
    // Audio up to this packet's decode time goes first, so the file interleaves.
    auto t0 = Clock::now();
    int64_t ts = packet_->dts != AV_NOPTS_VALUE ? packet_->dts : packet_->pts;
    copier_->write_until(ts * av_q2d(enc_->time_base));
    av_packet_rescale_ts(packet_.get(), enc_->time_base, stream_->time_base);
    packet_->stream_index = stream_->index;
    av_check(av_interleaved_write_frame(out_.get(), packet_.get()), "writing video");
    stats_.mux_s += seconds_since(t0);
  }
}

void VideoWriter::write(const uint8_t* rgb, int64_t pts) {
  VIDSCORE_ASSERT(!finished_);
  VIDSCORE_ASSERT(last_pts_ == AV_NOPTS_VALUE || pts > last_pts_);
  auto t0 = Clock::now();
  double mux_before = stats_.mux_s;
  av_check(av_frame_make_writable(yuv_.get()), "video frame buffer");
  from_rgb_->convert(rgb, *yuv_);
  yuv_->pts = pts;
  av_check(avcodec_send_frame(enc_.get(), yuv_.get()), "encoding video");
  last_pts_ = pts;
  ++stats_.frames_written;
  stats_.video_end_s = (pts + frame_duration_) * av_q2d(enc_->time_base);
  drain();
  stats_.encode_s += seconds_since(t0) - (stats_.mux_s - mux_before);
}

void VideoWriter::finish() {
  VIDSCORE_ASSERT(!finished_);
  av_check(avcodec_send_frame(enc_.get(), nullptr), "flushing the video encoder");
  drain();
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
