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

// Model streams (model_streams.h): on the CPU, two unless the float path runs (its batch lives
// in the task) or the rank has a single thread.
int pick_streams(const Config& config, const Task& task, bool float_path) {
  if (float_path) return 1;
  if (config.streams > 0) return config.streams;
  return task.device_name() == "cpu" && task.threads() >= 2 ? 2 : 1;
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
      streams_count_(pick_streams(config, task, encode && task.takes_yuv())),
      // With model streams the conversion runs beside the model: one thread is enough, more
      // would only take cores from the streams.
      to_rgb_(task.input_frame_size(video.size), streams_count_ > 1 ? 1 : task.threads()),
      batch_frames_(task.batch_size()),
      rank_(rank),
      overlap_flush_(task.threads() >= 3),
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
  const int streams = streams_count_;
  if (streams > 1) {
    for (int i = 0; i < streams; ++i) {
      chunks_.push_back(std::make_unique<Chunk>());
      chunks_.back()->size = batch_.size;
      chunks_.back()->frame_size = batch_.frame_size;
      chunks_.back()->pixels.resize(batch_.pixels.size());
      spare_.push_back(chunks_.back().get());
    }
    streams_ = std::make_unique<ModelStreams>(task, streams,
                                              std::max(1, task.threads() / streams));
  }
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
    out.frame_pts.insert(out.frame_pts.end(), batch_.pts.begin(), batch_.pts.end());
    batch_.pts.clear();
    return;
  }
  batch_.pixels.resize(static_cast<size_t>(batch_.count()) * batch_.size.rgb_bytes());
  batch_.annotations.clear();
  if (!streams_) {
    task_.process(batch_);
    finish_batch(batch_, out);
    return;
  }
  // The batch goes to a free stream; decoding the next one goes on meanwhile.
  if (streams_->running() == streams_->size()) finish_oldest_stream(out);
  Chunk* full = spare_.back();
  spare_.pop_back();
  std::swap(*full, batch_);
  batch_.pixels.resize(static_cast<size_t>(batch_frames_) * batch_.size.rgb_bytes());
  streams_->submit(full);
}

void SegmentWorker::finish_oldest_stream(SegmentResult& out) {
  auto t0 = Clock::now();
  Chunk* done = streams_->take_oldest();
  stream_wait_s_ += seconds_since(t0);
  finish_batch(*done, out);
  spare_.push_back(done);
}

void SegmentWorker::finish_batch(Chunk& chunk, SegmentResult& out) {
  if (!chunk.annotations.empty()) {
    VIDSCORE_ASSERT(static_cast<int>(chunk.annotations.size()) == chunk.count());
    for (auto& f : chunk.annotations) out.annotations.push_back(std::move(f));
    chunk.annotations.clear();
  }
  auto t0 = Clock::now();
  if (encoder_)
    for (int i = 0; i < chunk.count(); ++i) encoder_->encode(chunk.frame(i), chunk.pts[i]);
  encode_s_ += seconds_since(t0);
  out.frame_pts.insert(out.frame_pts.end(), chunk.pts.begin(), chunk.pts.end());
  chunk.pts.clear();
  chunk.pixels.resize(static_cast<size_t>(batch_frames_) * chunk.size.rgb_bytes());
}

FedSegment SegmentWorker::feed(const SegmentWork& work,
                               const std::function<void()>& between_batches) {
  auto t_start = Clock::now();
  const double inference_before = task_.timings().inference_s;
  const double convert_before = convert_s_, encode_before = encode_s_;
  const double wait_before = stream_wait_s_;
  FedSegment fed;
  SegmentResult& out = fed.result;
  out.index = work.index;
  out.rank = rank_;
  const int64_t invalid_before = decoder_.invalid_packets();
  const int64_t repeated_before = decoder_.repeated_pts();
  const int64_t nonfinite_before = task_.timings().nonfinite_frames;
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
  while (streams_ && streams_->running() > 0) finish_oldest_stream(out);
  if (encoder_ && overlap_flush_) {
    fed.flush = encoder_->release();
  } else if (encoder_) {  // flushed in line
    auto t0 = Clock::now();
    encoder_->end(out);
    encode_s_ += seconds_since(t0);
  }
  out.invalid_packets = decoder_.invalid_packets() - invalid_before;
  out.repeated_pts = decoder_.repeated_pts() - repeated_before;
  out.notes = decoder_.take_notes();
  const int64_t nonfinite = task_.timings().nonfinite_frames - nonfinite_before;
  if (nonfinite > 0 && !nonfinite_said_ && !out.frame_pts.empty()) {
    // Named once per rank and input: a broken model would otherwise fill the log.
    nonfinite_said_ = true;
    char from[32];
    std::snprintf(from, sizeof(from), "%.2f s",
                  static_cast<double>(out.frame_pts.front()) * av_q2d(video_.time_base));
    out.notes.push_back(video_.path + ": the model gave NaN or infinite values for " +
                        std::to_string(nonfinite) + " of " + std::to_string(out.frames()) +
                        " frames of the segment from " + from + " (rank " +
                        std::to_string(rank_) +
                        "'s first such segment; later ones are not named): NaN is written as 0, "
                        "infinity as 0 or 255");
  }
  // Decoding is what the segment took beyond conversion, the model and the encoder (with
  // streams: beyond waiting for them, the model ran beside).
  const double inference = streams_ ? stream_wait_s_ - wait_before
                                    : task_.timings().inference_s - inference_before;
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
      worker.deliver_ready();  // a segment flushed in line goes back before the next one starts
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
