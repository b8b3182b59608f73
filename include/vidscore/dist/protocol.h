// The chunk protocol between rank 0 and the other ranks. A chunk travels as two messages with
// the same source, destination and tag family: a small meta message (indices, size, pts,
// annotations, the sender's inference seconds) and the raw RGB24 pixels as uint8. MPI keeps
// messages between one pair with one tag in order, so a receiver matches pixels to meta simply.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vidscore/frame.h"

namespace vidscore {

enum class Tag : int {
  kChunkMeta = 101,     // rank 0 -> worker: a chunk to process
  kChunkPixels = 102,
  kResultMeta = 103,    // worker -> rank 0: the processed chunk
  kResultPixels = 104,
  kError = 105,         // worker -> rank 0: a fatal error's text
  kStop = 106,          // rank 0 -> worker: no more work
};

inline int tag(Tag t) { return static_cast<int>(t); }

// Serialises everything of a chunk except its pixels, plus a number the sender reports.
std::vector<uint8_t> pack_meta(const Chunk& chunk, double inference_s);
// Fills chunk's fields (not its pixels) from a meta message; returns the reported number.
double unpack_meta(const std::vector<uint8_t>& bytes, Chunk& chunk);

// Blocking send and receive of a whole chunk (worker side).
void send_chunk(const Chunk& chunk, double inference_s, int dest, Tag meta, Tag pixels);
// Receives a chunk whose meta message has been probed from `source`; reuses chunk.pixels.
double recv_chunk(Chunk& chunk, int source, Tag meta, Tag pixels);

}  // namespace vidscore
