// The work every rank does on a segment: decode (packets) or unpack (frames), convert for the
// task (RGB24, or on the float path straight into the model's float input), run the task in
// batches, and encode the result into the segment's packets. Rank 0 runs one on
// a worker thread; every other rank runs one in worker_loop(), which takes segments from rank 0
// over MPI and sends back results until told to stop. Memory: one batch of frames (RGB24 or float) and the
// segment's packets; never the whole segment decoded.
#pragma once

#include <memory>

#include "vidscore/cluster/image_worker.h"
#include "vidscore/config.h"
#include "vidscore/frame.h"
#include "vidscore/media/segment_decoder.h"
#include "vidscore/media/segment_encoder.h"
#include "vidscore/model/task.h"
#include "vidscore/segment.h"

namespace vidscore {

class SegmentWorker {
 public:
  // `par`: the input's codec parameters (packets transport) or null (frames). `encode`: false
  // when no video is written (detections only). `rank` is reported in results.
  SegmentWorker(const Config& config, const VideoInfo& video, const AVCodecParameters* par,
                Task& task, bool encode, int rank);

  SegmentResult process(const SegmentWork& work);
  // Goes on from `earlier`'s running totals (stage seconds, segments done): the same rank's
  // worker for the previous input.
  void continue_from(const SegmentWorker& earlier);

 private:
  void load(const AVFrame& frame);  // converts the next frame of the batch for the task
  void run_batch(SegmentResult& out);

  VideoInfo video_;
  Task& task_;
  SegmentDecoder decoder_;
  std::unique_ptr<SegmentEncoder> encoder_;  // null: no video written
  ToRgbConverter to_rgb_;
  int batch_frames_;
  int rank_;
  int delay_ms_per_frame_ = 0;  // VIDSCORE_TEST_SLOW_RANK (tests of the scheduler)
  int sigkill_after_segments_ = 0;  // VIDSCORE_TEST_SIGKILL (tests of resume)
  int segments_done_ = 0;
  Chunk batch_;                       // pts (and RGB pixels, unless on the float path)
  bool float_path_ = false;           // YUV planes <-> the task's float tensors (Task::takes_yuv)
  std::vector<uint8_t> fallback_rgb_;  // float path: one frame swscale had to convert
  double decode_s_ = 0, convert_s_ = 0, encode_s_ = 0;
};

// One rank's worker for a whole job, which may have many inputs (or, for an image folder, runs
// of images, which go to its ImageWorker): the SegmentWorker of the input
// at hand, made anew from the stream parameters that come with each input's first segment (a
// rank gets its inputs in order, so one at a time), around the rank's task, loaded once.
class RankWorker {
 public:
  RankWorker(const Config& config, Task& task, bool encode, int rank)
      : config_(config), task_(task), encode_(encode), rank_(rank), images_(config, task, rank) {}
  // A failure while doing the segment (a decoder or the model refusing it) comes back as the
  // result's error; the rank goes on with the next segment.
  SegmentResult process(const SegmentWork& work);
  // Makes the worker for `input` now (the job's first input, during set-up, so that a rank that
  // cannot decode or encode it fails before any work). Throws what SegmentWorker throws.
  void prepare(int32_t input, std::shared_ptr<const std::vector<uint8_t>> setup);

 private:
  void build();  // the SegmentWorker for setup_
  const Config& config_;
  Task& task_;
  bool encode_;
  int rank_;
  int32_t input_ = -1;          // of worker_
  bool broken_ = false;         // worker_ failed mid-segment: made anew for the next one
  std::shared_ptr<const std::vector<uint8_t>> setup_;  // of the input of the last segment
  int32_t setup_input_ = -1;
  CodecParametersPtr par_;
  std::unique_ptr<SegmentWorker> worker_;
  ImageWorker images_;  // image folders: runs of images instead of segments of a video
};

// Every rank but 0: receives segments, processes them, sends results, until rank 0 says stop.
// A failure is sent to rank 0 (which prints it and ends the job); returns the exit code.
int worker_loop(RankWorker& worker);

// Peak resident memory of this process, MiB.
double peak_rss_mib();

}  // namespace vidscore
