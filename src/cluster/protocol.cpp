#include "vidscore/cluster/protocol.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "vidscore/bytes.h"
#include "vidscore/cluster/mpi_env.h"

namespace vidscore {
namespace {

void put_packets(ByteWriter& w, const std::vector<PacketData>& packets) {
  w.put<uint64_t>(packets.size());
  for (const auto& p : packets) {
    w.put(p.pts);
    w.put(p.dts);
    w.put(p.duration);
    w.put(p.flags);
    w.put_bytes(p.data);
  }
}

std::vector<PacketData> get_packets(ByteReader& r) {
  std::vector<PacketData> packets(r.get<uint64_t>());
  for (auto& p : packets) {
    p.pts = r.get<int64_t>();
    p.dts = r.get<int64_t>();
    p.duration = r.get<int64_t>();
    p.flags = r.get<int32_t>();
    p.data = r.get_bytes();
  }
  return packets;
}

void put_strings(ByteWriter& w, const std::vector<std::string>& v) {
  w.put<uint64_t>(v.size());
  for (const auto& s : v) w.put_string(s);
}

std::vector<std::string> get_strings(ByteReader& r) {
  std::vector<std::string> v(r.get<uint64_t>());
  for (auto& s : v) s = r.get_string();
  return v;
}

}  // namespace

std::vector<uint8_t> pack_work(const SegmentWork& work, bool with_setup) {
  ByteWriter w;
  w.put(work.input);
  w.put(work.index);
  w.put<bool>(with_setup && work.setup);
  if (with_setup && work.setup) w.put_bytes(*work.setup);
  w.put(work.start_pts);
  w.put(work.end_pts);
  put_packets(w, work.packets);
  w.put<uint64_t>(work.frames.size());
  for (const auto& f : work.frames) {
    w.put(f.pts);
    w.put(f.width);
    w.put(f.height);
    w.put(f.format);
    w.put(f.color_space);
    w.put(f.color_range);
    w.put(f.interlaced);
    w.put(f.top_field_first);
    w.put_bytes(f.data);
  }
  w.put<uint64_t>(work.images.size());
  for (const auto& im : work.images) {
    w.put_bytes(im.data);
    w.put_string(im.read_error);
  }
  w.put(work.image_first);
  return std::move(w.bytes());
}

SegmentWork unpack_work(const std::vector<uint8_t>& bytes) {
  ByteReader r(bytes);
  SegmentWork work;
  work.input = r.get<int32_t>();
  work.index = r.get<int64_t>();
  if (r.get<bool>()) work.setup = std::make_shared<const std::vector<uint8_t>>(r.get_bytes());
  work.start_pts = r.get<int64_t>();
  work.end_pts = r.get<int64_t>();
  work.packets = get_packets(r);
  work.frames.resize(r.get<uint64_t>());
  for (auto& f : work.frames) {
    f.pts = r.get<int64_t>();
    f.width = r.get<int32_t>();
    f.height = r.get<int32_t>();
    f.format = r.get<int32_t>();
    f.color_space = r.get<int32_t>();
    f.color_range = r.get<int32_t>();
    f.interlaced = r.get<bool>();
    f.top_field_first = r.get<bool>();
    f.data = r.get_bytes();
  }
  work.images.resize(r.get<uint64_t>());
  for (auto& im : work.images) {
    im.data = r.get_bytes();
    im.read_error = r.get_string();
  }
  work.image_first = r.get<int64_t>();
  if (!r.done()) throw RuntimeError("malformed segment message");
  return work;
}

std::vector<uint8_t> pack_result(const SegmentResult& res) {
  ByteWriter w;
  w.put(res.input);
  w.put(res.index);
  w.put(res.rank);
  w.put<uint64_t>(res.frame_pts.size());
  for (int64_t t : res.frame_pts) w.put(t);
  put_packets(w, res.packets);
  w.put_bytes(res.extradata);
  put_strings(w, res.annotations);
  put_strings(w, res.item_errors);
  put_strings(w, res.notes);
  w.put(res.invalid_packets);
  w.put(res.repeated_pts);
  w.put(res.decode_s);
  w.put(res.convert_s);
  w.put(res.inference_s);
  w.put(res.encode_s);
  w.put(res.peak_rss_mib);
  w.put_string(res.error);
  return std::move(w.bytes());
}

SegmentResult unpack_result(const std::vector<uint8_t>& bytes) {
  ByteReader r(bytes);
  SegmentResult res;
  res.input = r.get<int32_t>();
  res.index = r.get<int64_t>();
  res.rank = r.get<int32_t>();
  res.frame_pts.resize(r.get<uint64_t>());
  for (auto& t : res.frame_pts) t = r.get<int64_t>();
  res.packets = get_packets(r);
  res.extradata = r.get_bytes();
  res.annotations = get_strings(r);
  res.item_errors = get_strings(r);
  res.notes = get_strings(r);
  res.invalid_packets = r.get<int64_t>();
  res.repeated_pts = r.get<int64_t>();
  res.decode_s = r.get<double>();
  res.convert_s = r.get<double>();
  res.inference_s = r.get<double>();
  res.encode_s = r.get<double>();
  res.peak_rss_mib = r.get<double>();
  res.error = r.get_string();
  if (!r.done()) throw RuntimeError("malformed result message");
  return res;
}

std::optional<Incoming> wait_for_message(int source, const std::function<bool()>& stop_waiting) {
  // Open MPI's blocking probe spins a core at 100%; an idle rank should leave it to the model
  // and codec threads of the ranks beside it. Sleeping up to 2 ms between probes costs nothing
  // against segments that take a second or more.
  auto sleep = std::chrono::microseconds(50);
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_CHECK(MPI_Iprobe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st));
    if (flag) {
      Incoming in;
      in.tag = st.MPI_TAG;
      in.source = st.MPI_SOURCE;
      MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &in.bytes));
      return in;
    }
    if (stop_waiting && stop_waiting()) return std::nullopt;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, std::chrono::microseconds(2000));
  }
}

Incoming wait_for_message(int source) { return *wait_for_message(source, nullptr); }

std::vector<uint8_t> receive(const Incoming& in) {
  std::vector<uint8_t> bytes(in.bytes);
  MPI_CHECK(MPI_Recv(bytes.data(), in.bytes, MPI_BYTE, in.source, in.tag, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE));
  return bytes;
}

}  // namespace vidscore
