#include "vidscore/cluster/worker.h"

#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <future>
#include <optional>
#include <thread>
#include <utility>

#include "vidscore/cluster/mpi_env.h"
#include "vidscore/bytes.h"
#include "vidscore/cluster/protocol.h"
#include "vidscore/media/stream_params.h"
#include "vidscore/timing.h"

namespace vidscore {
namespace {

// Test hooks, "RANK:N" in an environment variable: N for rank RANK, else 0.
// VIDSCORE_TEST_SLOW_RANK: the rank sleeps N milliseconds per frame (scheduler tests).
// VIDSCORE_TEST_SIGKILL: the rank kills itself with SIGKILL when it has finished N segments,
// before it hands the N-th back (resume tests: a rank lost half way).
int test_hook_for(const char* variable, int rank) {
  const char* v = std::getenv(variable);
  if (!v) return 0;
  std::string s(v);
  auto colon = s.find(':');
  if (colon == std::string::npos) return 0;
  try {
    return std::stoi(s.substr(0, colon)) == rank ? std::stoi(s.substr(colon + 1)) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

SegmentWorker::SegmentWorker(const Config& config, const VideoInfo& video,
                             const AVCodecParameters* par, Task& task, bool encode, int rank)
    : video_(video),
      task_(task),
      decoder_(video, par),
      to_rgb_(task.input_frame_size(video.size), task.threads()),
      batch_frames_(std::max(1, config.batch_size)),
      rank_(rank),
      delay_ms_per_frame_(test_hook_for("VIDSCORE_TEST_SLOW_RANK", rank)) {
  // Frames are converted once, straight to the size the task wants.
  if (encode) {
    WriterOptions wo{config.codec, config.crf, config.preset, config.pix_fmt,
                     config.audio_fallback_codec, config.audio_fallback_bitrate};
    encoder_ = std::make_unique<SegmentEncoder>(video, wo, task.threads());
  }
  batch_.size = task.input_frame_size(video.size);
  batch_.frame_size = video.size;
  if (encode) VIDSCORE_ASSERT(batch_.size == video.size);
  // Restyled video on the CPU takes the float path: YUV planes into the model's input and its
  // output into the encoder's planes, no packed RGB between.
  float_path_ = encoder_ && task.takes_yuv();
  if (float_path_)
    fallback_rgb_.resize(video.size.rgb_bytes());
  else
    batch_.pixels.resize(static_cast<size_t>(batch_frames_) * batch_.size.rgb_bytes());
}

void SegmentWorker::load(const AVFrame& frame) {
  auto t0 = Clock::now();
  const int slot = batch_.count();
  if (!float_path_) {
    to_rgb_.convert(frame, batch_.frame(slot));
  } else if (YuvImage picture; yuv_image_of(frame, video_.size, &picture)) {
    task_.load_yuv(picture, slot);
  } else {
    // Not 8-bit planar YUV of the video's size (10-bit, NV12, RGB, a size change): swscale.
    to_rgb_.convert(frame, fallback_rgb_.data());
    task_.load_rgb(fallback_rgb_.data(), video_.size, slot);
  }
  convert_s_ += seconds_since(t0);
}

void SegmentWorker::run_batch(SegmentResult& out) {
  if (batch_.count() == 0) return;
  if (delay_ms_per_frame_ > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_per_frame_ * batch_.count()));
  if (float_path_) {
    task_.run_loaded(batch_.count());
    for (int i = 0; i < batch_.count(); ++i) {
      auto t0 = Clock::now();
      YuvImage picture = encoder_->next_picture();
      task_.store_yuv(i, picture);
      auto t1 = Clock::now();
      convert_s_ += seconds_between(t0, t1);
      encoder_->encode_next(batch_.pts[i]);
      encode_s_ += seconds_since(t1);
    }
  } else {
    batch_.pixels.resize(static_cast<size_t>(batch_.count()) * batch_.size.rgb_bytes());
    batch_.annotations.clear();
    task_.process(batch_);
    if (!batch_.annotations.empty()) {
      VIDSCORE_ASSERT(static_cast<int>(batch_.annotations.size()) == batch_.count());
      for (auto& f : batch_.annotations) out.annotations.push_back(std::move(f));
    }
    auto t0 = Clock::now();
    if (encoder_)
      for (int i = 0; i < batch_.count(); ++i) encoder_->encode(batch_.frame(i), batch_.pts[i]);
    encode_s_ += seconds_since(t0);
    batch_.pixels.resize(static_cast<size_t>(batch_frames_) * batch_.size.rgb_bytes());
  }
  out.frame_pts.insert(out.frame_pts.end(), batch_.pts.begin(), batch_.pts.end());
  batch_.pts.clear();
}

FedSegment SegmentWorker::feed(const SegmentWork& work,
                               const std::function<void()>& between_batches) {
  auto t_start = Clock::now();
  const double inference_before = task_.timings().inference_s;
  const double convert_before = convert_s_, encode_before = encode_s_;
  FedSegment fed;
  SegmentResult& out = fed.result;
  out.index = work.index;
  out.rank = rank_;
  const int64_t invalid_before = decoder_.invalid_packets();
  const int64_t repeated_before = decoder_.repeated_pts();
  if (encoder_) encoder_->begin();
  batch_.pts.clear();
  decoder_.decode(work, [&](const AVFrame& frame, int64_t pts) {
    load(frame);
    batch_.pts.push_back(pts);
    if (batch_.count() == batch_frames_) {
      run_batch(out);
      if (between_batches) between_batches();
    }
  });
  run_batch(out);
  if (encoder_) fed.flush = encoder_->release();
  out.invalid_packets = decoder_.invalid_packets() - invalid_before;
  out.repeated_pts = decoder_.repeated_pts() - repeated_before;
  out.notes = decoder_.take_notes();
  // Decoding is what the segment took beyond conversion, the model and the encoder.
  const double inference = task_.timings().inference_s - inference_before;
  decode_s_ += seconds_since(t_start) - inference - (convert_s_ - convert_before) -
               (encode_s_ - encode_before) -
               (delay_ms_per_frame_ > 0 ? delay_ms_per_frame_ * out.frames() / 1000.0 : 0.0);
  out.decode_s = decode_s_;
  out.convert_s = convert_s_;
  out.inference_s = task_.timings().inference_s;
  out.encode_s = encode_s_;
  out.peak_rss_mib = peak_rss_mib();
  return fed;
}

void SegmentWorker::continue_from(const SegmentWorker& earlier) {
  decode_s_ = earlier.decode_s_;
  convert_s_ = earlier.convert_s_;
  encode_s_ = earlier.encode_s_;
}

void RankWorker::build() {
  ByteReader r(*setup_);
  VideoInfo info = unpack_video_info(r);
  CodecParametersPtr par = unpack_codec_parameters(r);
  auto next = std::make_unique<SegmentWorker>(config_, info, par.get(), task_, encode_, rank_);
  if (worker_) next->continue_from(*worker_);
  worker_ = std::move(next);
  par_ = std::move(par);
  input_ = setup_input_;
  broken_ = false;
}

void RankWorker::prepare(int32_t input, std::shared_ptr<const std::vector<uint8_t>> setup) {
  setup_ = std::move(setup);
  setup_input_ = input;
  build();
}

RankWorker::RankWorker(const Config& config, Task& task, bool encode, int rank)
    : config_(config),
      task_(task),
      encode_(encode),
      rank_(rank),
      sigkill_after_segments_(test_hook_for("VIDSCORE_TEST_SIGKILL", rank)),
      images_(config, task, rank),
      flush_clock_(std::make_shared<FlushClock>()) {}

void RankWorker::abandon() {
  for (Pending& p : pending_)
    if (p.flusher.joinable()) p.flusher.join();
  pending_.clear();
}

void RankWorker::on_results(std::function<void(SegmentResult)> deliver,
                            std::function<void()> flushed) {
  deliver_ = std::move(deliver);
  flushed_ = std::move(flushed);
}

FedSegment RankWorker::feed(const SegmentWork& work) {
  if (work.setup) {
    setup_ = work.setup;
    setup_input_ = work.input;
  }
  try {
    FedSegment fed;
    if (!work.images.empty()) {
      fed.result = images_.process(work);
      return fed;
    }
    if (work.input != input_ || broken_) {
      VIDSCORE_ASSERT(setup_ && setup_input_ == work.input);
      build();
    }
    // Earlier segments whose flush has ended go back between batches, so that the scheduler can
    // send the next segment while this one is still running.
    fed = worker_->feed(work, [this] {
      if (delivery_error_) return;
      try {
        deliver_ready();
      } catch (...) {
        delivery_error_ = std::current_exception();
      }
    });
    fed.result.input = work.input;
    return fed;
  } catch (const std::exception& e) {
    broken_ = true;  // its decoder and encoder stopped mid-segment
    FedSegment fed;
    fed.result.input = work.input;
    fed.result.index = work.index;
    fed.result.rank = rank_;
    fed.result.error = e.what();
    return fed;
  }
}

void RankWorker::start(const SegmentWork& work) {
  FedSegment fed = feed(work);
  Pending p;
  std::promise<SegmentResult> done;
  p.result = done.get_future();
  if (!fed.flush) {
    done.set_value(std::move(fed.result));
  } else {
    // The flush runs beside the next segment; the result is ready when it ends.
    p.flusher = std::thread([done = std::move(done), flush = std::move(*fed.flush),
                             res = std::move(fed.result), clock = flush_clock_,
                             flushed = flushed_]() mutable {
      auto t0 = Clock::now();
      try {
        flush.finish(res);
      } catch (const std::exception& e) {
        res.packets.clear();
        res.error = e.what();
      }
      {
        std::lock_guard<std::mutex> lock(clock->mu);
        clock->seconds += seconds_since(t0);
        res.encode_s += clock->seconds;
      }
      done.set_value(std::move(res));
      if (flushed) flushed();
    });
  }
  pending_.push_back(std::move(p));
  if (delivery_error_) std::rethrow_exception(std::exchange(delivery_error_, nullptr));
}

bool RankWorker::oldest_ready() const {
  return !pending_.empty() && pending_.front().result.wait_for(std::chrono::seconds(0)) ==
                                  std::future_status::ready;
}

void RankWorker::deliver_oldest() {
  VIDSCORE_ASSERT(!pending_.empty());
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  SegmentResult res = p.result.get();
  if (p.flusher.joinable()) p.flusher.join();
  if (sigkill_after_segments_ > 0 && ++segments_done_ == sigkill_after_segments_) raise(SIGKILL);
  deliver_(std::move(res));
}

void RankWorker::deliver_ready() {
  while (oldest_ready()) deliver_oldest();
}

int worker_loop(RankWorker& worker) {
  try {
    worker.on_results([](SegmentResult res) {
      std::vector<uint8_t> out = pack_result(res);
      MPI_CHECK(MPI_Send(out.data(), static_cast<int>(out.size()), MPI_BYTE, 0, tag(Tag::kResult),
                         MPI_COMM_WORLD));
    });
    for (;;) {
      // A result still flushing is handed back when it is done, unless the next segment comes
      // first: then the two overlap.
      std::optional<Incoming> in = wait_for_message(0, [&] { return worker.oldest_ready(); });
      if (!in) {
        worker.deliver_oldest();
        continue;
      }
      std::vector<uint8_t> bytes = receive(*in);
      if (in->tag == tag(Tag::kStop)) {
        VIDSCORE_ASSERT(!worker.pending());
        return 0;
      }
      VIDSCORE_ASSERT(in->tag == tag(Tag::kSegment));
      worker.start(unpack_work(bytes));
    }
  } catch (const std::exception& e) {
    // Rank 0 prints it and ends the job; wait here to be stopped or aborted.
    std::string text = e.what();
    MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, 0, tag(Tag::kError),
             MPI_COMM_WORLD);
    for (;;) {
      Incoming in = wait_for_message(0);
      receive(in);
      if (in.tag == tag(Tag::kStop)) return 1;
    }
  }
}

}  // namespace vidscore
