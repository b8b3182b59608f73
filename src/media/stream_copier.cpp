#include "vidscore/media/stream_copier.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

extern "C" {
#include <libavutil/opt.h>
}

#include "vidscore/error.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

bool is_mp4_family(const AVOutputFormat* f) {
  return std::strcmp(f->name, "mp4") == 0 || std::strcmp(f->name, "mov") == 0 ||
         std::strcmp(f->name, "ipod") == 0;
}

// FFmpeg's muxers accept more than players read back (Vorbis in MP4, for one): for the MP4
// family, copy only codecs that players handle there.
bool container_holds(const AVOutputFormat* f, AVMediaType type, AVCodecID id) {
  if (avformat_query_codec(f, id, FF_COMPLIANCE_NORMAL) != 1) return false;
  if (!is_mp4_family(f)) return true;
  if (type == AVMEDIA_TYPE_AUDIO) {
    // QuickTime holds uncompressed PCM (FFmpeg 5.1's MP4 muxer does not).
    const AVCodecDescriptor* d = avcodec_descriptor_get(id);
    if (std::strcmp(f->name, "mov") == 0 && d && std::strncmp(d->name, "pcm_", 4) == 0)
      return true;
    static const AVCodecID kMp4Audio[] = {AV_CODEC_ID_AAC, AV_CODEC_ID_MP3,  AV_CODEC_ID_MP2,
                                          AV_CODEC_ID_AC3, AV_CODEC_ID_EAC3, AV_CODEC_ID_ALAC,
                                          AV_CODEC_ID_OPUS};
    return std::find(std::begin(kMp4Audio), std::end(kMp4Audio), id) != std::end(kMp4Audio);
  }
  if (type == AVMEDIA_TYPE_SUBTITLE) return id == AV_CODEC_ID_MOV_TEXT;
  return true;
}

std::string stream_label(int index, const AVCodecParameters* p) {
  const char* type = av_get_media_type_string(p->codec_type);
  return std::string(type ? type : "data") + " stream " + std::to_string(index) + " (" +
         avcodec_get_name(p->codec_id) + ")";
}

}  // namespace

struct StreamCopier::Carried {
  int in_index = -1;
  AVStream* in_st = nullptr;
  AVStream* out_st = nullptr;
  bool transcode = false;
  double end_s = 0;
  // Re-encode state (transcode only).
  CodecContextPtr dec, enc;
  SwrContextPtr swr;
  AudioFifoPtr fifo;
  FramePtr frame, enc_frame;
  PacketPtr enc_packet;
  int64_t next_pts = AV_NOPTS_VALUE;  // in enc->time_base (1/sample_rate)
  // Stream-copied audio across a timestamp reset (concatenated files): added to pts and dts so
  // that the stream continues where it was, as FFmpeg's CLI does.
  int64_t ts_offset = 0;
  int64_t last_dts = AV_NOPTS_VALUE;
  int64_t last_duration = 0;
};

StreamCopier::StreamCopier(const std::string& input_path, int video_stream, int64_t ts_shift_us,
                           AVFormatContext* out, const WriterOptions& opts)
    : path_(input_path), shift_us_(ts_shift_us), out_(out), pending_(make_packet()) {
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, input_path.c_str(), nullptr, nullptr);
  if (rc < 0) throw RuntimeError("cannot open input " + input_path + ": " + av_error_text(rc));
  in_.reset(raw);
  av_check(avformat_find_stream_info(in_.get(), nullptr),
           "cannot read stream info of " + input_path);
  by_input_.assign(in_->nb_streams, nullptr);
  copy_metadata_and_chapters();

  for (unsigned i = 0; i < in_->nb_streams; ++i) {
    AVStream* st = in_->streams[i];
    const AVCodecParameters* par = st->codecpar;
    if (static_cast<int>(i) == video_stream) continue;
    std::string label = stream_label(i, par);
    if (par->codec_type != AVMEDIA_TYPE_AUDIO && par->codec_type != AVMEDIA_TYPE_SUBTITLE) {
      notes_.push_back(label + " not carried: only audio and subtitle streams are");
      continue;
    }
    auto c = std::make_unique<Carried>();
    c->in_index = static_cast<int>(i);
    c->in_st = st;
    bool holds = container_holds(out_->oformat, par->codec_type, par->codec_id);
    if (!holds && par->codec_type == AVMEDIA_TYPE_SUBTITLE) {
      // Matroska holds text and bitmap subtitles but not mov_text; MP4/MOV hold only mov_text.
      const char* keep = par->codec_id == AV_CODEC_ID_MOV_TEXT ? "write .mp4 or .mov to keep it"
                                                               : "write .mkv to keep it";
      notes_.push_back(label + " dropped: " + out_->oformat->name + " cannot hold it (" + keep +
                       ")");
      continue;
    }
    c->out_st = avformat_new_stream(out_, nullptr);
    if (!c->out_st) throw std::bad_alloc();
    av_dict_copy(&c->out_st->metadata, st->metadata, 0);
    c->out_st->disposition = st->disposition;
    if (holds) {
      av_check(avcodec_parameters_copy(c->out_st->codecpar, par), label);
      c->out_st->codecpar->codec_tag = 0;  // let the muxer pick its own tag
      c->out_st->time_base = st->time_base;
    } else {
      // Audio the container cannot hold: decode, resample, re-encode.
      c->transcode = true;
      const AVCodec* dec = avcodec_find_decoder(par->codec_id);
      const AVCodec* enc = avcodec_find_encoder_by_name(opts.audio_fallback_codec.c_str());
      if (!dec) throw RuntimeError(input_path + ": " + label + ": no decoder to re-encode it");
      if (!enc || enc->type != AVMEDIA_TYPE_AUDIO)
        throw RuntimeError("audio fallback encoder \"" + opts.audio_fallback_codec +
                           "\" is not available in this FFmpeg");
      c->dec.reset(avcodec_alloc_context3(dec));
      av_check(avcodec_parameters_to_context(c->dec.get(), par), label);
      c->dec->pkt_timebase = st->time_base;
      av_check(avcodec_open2(c->dec.get(), dec, nullptr), input_path + ": opening decoder of " + label);

      c->enc.reset(avcodec_alloc_context3(enc));
      AVCodecContext* e = c->enc.get();
      e->sample_fmt = enc->sample_fmts ? enc->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
      e->sample_rate = c->dec->sample_rate > 0 ? c->dec->sample_rate : 48000;
      if (enc->supported_samplerates) {
        bool ok = false;
        for (const int* r = enc->supported_samplerates; *r; ++r) ok |= *r == e->sample_rate;
        if (!ok) e->sample_rate = 48000;
      }
      if (c->dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || c->dec->ch_layout.nb_channels == 0)
        av_channel_layout_default(&e->ch_layout, std::max(1, c->dec->ch_layout.nb_channels));
      else
        av_check(av_channel_layout_copy(&e->ch_layout, &c->dec->ch_layout), label);
      e->bit_rate = opts.audio_fallback_bitrate;
      e->time_base = {1, e->sample_rate};
      if (out_->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
      av_check(avcodec_open2(e, enc, nullptr), "opening " + opts.audio_fallback_codec + " encoder");
      av_check(avcodec_parameters_from_context(c->out_st->codecpar, e), label);
      c->out_st->time_base = e->time_base;

      SwrContext* swr = nullptr;
      av_check(swr_alloc_set_opts2(&swr, &e->ch_layout, e->sample_fmt, e->sample_rate,
                                   &c->dec->ch_layout, c->dec->sample_fmt, c->dec->sample_rate,
                                   0, nullptr),
               "audio resampler for " + label);
      c->swr.reset(swr);
      av_check(swr_init(swr), "audio resampler for " + label);
      c->fifo.reset(av_audio_fifo_alloc(e->sample_fmt, e->ch_layout.nb_channels, 4096));
      if (!c->fifo) throw std::bad_alloc();
      c->frame = make_frame();
      c->enc_frame = make_frame();
      c->enc_packet = make_packet();
      notes_.push_back(label + " re-encoded as " + opts.audio_fallback_codec + ": " +
                       out_->oformat->name + " cannot hold " + avcodec_get_name(par->codec_id));
    }
    by_input_[i] = c.get();
    streams_.push_back(std::move(c));
  }
  // Streams nobody carries need no demuxing work.
  for (unsigned i = 0; i < in_->nb_streams; ++i)
    if (!by_input_[i]) in_->streams[i]->discard = AVDISCARD_ALL;
  if (streams_.empty()) input_done_ = true;
}

StreamCopier::~StreamCopier() = default;

void StreamCopier::copy_metadata_and_chapters() {
  // Container tags describing the file (title, artist, comment...), not the ones each muxer
  // writes for itself.
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(in_->metadata, "", e, AV_DICT_IGNORE_SUFFIX))) {
    static const char* kMuxerOwned[] = {"major_brand", "minor_version", "compatible_brands",
                                        "encoder", "creation_time"};
    bool own = false;
    for (const char* k : kMuxerOwned) own |= std::strcmp(e->key, k) == 0;
    if (!own) av_dict_set(&out_->metadata, e->key, e->value, 0);
  }
  const AVRational us{1, 1000000};
  for (unsigned i = 0; i < in_->nb_chapters; ++i) {
    const AVChapter* in = in_->chapters[i];
    auto* ch = static_cast<AVChapter*>(av_mallocz(sizeof(AVChapter)));
    if (!ch) throw std::bad_alloc();
    ch->id = in->id;
    ch->time_base = in->time_base;
    const int64_t shift = av_rescale_q(shift_us_, us, in->time_base);
    ch->start = in->start + shift;
    ch->end = in->end + shift;
    av_dict_copy(&ch->metadata, in->metadata, 0);
    void* grown = av_realloc_array(out_->chapters, out_->nb_chapters + 1, sizeof(AVChapter*));
    if (!grown) {
      av_dict_free(&ch->metadata);
      av_free(ch);
      throw std::bad_alloc();
    }
    out_->chapters = static_cast<AVChapter**>(grown);
    out_->chapters[out_->nb_chapters++] = ch;
  }
}

bool StreamCopier::read_next() {
  while (!input_done_) {
    int rc = av_read_frame(in_.get(), pending_.get());
    if (rc == AVERROR_EOF) {
      input_done_ = true;
      return false;
    }
    if (rc < 0) throw RuntimeError(path_ + ": read error in audio/subtitle streams: " + av_error_text(rc));
    if (pending_->stream_index < static_cast<int>(by_input_.size()) &&
        by_input_[pending_->stream_index])
      return true;
    av_packet_unref(pending_.get());
  }
  return false;
}

void StreamCopier::write_packet(Carried& c, AVPacket* pkt) {
  AVRational tb = c.transcode ? c.enc->time_base : c.in_st->time_base;
  if (shift_us_ && !c.transcode) {  // re-encoded streams took the shift at their first pts
    const int64_t shift = av_rescale_q(shift_us_, AVRational{1, 1000000}, tb);
    if (pkt->pts != AV_NOPTS_VALUE) pkt->pts += shift;
    if (pkt->dts != AV_NOPTS_VALUE) pkt->dts += shift;
  }
  if (!c.transcode && c.in_st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO &&
      pkt->dts != AV_NOPTS_VALUE) {
    const int64_t dts = pkt->dts + c.ts_offset;
    const int64_t jump_limit = av_rescale_q(10, AVRational{1, 1}, tb);
    if (c.last_dts != AV_NOPTS_VALUE && (dts <= c.last_dts || dts > c.last_dts + jump_limit)) {
      const int64_t want = c.last_dts + std::max<int64_t>(1, c.last_duration);
      c.ts_offset += want - dts;
      notes_.push_back(stream_label(c.in_index, c.in_st->codecpar) + ": timestamps jump by " +
                       signed_seconds_text((dts - c.last_dts) * av_q2d(tb)) + " s (a reset or joined stream); continued in step from there");
    }
    if (pkt->pts != AV_NOPTS_VALUE) pkt->pts += c.ts_offset;
    pkt->dts += c.ts_offset;
    c.last_dts = pkt->dts;
    c.last_duration = pkt->duration;
  }
  if (pkt->pts != AV_NOPTS_VALUE) {
    double end = (pkt->pts + pkt->duration) * av_q2d(tb);
    c.end_s = std::max(c.end_s, end);
    if (c.in_st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
      stats_.audio_end_s = std::max(stats_.audio_end_s, c.end_s);
  }
  av_packet_rescale_ts(pkt, tb, c.out_st->time_base);
  pkt->stream_index = c.out_st->index;
  pkt->pos = -1;
  av_check(av_interleaved_write_frame(out_, pkt),
           "writing " + stream_label(c.in_index, c.in_st->codecpar));
  ++(c.transcode ? stats_.packets_encoded : stats_.packets_copied);
}

namespace {

// Resamples `nb` input samples (nullptr: the resampler's buffered tail) into the FIFO.
void resample_into_fifo(SwrContext* swr, AVCodecContext* enc, AVAudioFifo* fifo,
                        const uint8_t** data, int nb) {
  int out_max = swr_get_out_samples(swr, nb);
  if (out_max <= 0) return;
  uint8_t** buf = nullptr;
  av_check(av_samples_alloc_array_and_samples(&buf, nullptr, enc->ch_layout.nb_channels, out_max,
                                              enc->sample_fmt, 0),
           "audio buffer");
  int got = swr_convert(swr, buf, out_max, data, nb);
  int written = got > 0 ? av_audio_fifo_write(fifo, reinterpret_cast<void**>(buf), got) : 0;
  av_freep(&buf[0]);
  av_freep(&buf);
  av_check(got, "resampling audio");
  av_check(written, "audio FIFO");
}

// Encodes frames of enc->frame_size from the FIFO (all of it when flushing), then drains.
template <typename Write>
void encode_fifo(AVCodecContext* enc, AVAudioFifo* fifo, AVFrame* frame, AVPacket* pkt,
                 int64_t& next_pts, bool flushing, Write&& write) {
  const int frame_size = enc->frame_size > 0 ? enc->frame_size : 1024;
  auto drain = [&](const char* what) {
    for (;;) {
      int rc = avcodec_receive_packet(enc, pkt);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      av_check(rc, what);
      write(pkt);
    }
  };
  while (av_audio_fifo_size(fifo) >= frame_size ||
         (flushing && av_audio_fifo_size(fifo) > 0)) {
    int n = std::min(frame_size, av_audio_fifo_size(fifo));
    av_frame_unref(frame);
    frame->nb_samples = n;
    frame->format = enc->sample_fmt;
    frame->sample_rate = enc->sample_rate;
    av_check(av_channel_layout_copy(&frame->ch_layout, &enc->ch_layout), "audio frame");
    av_check(av_frame_get_buffer(frame, 0), "audio frame");
    if (av_audio_fifo_read(fifo, reinterpret_cast<void**>(frame->data), n) < n)
      throw RuntimeError("audio FIFO underrun");
    frame->pts = next_pts;
    next_pts += n;
    av_check(avcodec_send_frame(enc, frame), "encoding audio");
    drain("encoding audio");
  }
  if (flushing) {
    av_check(avcodec_send_frame(enc, nullptr), "flushing audio encoder");
    drain("flushing audio encoder");
  }
}

}  // namespace

void StreamCopier::write_until(double t_seconds) {
  for (;;) {
    if (!have_pending_) {
      if (!read_next()) return;
      have_pending_ = true;
    }
    Carried& c = *by_input_[pending_->stream_index];
    int64_t ts = pending_->dts != AV_NOPTS_VALUE ? pending_->dts : pending_->pts;
    if (ts != AV_NOPTS_VALUE &&
        (ts + c.ts_offset) * av_q2d(c.in_st->time_base) + shift_us_ * 1e-6 > t_seconds)
      return;
    have_pending_ = false;
    if (!c.transcode) {
      write_packet(c, pending_.get());
      continue;
    }
    int rc = avcodec_send_packet(c.dec.get(), pending_.get());
    av_packet_unref(pending_.get());
    // A damaged audio packet is skipped, as players do; the rest of the stream still plays.
    if (rc < 0 && rc != AVERROR_INVALIDDATA)
      throw RuntimeError(path_ + ": decoding " + stream_label(c.in_index, c.in_st->codecpar) +
                         ": " + av_error_text(rc));
    auto emit = [&](AVPacket* p) { write_packet(c, p); };
    for (;;) {
      rc = avcodec_receive_frame(c.dec.get(), c.frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
      if (rc == AVERROR_INVALIDDATA) continue;
      av_check(rc, path_ + ": decoding " + stream_label(c.in_index, c.in_st->codecpar));
      if (c.next_pts == AV_NOPTS_VALUE) {
        int64_t t = c.frame->best_effort_timestamp;
        c.next_pts = t == AV_NOPTS_VALUE ? 0 : av_rescale_q(t, c.in_st->time_base, c.enc->time_base);
        c.next_pts += av_rescale_q(shift_us_, AVRational{1, 1000000}, c.enc->time_base);
      }
      resample_into_fifo(c.swr.get(), c.enc.get(), c.fifo.get(),
                         const_cast<const uint8_t**>(c.frame->extended_data), c.frame->nb_samples);
      av_frame_unref(c.frame.get());
      encode_fifo(c.enc.get(), c.fifo.get(), c.enc_frame.get(), c.enc_packet.get(), c.next_pts,
                  false, emit);
    }
  }
}

void StreamCopier::finish() {
  write_until(1e300);
  for (auto& cp : streams_) {
    Carried& c = *cp;
    if (!c.transcode) continue;
    // Decoder and resampler tails, then the encoder's.
    avcodec_send_packet(c.dec.get(), nullptr);
    while (avcodec_receive_frame(c.dec.get(), c.frame.get()) >= 0) {
      resample_into_fifo(c.swr.get(), c.enc.get(), c.fifo.get(),
                         const_cast<const uint8_t**>(c.frame->extended_data), c.frame->nb_samples);
      av_frame_unref(c.frame.get());
    }
    resample_into_fifo(c.swr.get(), c.enc.get(), c.fifo.get(), nullptr, 0);
    if (c.next_pts == AV_NOPTS_VALUE) c.next_pts = 0;
    auto emit = [&](AVPacket* p) { write_packet(c, p); };
    encode_fifo(c.enc.get(), c.fifo.get(), c.enc_frame.get(), c.enc_packet.get(), c.next_pts, true,
                emit);
  }
}

}  // namespace vidscore
