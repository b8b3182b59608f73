// Segments: the unit of work, of transfer, of encoding (and later of resume). A segment is a run
// of consecutive frames of the input. Rank 0 plans it while demuxing and sends it to a rank as
// either the input's own compressed packets (packets transport) or decoded frames in their
// native pixel format (frames transport); the rank returns the segment encoded. Plain data:
// knows nothing of FFmpeg, MPI or torch.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace vidscore {

constexpr int64_t kNoPts = std::numeric_limits<int64_t>::min();  // == AV_NOPTS_VALUE
constexpr int64_t kEndOfStream = std::numeric_limits<int64_t>::max();

// A compressed packet: the input's (decode order, input stream time base) or an encoded one
// (decode order, encoder time base).
struct PacketData {
  int64_t pts = kNoPts;
  int64_t dts = kNoPts;
  int64_t duration = 0;
  int32_t flags = 0;  // AV_PKT_FLAG_*
  std::vector<uint8_t> data;
};

// A decoded frame in its native layout: each plane's rows packed without padding, planes one
// after the other (frames transport). pts already corrected by rank 0's reader.
struct RawFrame {
  int64_t pts = 0;
  int32_t width = 0, height = 0;
  int32_t format = -1;  // AVPixelFormat
  int32_t color_space = 2, color_range = 0;  // AVColorSpace / AVColorRange of the frame
  bool interlaced = false, top_field_first = false;
  std::vector<uint8_t> data;
};

// One file of an image folder as it travels: its bytes, or why rank 0 could not read it.
struct ImageFile {
  std::vector<uint8_t> data;
  std::string read_error;
};

enum class Transport : int32_t { kPackets = 0, kFrames = 1 };

// What a rank is asked to do.
struct SegmentWork {
  int32_t input = 0;  // which input of the job (0, 1, ...): a job may have many
  int64_t index = 0;  // 0, 1, 2, ... in display order, within its input
  // The input's stream parameters (media/stream_params.h): what a rank needs to decode and
  // encode the input's segments. Sent with the first segment of each input a rank gets.
  std::shared_ptr<const std::vector<uint8_t>> setup;
  // Packets transport: the frames kept are those with start_pts <= pts < end_pts (input time
  // base); packets beyond them are pre- or post-roll the decoder needs (open GOPs).
  int64_t start_pts = kNoPts;
  int64_t end_pts = kEndOfStream;
  std::vector<PacketData> packets;  // packets transport, decode order
  std::vector<RawFrame> frames;     // frames transport, display order
  // Image folders: the compressed files of a run of images (rank 0 reads, ranks decode);
  // image_first is the job's index of the first.
  std::vector<ImageFile> images;
  int64_t image_first = 0;
};

// SegmentResult::rank of a segment read back from the work folder (resume), not computed now.
constexpr int32_t kReusedRank = -1;

// What comes back.
struct SegmentResult {
  int32_t input = 0;
  int64_t index = 0;
  int32_t rank = 0;                   // which rank did it
  std::vector<int64_t> frame_pts;     // of the frames kept, display order, input time base
  std::vector<PacketData> packets;    // encoded, decode order, encoder time base (may be empty:
                                      // no video written)
  std::vector<uint8_t> extradata;     // the encoder's global header for this segment
  std::vector<std::string> annotations;  // per frame or image (detections or classes JSON, an
                                         // embedding's bytes), or empty
  std::vector<std::string> item_errors;  // image work: per image, why it could not be scored
                                         // ("" when it was); frame_pts then holds the images'
                                         // indices in the job
  std::vector<std::string> notes;     // what the rank found (size changes, ...)
  int64_t invalid_packets = 0;        // damaged input packets the decoder skipped
  int64_t repeated_pts = 0;           // frames moved one tick to keep pts increasing
  // The rank's running totals when it sent this: seconds per stage and its peak RSS.
  double decode_s = 0, convert_s = 0, inference_s = 0, encode_s = 0;
  double peak_rss_mib = 0;
  // Set when the rank could not do the segment (its message); nothing else is then filled in.
  // The segment's input fails, not necessarily the job (archive jobs go on with other inputs).
  std::string error;
  int frames() const { return static_cast<int>(frame_pts.size()); }
};

}  // namespace vidscore
