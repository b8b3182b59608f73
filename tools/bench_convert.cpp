// vidscore-bench-convert: the float path's two conversions on their own (model/yuv_tensor), the
// per-frame CPU cost around a style model. Times YUV planes -> float RGB tensor and float RGB
// tensor -> YUV planes on a synthetic picture, alternately, and prints the median of each.
//   vidscore-bench-convert [--size WxH] [--chroma 420|422|444] [--threads T] [--repeat R]
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "vidscore/error.h"
#include "vidscore/model/yuv_tensor.h"
#include "vidscore/timing.h"

int main(int argc, char** argv) {
  using namespace vidscore;
  int width = 1920, height = 1080, chroma = 420, threads = 2, repeat = 50;
  try {
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string k = argv[i], v = argv[i + 1];
      if (k == "--size") {
        if (std::sscanf(v.c_str(), "%dx%d", &width, &height) != 2 || width < 1 || height < 1)
          throw UsageError("--size wants WxH, got " + v);
      } else if (k == "--chroma") chroma = std::stoi(v);
      else if (k == "--threads") threads = std::stoi(v);
      else if (k == "--repeat") repeat = std::max(1, std::stoi(v));
      else throw UsageError("unknown option " + k);
    }
    if (chroma != 420 && chroma != 422 && chroma != 444)
      throw UsageError("--chroma wants 420, 422 or 444");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidscore-bench-convert: %s\n", e.what());
    return 2;
  }
  torch::set_num_threads(threads);
  YuvImage img;
  img.width = width;
  img.height = height;
  img.chroma_shift_x = chroma == 444 ? 0 : 1;
  img.chroma_shift_y = chroma == 420 ? 1 : 0;
  img.kr = 0.2126f;  // BT.709, limited range: what HD video is
  img.kb = 0.0722f;
  const int cw = (width + (1 << img.chroma_shift_x) - 1) >> img.chroma_shift_x;
  const int ch = (height + (1 << img.chroma_shift_y) - 1) >> img.chroma_shift_y;
  std::vector<uint8_t> planes[3];
  std::mt19937 rng(1);
  for (int p = 0; p < 3; ++p) {
    const int w = p ? cw : width, h = p ? ch : height;
    planes[p].resize(static_cast<size_t>(w) * h);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)  // a gradient with noise: every code path, no constant rows
        planes[p][static_cast<size_t>(y) * w + x] =
            static_cast<uint8_t>(std::clamp<int>(16 + (x + y + 40 * p) % 220 +
                                                     static_cast<int>(rng() % 9) - 4, 0, 255));
    img.plane[p] = planes[p].data();
    img.stride[p] = w;
  }
  torch::Tensor rgb = torch::empty({3, height, width}, torch::kFloat);
  std::vector<double> to_rgb, to_yuv;
  for (int r = 0; r < repeat + 2; ++r) {
    auto t0 = Clock::now();
    yuv_to_rgb_tensor(img, rgb);
    const double a = seconds_since(t0);
    t0 = Clock::now();
    rgb_tensor_to_yuv(rgb, img);
    const double b = seconds_since(t0);
    if (r >= 2) {  // the first two warm the caches and the threads
      to_rgb.push_back(a);
      to_yuv.push_back(b);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2] * 1e3;
  };
  std::printf("convert %dx%d yuv%d, %d threads: yuv->rgb %.2f ms, rgb->yuv %.2f ms per frame "
              "(medians of %d)\n", width, height, chroma, threads, median(to_rgb),
              median(to_yuv), repeat);
  return 0;
}
