#include "vidscore/cluster/image_worker.h"

#include <algorithm>

#include "vidscore/cluster/worker.h"
#include "vidscore/error.h"
#include "vidscore/media/image_decoder.h"
#include "vidscore/model/image_transform.h"
#include "vidscore/timing.h"

namespace vidscore {

SegmentResult ImageWorker::process(const SegmentWork& work) {
  SegmentResult out;
  out.input = work.input;
  out.index = work.index;
  out.rank = rank_;
  const int count = static_cast<int>(work.images.size());
  out.frame_pts.resize(count);
  out.annotations.resize(count);
  out.item_errors.resize(count);
  std::vector<RgbImage> pictures;
  std::vector<int> slots;  // which image each picture is
  for (int first = 0; first < count; first += batch_) {
    const int n = std::min(batch_, count - first);
    pictures.clear();
    slots.clear();
    auto t0 = Clock::now();
    for (int i = first; i < first + n; ++i) {
      out.frame_pts[i] = work.image_first + i;
      const ImageFile& file = work.images[i];
      if (!file.read_error.empty()) {
        out.item_errors[i] = file.read_error;
        continue;
      }
      try {
        RgbImage picture = decode_image(file.data.data(), file.data.size());
        scaled_size(picture.size, image_);  // throws for a picture too thin to scale
        pictures.push_back(std::move(picture));
        slots.push_back(i);
      } catch (const std::exception& e) {
        out.item_errors[i] = e.what();
      }
    }
    decode_s_ += seconds_since(t0);
    if (pictures.empty()) continue;
    std::vector<const RgbImage*> batch;
    for (const auto& p : pictures) batch.push_back(&p);
    std::vector<std::string> results = task_.process_images(batch);
    VIDSCORE_ASSERT(results.size() == slots.size());
    for (size_t k = 0; k < slots.size(); ++k) out.annotations[slots[k]] = std::move(results[k]);
  }
  out.decode_s = decode_s_;
  // The stage line's "convert" is the pre-processing; "inference" the model and the rest.
  out.convert_s = task_.timings().preprocess_s;
  out.inference_s = task_.timings().inference_s - task_.timings().preprocess_s;
  out.peak_rss_mib = peak_rss_mib();
  return out;
}

}  // namespace vidscore
