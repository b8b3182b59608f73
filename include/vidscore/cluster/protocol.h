// The segment protocol between rank 0 and the other ranks. Every message is one byte buffer:
// a segment to do (rank 0 -> rank), its result (rank -> rank 0), an error's text, or stop. A
// receiver probes for the tag and size, then receives the whole buffer. The first segment of
// each input a rank gets carries the input's stream parameters (media/stream_params.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "vidscore/segment.h"

namespace vidscore {

enum class Tag : int {
  kSegment = 201,  // rank 0 -> rank: a SegmentWork
  kResult = 202,   // rank -> rank 0: a SegmentResult
  kError = 203,    // rank -> rank 0: a fatal error's text
  kStop = 204,     // rank 0 -> rank: no more work
};

inline int tag(Tag t) { return static_cast<int>(t); }

// `with_setup`: include work.setup (the first segment of an input this rank gets).
std::vector<uint8_t> pack_work(const SegmentWork& work, bool with_setup);
SegmentWork unpack_work(const std::vector<uint8_t>& bytes);
std::vector<uint8_t> pack_result(const SegmentResult& result);
SegmentResult unpack_result(const std::vector<uint8_t>& bytes);

// Waits for the next message from `source` (MPI_ANY_SOURCE allowed) with any tag, without
// spinning a core: probes, sleeping between probes (up to 2 ms). Returns its tag and source.
struct Incoming {
  int tag = 0, source = 0, bytes = 0;
};
Incoming wait_for_message(int source);
// The same, giving up (nothing) as soon as `stop_waiting()` is true and no message is there.
std::optional<Incoming> wait_for_message(int source, const std::function<bool()>& stop_waiting);
// Receives the message `in` announced, whole.
std::vector<uint8_t> receive(const Incoming& in);

}  // namespace vidscore
