// unique_ptr owners for every FFmpeg type vidscore uses, and av_check(), which turns FFmpeg's
// negative error codes into RuntimeError with av_strerror's text. Knows nothing else.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace vidscore {

namespace detail {
template <typename T, void (*Fn)(T**)>
struct PtrPtrDeleter {
  void operator()(T* p) const {
    if (p) Fn(&p);
  }
};
template <typename T, void (*Fn)(T*)>
struct PtrDeleter {
  void operator()(T* p) const {
    if (p) Fn(p);
  }
};
// An output context owns its AVIOContext only when the caller opened one; the muxer frees it.
void free_output_context(AVFormatContext* ctx);
}  // namespace detail

using InputFormatPtr = std::unique_ptr<AVFormatContext,
                                       detail::PtrPtrDeleter<AVFormatContext, avformat_close_input>>;
using OutputFormatPtr = std::unique_ptr<
    AVFormatContext, detail::PtrDeleter<AVFormatContext, detail::free_output_context>>;
using CodecContextPtr =
    std::unique_ptr<AVCodecContext, detail::PtrPtrDeleter<AVCodecContext, avcodec_free_context>>;
using CodecParametersPtr =
    std::unique_ptr<AVCodecParameters,
                    detail::PtrPtrDeleter<AVCodecParameters, avcodec_parameters_free>>;
using FramePtr = std::unique_ptr<AVFrame, detail::PtrPtrDeleter<AVFrame, av_frame_free>>;
using PacketPtr = std::unique_ptr<AVPacket, detail::PtrPtrDeleter<AVPacket, av_packet_free>>;
using SwsContextPtr = std::unique_ptr<SwsContext, detail::PtrDeleter<SwsContext, sws_freeContext>>;
using SwrContextPtr = std::unique_ptr<SwrContext, detail::PtrPtrDeleter<SwrContext, swr_free>>;
using AudioFifoPtr =
    std::unique_ptr<AVAudioFifo, detail::PtrDeleter<AVAudioFifo, av_audio_fifo_free>>;

FramePtr make_frame();
PacketPtr make_packet();

// FFmpeg's text for an error code, e.g. "Invalid data found when processing input".
// FFmpeg's error text for `code`, with FFmpeg's last logged error line appended when there is
// one ("Invalid data found when processing input (ffmpeg: [mov,mp4...] moov atom not found)").
std::string av_error_text(int code);

// Routes FFmpeg's log through vidscore: lines at or below `print_level` (AV_LOG_*) are printed
// as "vidscore: ffmpeg: ..." lines; error lines are kept to fold into vidscore's own errors.
void install_ffmpeg_log(int print_level);

// Throws RuntimeError("<what>: <FFmpeg's text>") when code < 0; returns code otherwise.
int av_check(int code, const std::string& what);

}  // namespace vidscore
