// The work a rank does on a run of images of an image folder: decode each file
// (media/image_decoder.h), and score the pictures in batches of the model's batch size
// (Task::process_images: pre-processing, model, annotation). An image that cannot be decoded is
// not an error of the job: its reason comes back in the result (item_errors) and the others go
// on. Memory: one batch of decoded pictures.
#pragma once

#include "vidscore/config.h"
#include "vidscore/model/task.h"
#include "vidscore/segment.h"

namespace vidscore {

class ImageWorker {
 public:
  ImageWorker(const Config& config, Task& task, int rank)
      : task_(task), image_(config.image), batch_(task.batch_size()), rank_(rank) {}
  // Throws what the model throws (a model that does not fit the task fails the job).
  SegmentResult process(const SegmentWork& work);

 private:
  Task& task_;
  ImageInput image_;
  int batch_;
  int rank_;
  double decode_s_ = 0;
};

}  // namespace vidscore
