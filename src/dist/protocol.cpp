#include "vidscore/dist/protocol.h"

#include <cstring>

#include "vidscore/dist/mpi_env.h"

namespace vidscore {
namespace {

struct MetaHeader {
  int64_t first_index;
  int32_t count, width, height;
  int32_t reserved;
  uint64_t annotations_bytes;
  double inference_s;
};

}  // namespace

std::vector<uint8_t> pack_meta(const Chunk& chunk, double inference_s) {
  MetaHeader h{chunk.first_index, chunk.count(), chunk.size.width, chunk.size.height, 0,
               chunk.annotations.size(), inference_s};
  std::vector<uint8_t> out(sizeof(h) + chunk.pts.size() * sizeof(int64_t) + chunk.annotations.size());
  uint8_t* p = out.data();
  std::memcpy(p, &h, sizeof(h));
  p += sizeof(h);
  std::memcpy(p, chunk.pts.data(), chunk.pts.size() * sizeof(int64_t));
  p += chunk.pts.size() * sizeof(int64_t);
  std::memcpy(p, chunk.annotations.data(), chunk.annotations.size());
  return out;
}

double unpack_meta(const std::vector<uint8_t>& bytes, Chunk& chunk) {
  MetaHeader h;
  VIDSCORE_ASSERT(bytes.size() >= sizeof(h));
  std::memcpy(&h, bytes.data(), sizeof(h));
  VIDSCORE_ASSERT(h.count >= 0 && bytes.size() == sizeof(h) + h.count * sizeof(int64_t) +
                                                      h.annotations_bytes);
  chunk.first_index = h.first_index;
  chunk.size = {h.width, h.height};
  chunk.pts.resize(h.count);
  const uint8_t* p = bytes.data() + sizeof(h);
  std::memcpy(chunk.pts.data(), p, h.count * sizeof(int64_t));
  p += h.count * sizeof(int64_t);
  chunk.annotations.assign(reinterpret_cast<const char*>(p), h.annotations_bytes);
  return h.inference_s;
}

void send_chunk(const Chunk& chunk, double inference_s, int dest, Tag meta, Tag pixels) {
  std::vector<uint8_t> m = pack_meta(chunk, inference_s);
  MPI_CHECK(MPI_Send(m.data(), static_cast<int>(m.size()), MPI_BYTE, dest, tag(meta),
                     MPI_COMM_WORLD));
  MPI_CHECK(MPI_Send(chunk.pixels.data(), static_cast<int>(chunk.pixels.size()), MPI_BYTE, dest,
                     tag(pixels), MPI_COMM_WORLD));
}

double recv_chunk(Chunk& chunk, int source, Tag meta, Tag pixels) {
  MPI_Status st;
  MPI_CHECK(MPI_Probe(source, tag(meta), MPI_COMM_WORLD, &st));
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  std::vector<uint8_t> m(n);
  MPI_CHECK(MPI_Recv(m.data(), n, MPI_BYTE, source, tag(meta), MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  double reported = unpack_meta(m, chunk);
  chunk.pixels.resize(static_cast<size_t>(chunk.count()) * chunk.size.rgb_bytes());
  MPI_CHECK(MPI_Recv(chunk.pixels.data(), static_cast<int>(chunk.pixels.size()), MPI_BYTE, source,
                     tag(pixels), MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  return reported;
}

}  // namespace vidscore
