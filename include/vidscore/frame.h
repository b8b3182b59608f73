// Frames and chunks: the unit of work that travels between stages and ranks. Pixels are packed
// RGB24 (3 bytes per pixel, rows without padding) and always travel as uint8. Knows nothing of
// FFmpeg, MPI or torch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vidscore {

struct FrameSize {
  int width = 0;
  int height = 0;
  size_t rgb_bytes() const { return static_cast<size_t>(width) * height * 3; }
  bool operator==(const FrameSize& o) const { return width == o.width && height == o.height; }
};

// A batch of consecutive frames of one video, as a task sees them (a worker fills one batch at
// a time from its segment).
struct Chunk {
  FrameSize size;         // of the pixels here
  FrameSize frame_size;   // of the video's frames: differs when the worker converted them
                          // straight to the size the task wants (Task::input_frame_size)
  std::vector<int64_t> pts;     // presentation timestamps, in the video stream's time base
  std::vector<uint8_t> pixels;  // count() frames, size.rgb_bytes() each
  std::string annotations;      // task results beside the pixels (e.g. detections JSON)

  int count() const { return static_cast<int>(pts.size()); }
  uint8_t* frame(int i) { return pixels.data() + static_cast<size_t>(i) * size.rgb_bytes(); }
  const uint8_t* frame(int i) const {
    return pixels.data() + static_cast<size_t>(i) * size.rgb_bytes();
  }
};

}  // namespace vidscore
