// vidscore-bench-model: model-only throughput, the baseline for scripts/bench.sh. Decodes the
// first frames of a video into memory, then times the same Task vidscore runs (same model,
// batch size, threads, device, warm-up excluded) over them, with no video I/O in the timing.
//   vidscore-bench-model [--config C] --model M --input IN [--frames N] [--batch-size B]
//                        [--threads T] [--device D] [--repeat R]
#include <cstdio>
#include <string>
#include <vector>

#include "vidscore/config.h"
#include "vidscore/error.h"
#include "vidscore/media/video_reader.h"
#include "vidscore/model/task.h"
#include "vidscore/timing.h"

int main(int argc, char** argv) {
  using namespace vidscore;
  Config config;
  std::string input;
  int frames = 64, repeat = 1;
  try {
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string k = argv[i], v = argv[i + 1];
      if (k == "--config") {
        std::string model = config.model_path;
        config = load_config(v);
        if (!model.empty()) config.model_path = model;
      } else if (k == "--model") config.model_path = v;
      else if (k == "--input") input = v;
      else if (k == "--frames") frames = std::stoi(v);
      else if (k == "--batch-size") config.batch_size = std::stoi(v);
      else if (k == "--threads") config.threads = std::stoi(v);
      else if (k == "--device") config.device = v;
      else if (k == "--repeat") repeat = std::stoi(v);
      else throw UsageError("unknown option " + k);
    }
    if (config.model_path.empty() || input.empty())
      throw UsageError("usage: vidscore-bench-model [--config C] --model M --input IN [--frames N] "
                       "[--batch-size B] [--threads T] [--device D] [--repeat R]");
    VideoReader reader(input);
    FrameSize size = reader.info().size;
    Chunk chunk;
    chunk.size = size;
    chunk.pixels.resize(static_cast<size_t>(frames) * size.rgb_bytes());
    for (int i = 0; i < frames; ++i) {
      int64_t pts = 0;
      if (!reader.read(chunk.frame(i), &pts)) break;
      chunk.pts.push_back(pts);
    }
    chunk.pixels.resize(chunk.count() * size.rgb_bytes());
    const std::vector<uint8_t> original = chunk.pixels;
    auto task = make_task(config, size, 0, 1);  // includes the warm-up
    double best = 1e300;
    for (int r = 0; r < repeat; ++r) {
      chunk.pixels = original;
      auto t0 = Clock::now();
      task->process(chunk);
      best = std::min(best, seconds_since(t0));
    }
    std::printf("model-only: %d frames %dx%d, batch %d, %s: %.3f s, %.2f fps\n", chunk.count(),
                size.width, size.height, task->batch_size(), task->device_name().c_str(), best,
                chunk.count() / best);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "vidscore-bench-model: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidscore-bench-model: error: %s\n", e.what());
    return 1;
  }
}
