#include "vidscore/media/stream_params.h"

namespace vidscore {

void pack_video_info(ByteWriter& w, const VideoInfo& v) {
  w.put_string(v.path);
  w.put_string(v.format_name);
  w.put_string(v.codec_name);
  w.put<int32_t>(v.stream_index);
  w.put(v.size);
  w.put(v.time_base);
  w.put(v.frame_rate);
  w.put(v.sample_aspect_ratio);
  w.put(v.frame_count);
  w.put(v.duration_s);
  w.put(v.color);
  w.put<int32_t>(v.pix_fmt);
  w.put(v.has_display_matrix);
  w.put(v.display_matrix);
  w.put<int32_t>(v.field_order);
  w.put(v.rgb_coded);
  w.put(v.has_alpha);
  w.put(v.ts_shift_us);
  w.put<uint64_t>(v.side_data.size());
  for (const auto& [type, data] : v.side_data) {
    w.put<int32_t>(type);
    w.put_bytes(data);
  }
}

VideoInfo unpack_video_info(ByteReader& r) {
  VideoInfo v;
  v.path = r.get_string();
  v.format_name = r.get_string();
  v.codec_name = r.get_string();
  v.stream_index = r.get<int32_t>();
  v.size = r.get<FrameSize>();
  v.time_base = r.get<AVRational>();
  v.frame_rate = r.get<AVRational>();
  v.sample_aspect_ratio = r.get<AVRational>();
  v.frame_count = r.get<int64_t>();
  v.duration_s = r.get<double>();
  v.color = r.get<ColorTags>();
  v.pix_fmt = static_cast<AVPixelFormat>(r.get<int32_t>());
  v.has_display_matrix = r.get<bool>();
  v.display_matrix = r.get<std::array<int32_t, 9>>();
  v.field_order = static_cast<AVFieldOrder>(r.get<int32_t>());
  v.rgb_coded = r.get<bool>();
  v.has_alpha = r.get<bool>();
  v.ts_shift_us = r.get<int64_t>();
  const uint64_t n = r.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    auto type = static_cast<AVPacketSideDataType>(r.get<int32_t>());
    v.side_data[type] = r.get_bytes();
  }
  return v;
}

void pack_codec_parameters(ByteWriter& w, const AVCodecParameters* p) {
  w.put<bool>(p != nullptr);
  if (!p) return;
  w.put<int32_t>(p->codec_type);
  w.put<int32_t>(p->codec_id);
  w.put<uint32_t>(p->codec_tag);
  w.put_bytes(p->extradata, p->extradata_size > 0 ? p->extradata_size : 0);
  w.put<int32_t>(p->format);
  w.put<int64_t>(p->bit_rate);
  w.put<int32_t>(p->bits_per_coded_sample);
  w.put<int32_t>(p->bits_per_raw_sample);
  w.put<int32_t>(p->profile);
  w.put<int32_t>(p->level);
  w.put<int32_t>(p->width);
  w.put<int32_t>(p->height);
  w.put(p->sample_aspect_ratio);
  w.put<int32_t>(p->field_order);
  w.put<int32_t>(p->color_range);
  w.put<int32_t>(p->color_primaries);
  w.put<int32_t>(p->color_trc);
  w.put<int32_t>(p->color_space);
  w.put<int32_t>(p->chroma_location);
  w.put<int32_t>(p->video_delay);
}

CodecParametersPtr unpack_codec_parameters(ByteReader& r) {
  if (!r.get<bool>()) return nullptr;
  CodecParametersPtr p(avcodec_parameters_alloc());
  if (!p) throw std::bad_alloc();
  p->codec_type = static_cast<AVMediaType>(r.get<int32_t>());
  p->codec_id = static_cast<AVCodecID>(r.get<int32_t>());
  p->codec_tag = r.get<uint32_t>();
  std::vector<uint8_t> extra = r.get_bytes();
  if (!extra.empty()) {
    p->extradata = static_cast<uint8_t*>(av_mallocz(extra.size() + AV_INPUT_BUFFER_PADDING_SIZE));
    if (!p->extradata) throw std::bad_alloc();
    std::memcpy(p->extradata, extra.data(), extra.size());
    p->extradata_size = static_cast<int>(extra.size());
  }
  p->format = r.get<int32_t>();
  p->bit_rate = r.get<int64_t>();
  p->bits_per_coded_sample = r.get<int32_t>();
  p->bits_per_raw_sample = r.get<int32_t>();
  p->profile = r.get<int32_t>();
  p->level = r.get<int32_t>();
  p->width = r.get<int32_t>();
  p->height = r.get<int32_t>();
  p->sample_aspect_ratio = r.get<AVRational>();
  p->field_order = static_cast<AVFieldOrder>(r.get<int32_t>());
  p->color_range = static_cast<AVColorRange>(r.get<int32_t>());
  p->color_primaries = static_cast<AVColorPrimaries>(r.get<int32_t>());
  p->color_trc = static_cast<AVColorTransferCharacteristic>(r.get<int32_t>());
  p->color_space = static_cast<AVColorSpace>(r.get<int32_t>());
  p->chroma_location = static_cast<AVChromaLocation>(r.get<int32_t>());
  p->video_delay = r.get<int32_t>();
  return p;
}

}  // namespace vidscore
