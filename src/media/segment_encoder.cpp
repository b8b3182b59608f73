#include "vidscore/media/segment_encoder.h"

#include <algorithm>
#include <cstring>

extern "C" {
#include <libavutil/opt.h>
}

#include "vidscore/error.h"
#include "vidscore/media/converter.h"

namespace vidscore {
namespace {

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
                      std::vector<std::string>* notes) {
  int rc = av_opt_set(enc->priv_data, key, value.c_str(), 0);
  if (rc == AVERROR_OPTION_NOT_FOUND) {
    if (notes)
      notes->push_back(std::string("encoder ") + enc->codec->name + " has no option \"" + key +
                       "\"; ignored");
  } else {
    av_check(rc, std::string("encoder option ") + key + "=" + value);
  }
}

PacketData to_packet_data(const AVPacket& p) {
  PacketData d;
  d.pts = p.pts;
  d.dts = p.dts;
  d.duration = p.duration;
  d.flags = p.flags;
  d.data.assign(p.data, p.data + p.size);
  return d;
}

// Moves the encoder's finished packets into `out`.
void drain(AVCodecContext* enc, AVPacket* packet, std::vector<PacketData>& out) {
  for (;;) {
    int rc = avcodec_receive_packet(enc, packet);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    av_check(rc, "encoding video");
    out.push_back(to_packet_data(*packet));
    av_packet_unref(packet);
  }
}

}  // namespace

SegmentEncoder::SegmentEncoder(const VideoInfo& video, const WriterOptions& opts, int threads)
    : video_(video), opts_(opts), yuv_(make_frame()), packet_(make_packet()) {
  codec_ = avcodec_find_encoder_by_name(opts.codec.c_str());
  if (!codec_ || codec_->type != AVMEDIA_TYPE_VIDEO)
    throw UsageError("video encoder \"" + opts.codec + "\" is not available in this FFmpeg");
  pix_fmt_ = pick_pix_fmt(opts.pix_fmt, video);
  // Tags describe the output's own pixels. RGB-coded sources become YUV here: their "gbr"
  // matrix tag would make players decode the YUV as GBR, so tag the matrix actually used.
  tags_ = video.color;
  if (video.rgb_coded) tags_.space = effective_color_space(AVCOL_SPC_UNSPECIFIED, video.size);
  interlaced_ = video.field_order == AV_FIELD_TT || video.field_order == AV_FIELD_BB ||
                video.field_order == AV_FIELD_TB || video.field_order == AV_FIELD_BT;
  if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(video.pix_fmt);
      d && d->comp[0].depth > 8 && av_pix_fmt_desc_get(pix_fmt_)->comp[0].depth == 8)
    notes_.push_back("the input has " + std::to_string(d->comp[0].depth) + "-bit samples (" +
                     av_get_pix_fmt_name(video.pix_fmt) + "); the model works on 8-bit RGB and "
                     "the output is 8-bit " + av_get_pix_fmt_name(pix_fmt_) +
                     " (colour tags and HDR metadata are kept)");
  // One encoder opened and closed: checks every option now, and gives the stream's parameters.
  CodecContextPtr probe = open_encoder();
  par_.reset(avcodec_parameters_alloc());
  if (!par_) throw std::bad_alloc();
  av_check(avcodec_parameters_from_context(par_.get(), probe.get()), "output video stream");
  if (interlaced_) par_->field_order = video.field_order;
  reorder_delay_ = probe->has_b_frames;

  yuv_->format = pix_fmt_;
  yuv_->width = video.size.width;
  yuv_->height = video.size.height;
  av_check(av_frame_get_buffer(yuv_.get(), 0), "video frame buffer");
  yuv_->interlaced_frame = interlaced_;
  yuv_->top_field_first = video.field_order == AV_FIELD_TT || video.field_order == AV_FIELD_TB;
  from_rgb_ = std::make_unique<FromRgbConverter>(video.size, pix_fmt_, tags_, threads);
}

CodecContextPtr SegmentEncoder::open_encoder() {
  CodecContextPtr enc(avcodec_alloc_context3(codec_));
  if (!enc) throw std::bad_alloc();
  AVCodecContext* e = enc.get();
  e->width = video_.size.width;
  e->height = video_.size.height;
  e->pix_fmt = pix_fmt_;
  e->time_base = video_.time_base;  // frames keep their source pts: VFR stays VFR
  if (video_.frame_rate.num > 0) e->framerate = video_.frame_rate;  // rate control hint only
  e->sample_aspect_ratio = video_.sample_aspect_ratio;
  e->color_primaries = tags_.primaries;
  e->color_trc = tags_.transfer;
  e->colorspace = tags_.space;
  e->color_range = tags_.range == AVCOL_RANGE_JPEG ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  // Interlaced sources stay interlaced: the model sees frames as decoded, the encoder codes
  // them field by field with the source's field order.
  if (interlaced_) {
    e->flags |= AV_CODEC_FLAG_INTERLACED_DCT | AV_CODEC_FLAG_INTERLACED_ME;
    e->field_order = video_.field_order;
  }
  e->thread_count = 0;
  // MP4, MOV and MKV all keep the codec's headers once, in the stream's extradata.
  e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  const std::string name = codec_->name;
  std::vector<std::string>* notes = par_ ? nullptr : &notes_;  // say it once, at the probe
  if (name == "libx264" || name == "libx265") {
    set_codec_option(e, "preset", opts_.preset, notes);
    set_codec_option(e, "crf", std::to_string(opts_.crf), notes);
  }
  if (name == "libx264") {
    // Content-independent headers (identical avcC in every segment), closed GOPs.
    set_codec_option(e, "x264-params", "stitchable=1:open-gop=0", notes);
  }
  int rc = avcodec_open2(e, codec_, nullptr);
  if (rc < 0)
    throw RuntimeError("cannot open " + opts_.codec + " encoder for " +
                       std::to_string(video_.size.width) + "x" +
                       std::to_string(video_.size.height) + " " +
                       av_get_pix_fmt_name(e->pix_fmt) + ": " + av_error_text(rc));
  return enc;
}

EncoderParams SegmentEncoder::params() const {
  EncoderParams p;
  p.par.reset(avcodec_parameters_alloc());
  if (!p.par) throw std::bad_alloc();
  av_check(avcodec_parameters_copy(p.par.get(), par_.get()), "output video stream");
  p.time_base = video_.time_base;
  if (video_.frame_step() > 0) p.frame_duration = video_.frame_step();
  p.reorder_delay = reorder_delay_;
  return p;
}

void SegmentEncoder::begin() {
  enc_ = open_encoder();
  pending_.clear();
}

void SegmentEncoder::encode(const uint8_t* rgb, int64_t pts) {
  av_check(av_frame_make_writable(yuv_.get()), "video frame buffer");
  from_rgb_->convert(rgb, *yuv_);
  encode_next(pts);
}

YuvImage SegmentEncoder::next_picture() {
  // The encoder may still hold a reference to the last picture sent.
  av_check(av_frame_make_writable(yuv_.get()), "video frame buffer");
  return yuv_image_for(*yuv_, tags_);
}

void SegmentEncoder::encode_next(int64_t pts) {
  VIDSCORE_ASSERT(enc_);
  yuv_->pts = pts;
  av_check(avcodec_send_frame(enc_.get(), yuv_.get()), "encoding video");
  drain(enc_.get(), packet_.get(), pending_);
}

PendingFlush SegmentEncoder::release() {
  VIDSCORE_ASSERT(enc_);
  PendingFlush f;
  f.enc_ = std::move(enc_);
  f.packets_ = std::move(pending_);
  pending_.clear();
  return f;
}

void SegmentEncoder::end(SegmentResult& out) { release().finish(out); }

void PendingFlush::finish(SegmentResult& out) {
  VIDSCORE_ASSERT(enc_);
  PacketPtr packet = make_packet();
  av_check(avcodec_send_frame(enc_.get(), nullptr), "flushing the video encoder");
  drain(enc_.get(), packet.get(), packets_);
  out.packets = std::move(packets_);
  packets_.clear();
  out.extradata.assign(enc_->extradata, enc_->extradata + enc_->extradata_size);
  enc_.reset();
}

}  // namespace vidscore
