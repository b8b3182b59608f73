#include "vidscore/media/image_decoder.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

extern "C" {
#include <jpeglib.h>
#include <jerror.h>
}

#include "vidscore/error.h"
#include "vidscore/ffmpeg_raii.h"

namespace vidscore {
namespace {

// PIL refuses images above this many pixels (its decompression-bomb limit); so do we.
constexpr int64_t kMaxPixels = 178956970;

void check_size(int width, int height) {
  if (width <= 0 || height <= 0) throw RuntimeError("no picture in it");
  if (static_cast<int64_t>(width) * height > kMaxPixels)
    throw RuntimeError(std::to_string(width) + "x" + std::to_string(height) +
                       " pixels is more than the limit of " + std::to_string(kMaxPixels));
}

// ---- JPEG (libjpeg-turbo) ----

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool truncated = false;
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Warnings: a file that ends early decodes as grey below the cut; PIL refuses it ("image file
// is truncated"), and so do we. Other warnings (extraneous bytes) PIL ignores, and so do we.
void jpeg_warning(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF && !err->truncated) {
    err->truncated = true;
    (*cinfo->err->format_message)(cinfo, err->message);
  }
}

uint8_t muldiv255(int a, int b) {
  int tmp = a * b + 128;
  return static_cast<uint8_t>(((tmp >> 8) + tmp) >> 8);
}

RgbImage decode_jpeg(const uint8_t* data, size_t size) {
  jpeg_decompress_struct cinfo{};
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_warning;
  RgbImage image;
  image.format = "jpeg";
  std::vector<uint8_t> row;
  volatile int orientation = 1;  // read after setjmp
  // Destroys the decompressor on every way out: a return, a throw, a longjmp from libjpeg.
  struct Guard {
    jpeg_decompress_struct* cinfo;
    bool created = false;
    ~Guard() {
      if (created) jpeg_destroy_decompress(cinfo);
    }
  } guard{&cinfo};
  if (setjmp(err.jump)) throw RuntimeError(std::string("damaged JPEG: ") + err.message);
  jpeg_create_decompress(&cinfo);
  guard.created = true;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  // Before any allocation for the picture (a progressive file allocates it all at the start).
  check_size(static_cast<int>(std::min<JDIMENSION>(cinfo.image_width, 1 << 30)),
             static_cast<int>(std::min<JDIMENSION>(cinfo.image_height, 1 << 30)));
  // PIL reads the first Exif segment only.
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      orientation = exif_orientation(m->data, m->data_length);
      break;
    }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  // PIL reads every CMYK JPEG as Photoshop writes them, inverted ("CMYK;I"), Adobe marker or not.
  const bool inverted = cmyk;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  if (!cmyk && cinfo.num_components != 1 && cinfo.num_components != 3)
    throw RuntimeError("JPEG with " + std::to_string(cinfo.num_components) +
                       " components is not supported");
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
  check_size(w, h);
  image.size = {w, h};
  image.pixels.resize(image.size.rgb_bytes());
  if (cmyk) row.resize(static_cast<size_t>(w) * 4);
  while (cinfo.output_scanline < cinfo.output_height && !err.truncated) {
    uint8_t* out = image.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * w * 3;
    JSAMPROW rows[1] = {cmyk ? row.data() : out};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (cmyk) {
      // PIL's cmyk2rgb: each channel (255 - k) - c * (255 - k) / 255.
      for (int x = 0; x < w; ++x) {
        const uint8_t* p = &row[static_cast<size_t>(x) * 4];
        int c = p[0], m = p[1], y = p[2], k = p[3];
        if (inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        const int nk = 255 - k;
        out[x * 3 + 0] = static_cast<uint8_t>(nk - muldiv255(c, nk));
        out[x * 3 + 1] = static_cast<uint8_t>(nk - muldiv255(m, nk));
        out[x * 3 + 2] = static_cast<uint8_t>(nk - muldiv255(y, nk));
      }
    }
  }
  if (err.truncated) throw RuntimeError(std::string("truncated JPEG: ") + err.message);
  jpeg_finish_decompress(&cinfo);
  if (err.truncated) throw RuntimeError(std::string("truncated JPEG: ") + err.message);
  apply_orientation(image, orientation);
  return image;
}

// ---- everything else (FFmpeg) ----

struct MemoryReader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
};

int memory_read(void* opaque, uint8_t* buf, int n) {
  auto* m = static_cast<MemoryReader*>(opaque);
  const size_t left = m->size - m->pos;
  if (left == 0) return AVERROR_EOF;
  const size_t take = std::min(left, static_cast<size_t>(n));
  std::memcpy(buf, m->data + m->pos, take);
  m->pos += take;
  return static_cast<int>(take);
}

int64_t memory_seek(void* opaque, int64_t offset, int whence) {
  auto* m = static_cast<MemoryReader*>(opaque);
  if (whence == AVSEEK_SIZE) return static_cast<int64_t>(m->size);
  int64_t base = (whence & ~AVSEEK_FORCE) == SEEK_CUR ? static_cast<int64_t>(m->pos)
                 : (whence & ~AVSEEK_FORCE) == SEEK_END ? static_cast<int64_t>(m->size)
                                                        : 0;
  const int64_t to = base + offset;
  if (to < 0 || to > static_cast<int64_t>(m->size)) return AVERROR(EINVAL);
  m->pos = static_cast<size_t>(to);
  return to;
}

struct IoContextDeleter {
  void operator()(AVIOContext* io) const {
    if (!io) return;
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};

RgbImage decode_with_ffmpeg(const uint8_t* data, size_t size) {
  MemoryReader reader{data, size};
  constexpr int kBuffer = 1 << 16;
  auto* buffer = static_cast<uint8_t*>(av_malloc(kBuffer));
  if (!buffer) throw std::bad_alloc();
  std::unique_ptr<AVIOContext, IoContextDeleter> io(
      avio_alloc_context(buffer, kBuffer, 0, &reader, memory_read, nullptr, memory_seek));
  if (!io) {
    av_free(buffer);
    throw std::bad_alloc();
  }
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw std::bad_alloc();
  raw->pb = io.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  if (int rc = avformat_open_input(&raw, nullptr, nullptr, nullptr); rc < 0)
    throw RuntimeError("not an image FFmpeg can read (" + av_error_text(rc) + ")");
  InputFormatPtr fmt(raw);
  avformat_find_stream_info(fmt.get(), nullptr);
  const int stream = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream < 0) throw RuntimeError("not an image FFmpeg can read (no picture in it)");
  const AVCodecParameters* par = fmt->streams[stream]->codecpar;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (!codec) throw RuntimeError(std::string("no decoder for ") + avcodec_get_name(par->codec_id));
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  if (!dec) throw std::bad_alloc();
  check_size(std::max(par->width, 1), std::max(par->height, 1));  // before decoding it
  avcodec_parameters_to_context(dec.get(), par);
  dec->thread_count = 1;
  if (int rc = avcodec_open2(dec.get(), codec, nullptr); rc < 0)
    throw RuntimeError(std::string("cannot open the ") + codec->name + " decoder (" +
                       av_error_text(rc) + ")");
  RgbImage image;
  image.format = codec->name;
  PacketPtr pkt = make_packet();
  FramePtr frame = make_frame();
  bool got = false, flushed = false;
  int last_error = 0;
  while (!got) {
    int rc = flushed ? AVERROR_EOF : av_read_frame(fmt.get(), pkt.get());
    if (rc == AVERROR_EOF && !flushed) {
      avcodec_send_packet(dec.get(), nullptr);
      flushed = true;
    } else if (rc < 0 && rc != AVERROR_EOF) {
      throw RuntimeError("cannot read it (" + av_error_text(rc) + ")");
    } else if (!flushed) {
      if (pkt->stream_index == stream) {
        rc = avcodec_send_packet(dec.get(), pkt.get());
        if (rc < 0) last_error = rc;
      }
      av_packet_unref(pkt.get());
    }
    rc = avcodec_receive_frame(dec.get(), frame.get());
    if (rc == 0) {
      got = true;
    } else if (rc == AVERROR_EOF || (flushed && rc == AVERROR(EAGAIN))) {
      break;
    } else if (rc != AVERROR(EAGAIN)) {
      last_error = rc;
      if (flushed) break;
    }
  }
  if (!got || (frame->decode_error_flags != 0) || (frame->flags & AV_FRAME_FLAG_CORRUPT))
    throw RuntimeError("damaged " + image.format + " image (" +
                       (last_error ? av_error_text(last_error) : std::string("no picture decoded")) +
                       ")");
  check_size(frame->width, frame->height);
  image.size = {frame->width, frame->height};
  image.pixels.resize(image.size.rgb_bytes());
  const auto pix = static_cast<AVPixelFormat>(frame->format);
  const bool rgb16 = pix == AV_PIX_FMT_RGB48BE || pix == AV_PIX_FMT_RGB48LE ||
                     pix == AV_PIX_FMT_RGBA64BE || pix == AV_PIX_FMT_RGBA64LE;
  if (rgb16) {
    // PIL keeps the high byte of 16-bit samples (swscale would round).
    const int channels = pix == AV_PIX_FMT_RGB48BE || pix == AV_PIX_FMT_RGB48LE ? 3 : 4;
    const int high = pix == AV_PIX_FMT_RGB48BE || pix == AV_PIX_FMT_RGBA64BE ? 0 : 1;
    for (int y = 0; y < frame->height; ++y) {
      const uint8_t* in = frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0];
      uint8_t* out = image.pixels.data() + static_cast<size_t>(y) * frame->width * 3;
      for (int x = 0; x < frame->width; ++x)
        for (int c = 0; c < 3; ++c) out[x * 3 + c] = in[(x * channels + c) * 2 + high];
    }
    return image;
  }
  // swscale: palettes expanded, grey replicated, alpha dropped.
  SwsContextPtr sws(sws_getContext(frame->width, frame->height,
                                   static_cast<AVPixelFormat>(frame->format), frame->width,
                                   frame->height, AV_PIX_FMT_RGB24,
                                   SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                                   nullptr, nullptr));
  if (!sws)
    throw RuntimeError(std::string("cannot convert its pixel format ") +
                       av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format)) + " to RGB");
  uint8_t* dst[4] = {image.pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {frame->width * 3, 0, 0, 0};
  sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
  return image;
}

uint16_t read16(const uint8_t* p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
uint32_t read32(const uint8_t* p, bool le) {
  return le ? p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24
            : static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

}  // namespace

int exif_orientation(const uint8_t* p, size_t n) {
  // "Exif\0\0", then a TIFF header: byte order, 42, offset of IFD0; IFD0's entries are
  // 12 bytes each: tag, type, count, value. Orientation is tag 0x0112, a SHORT.
  if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* tiff = p + 6;
  const size_t len = n - 6;
  bool le;
  if (tiff[0] == 'I' && tiff[1] == 'I') le = true;
  else if (tiff[0] == 'M' && tiff[1] == 'M') le = false;
  else return 1;
  if (read16(tiff + 2, le) != 42) return 1;
  const uint32_t ifd = read32(tiff + 4, le);
  if (len < 2 || ifd > len - 2) return 1;
  const int entries = read16(tiff + ifd, le);
  for (int i = 0; i < entries; ++i) {
    const size_t at = static_cast<size_t>(ifd) + 2 + static_cast<size_t>(i) * 12;
    if (at + 12 > len) return 1;
    if (read16(tiff + at, le) != 0x0112) continue;
    const int v = read16(tiff + at + 8, le);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

void apply_orientation(RgbImage& image, int o) {
  if (o <= 1 || o > 8) return;
  const int w = image.size.width, h = image.size.height;
  const bool swap = o >= 5;  // transpose, rotations by 90 degrees, transverse
  const int ow = swap ? h : w, oh = swap ? w : h;
  std::vector<uint8_t> out(image.pixels.size());
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int sx, sy;  // the source pixel of output (x, y)
      switch (o) {
        case 2: sx = w - 1 - x; sy = y; break;          // mirrored
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;  // rotated 180
        case 4: sx = x; sy = h - 1 - y; break;          // flipped
        case 5: sx = y; sy = x; break;                  // transposed
        case 6: sx = y; sy = h - 1 - x; break;          // turned 90 clockwise
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;  // transverse
        default: sx = w - 1 - y; sy = x; break;         // 8: turned 90 anticlockwise
      }
      std::memcpy(&out[(static_cast<size_t>(y) * ow + x) * 3],
                  &image.pixels[(static_cast<size_t>(sy) * w + sx) * 3], 3);
    }
  image.pixels.swap(out);
  image.size = {ow, oh};
}

RgbImage decode_image(const uint8_t* data, size_t size) {
  if (size == 0) throw RuntimeError("empty file");
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return decode_jpeg(data, size);
  return decode_with_ffmpeg(data, size);
}

}  // namespace vidscore
