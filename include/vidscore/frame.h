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
  std::vector<std::string> annotations;  // task results per frame (detections JSON, classes,
                                         // an embedding's bytes), or empty

  int count() const { return static_cast<int>(pts.size()); }
  uint8_t* frame(int i) { return pixels.data() + static_cast<size_t>(i) * size.rgb_bytes(); }
  const uint8_t* frame(int i) const {
    return pixels.data() + static_cast<size_t>(i) * size.rgb_bytes();
  }
};

// One picture in packed RGB24 (an image of an image folder, as its rank decoded it).
struct RgbImage {
  FrameSize size;
  std::vector<uint8_t> pixels;  // size.rgb_bytes()
  std::string format;           // "jpeg", "png", ...: for messages
};

// A view of one 8-bit planar YUV picture (4:2:0, 4:2:2 or 4:4:4) with the colour matrix and
// range its samples use: how decoded frames reach a task, and how its results reach the encoder,
// on the float path (no packed RGB between). Does not own the planes.
struct YuvImage {
  uint8_t* plane[3] = {};  // Y, U (Cb), V (Cr)
  int stride[3] = {};      // bytes per row of each plane
  int width = 0, height = 0;
  int chroma_shift_x = 0, chroma_shift_y = 0;  // log2 of the chroma subsampling (4:2:0: 1, 1)
  float kr = 0.299f, kb = 0.114f;              // luma weights of the matrix (BT.601 here)
  bool full_range = false;                     // 0-255 (JPEG) rather than 16-235/240
};

}  // namespace vidscore
