// What every rank must know of the input's video stream to decode and encode its segments:
// VideoInfo and the decoder's codec parameters, as bytes that rank 0 broadcasts once.
#pragma once

#include "vidscore/bytes.h"
#include "vidscore/ffmpeg_raii.h"
#include "vidscore/media/video_reader.h"

namespace vidscore {

void pack_video_info(ByteWriter& w, const VideoInfo& info);
VideoInfo unpack_video_info(ByteReader& r);

// Codec parameters (codec id, extradata, size, format, colour, ...); `par` may be null (none).
void pack_codec_parameters(ByteWriter& w, const AVCodecParameters* par);
CodecParametersPtr unpack_codec_parameters(ByteReader& r);  // null when none was packed

}  // namespace vidscore
