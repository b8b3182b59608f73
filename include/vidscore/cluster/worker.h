// The work every rank does on a segment: decode (packets) or unpack (frames), convert for the
// task (RGB24, or on the float path straight into the model's float input), run the task in
// batches, and encode the result into the segment's packets. Rank 0 runs one on a worker thread;
// every other rank runs one in worker_loop(), which takes segments from rank 0 over MPI and sends
// back results until told to stop.
//
// Segments overlap: when a segment's last frame has gone to the encoder, the encoder's flush (x264
// still holds its look-ahead, ~40 frames at preset medium) goes on on a thread of its own while
// the rank starts its next segment, so the cores are not left idle at every segment boundary.
// Results still go back in order. Memory: one batch of frames (RGB24 or float), the packets of
// the segments in hand, and at most two encoders at once (a rank holds two segments, see
// kCreditsPerRank); never a whole segment decoded.
#pragma once

#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "vidscore/cluster/image_worker.h"
#include "vidscore/cluster/model_streams.h"
#include "vidscore/config.h"
#include "vidscore/frame.h"
#include "vidscore/media/segment_decoder.h"
#include "vidscore/media/segment_encoder.h"
#include "vidscore/model/task.h"
#include "vidscore/segment.h"

namespace vidscore {

// A segment done up to its encoder's flush.
struct FedSegment {
  SegmentResult result;              // all but the packets and extradata when `flush` is set
  std::optional<PendingFlush> flush;  // the encoder, every frame sent (video written)
};

class SegmentWorker {
 public:
  // `par`: the input's codec parameters (packets transport) or null (frames). `encode`: false
  // when no video is written (detections only). `rank` is reported in results.
  SegmentWorker(const Config& config, const VideoInfo& video, const AVCodecParameters* par,
                Task& task, bool encode, int rank);

  // Decodes, runs and encodes every frame of `work`; on a rank with cores to spare, leaves the
  // encoder's flush to the caller (FedSegment::flush), else flushes it too.
  // `between_batches` runs after each batch but the last.
  FedSegment feed(const SegmentWork& work, const std::function<void()>& between_batches);
  // Goes on from `earlier`'s running totals (stage seconds): the same rank's
  // worker for the previous input.
  void continue_from(const SegmentWorker& earlier);

 private:
  void load(const AVFrame& frame);  // converts the next frame of the batch for the task
  void run_batch(SegmentResult& out);
  void finish_batch(Chunk& chunk, SegmentResult& out);  // its annotations, encoding, pts
  void finish_oldest_stream(SegmentResult& out);        // waits for it, then finish_batch

  VideoInfo video_;
  Task& task_;
  SegmentDecoder decoder_;
  int streams_count_;  // model streams: 1 = none
  std::unique_ptr<SegmentEncoder> encoder_;  // null: no video written
  ToRgbConverter to_rgb_;
  int batch_frames_;
  int rank_;
  // The encoder's flush runs beside the next segment (FedSegment::flush) only on a rank with
  // cores to spare (3+ threads): a second live x264 costs a few hundred MB of fresh memory at
  // 1080p, whose kernel time cost more than the overlap gained on 1 and 2 cores.
  bool overlap_flush_;
  bool nonfinite_said_ = false;  // the note on NaN or infinite model output, once
  int delay_ms_per_frame_ = 0;  // VIDSCORE_TEST_SLOW_RANK (tests of the scheduler)
  Chunk batch_;                       // pts (and RGB pixels, unless on the float path)
  bool float_path_ = false;           // YUV planes <-> the task's float tensors (Task::takes_yuv)
  std::vector<uint8_t> fallback_rgb_;  // float path: one frame swscale had to convert
  double decode_s_ = 0, convert_s_ = 0, encode_s_ = 0;
  double stream_wait_s_ = 0;  // waiting for a stream's batch
  // Model streams: the chunks batches go to them in (declared before streams_, which must go
  // first), those free, and the streams; none with one stream.
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::vector<Chunk*> spare_;
  std::unique_ptr<ModelStreams> streams_;
};

// One rank's worker for a whole job, which may have many inputs (or, for an image folder, runs
// of images, which go to its ImageWorker): the SegmentWorker of the input
// at hand, made anew from the stream parameters that come with each input's first segment (a
// rank gets its inputs in order, so one at a time), around the rank's task, loaded once.
class RankWorker {
 public:
  RankWorker(const Config& config, Task& task, bool encode, int rank);
  ~RankWorker() { abandon(); }
  RankWorker(const RankWorker&) = delete;
  RankWorker& operator=(const RankWorker&) = delete;

  // Where results go, in the order of start() calls, on the thread that calls start() and
  // deliver_*(); and what to call, on a flushing thread, when a flush has ended (to wake a loop
  // that waits for work or for oldest_ready()).
  void on_results(std::function<void(SegmentResult)> deliver,
                  std::function<void()> flushed = nullptr);
  // Does `work` up to its encoder's flush, which goes on on a thread of its own: the next
  // segment can start at once. Results whose flush has ended are delivered between batches. A
  // failure while doing the segment (a decoder or the model refusing it) comes back as the
  // result's error; the rank goes on with the next segment. Throws what `deliver` threw.
  void start(const SegmentWork& work);
  bool pending() const { return !pending_.empty(); }  // results not yet delivered
  bool oldest_ready() const;                          // the next result could go now
  void deliver_oldest();                              // waits for the next result, delivers it
  void deliver_ready();                               // delivers those that are ready, in order
  void abandon();  // the job is over (failed): waits for running flushes, drops their results
  // Makes the worker for `input` now (the job's first input, during set-up, so that a rank that
  // cannot decode or encode it fails before any work). Throws what SegmentWorker throws.
  void prepare(int32_t input, std::shared_ptr<const std::vector<uint8_t>> setup);

 private:
  struct Pending {
    std::future<SegmentResult> result;
    std::thread flusher;  // running the encoder's flush, or not started (result ready)
  };
  struct FlushClock {  // seconds spent flushing, for the summary's "encode" figure
    std::mutex mu;
    double seconds = 0;
  };
  void build();  // the SegmentWorker for setup_
  FedSegment feed(const SegmentWork& work);
  const Config& config_;
  Task& task_;
  bool encode_;
  int rank_;
  int sigkill_after_segments_ = 0;  // VIDSCORE_TEST_SIGKILL (tests of resume)
  int segments_done_ = 0;
  int32_t input_ = -1;          // of worker_
  bool broken_ = false;         // worker_ failed mid-segment: made anew for the next one
  std::shared_ptr<const std::vector<uint8_t>> setup_;  // of the input of the last segment
  int32_t setup_input_ = -1;
  CodecParametersPtr par_;
  std::unique_ptr<SegmentWorker> worker_;
  ImageWorker images_;  // image folders: runs of images instead of segments of a video
  std::shared_ptr<FlushClock> flush_clock_;
  std::deque<Pending> pending_;
  std::function<void(SegmentResult)> deliver_;
  std::function<void()> flushed_;
  std::exception_ptr delivery_error_;  // thrown by deliver_ between batches, rethrown by start()
};

// Every rank but 0: receives segments, processes them, sends results, until rank 0 says stop.
// A failure is sent to rank 0 (which prints it and ends the job); returns the exit code.
int worker_loop(RankWorker& worker);

// Peak resident memory of this process, MiB.
double peak_rss_mib();

}  // namespace vidscore
