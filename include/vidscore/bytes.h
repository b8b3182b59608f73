// Flat little-endian-as-host serialisation for messages between ranks of one job (all ranks run
// the same binary on the same architecture). ByteReader checks every read against the size and
// throws RuntimeError on a short or malformed message.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "vidscore/error.h"

namespace vidscore {

class ByteWriter {
 public:
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable<T>::value, "plain values only");
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_bytes(const uint8_t* data, size_t n) {
    put<uint64_t>(n);
    out_.insert(out_.end(), data, data + n);
  }
  void put_bytes(const std::vector<uint8_t>& v) { put_bytes(v.data(), v.size()); }
  void put_string(const std::string& s) {
    put_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t n) : p_(data), end_(data + n) {}
  explicit ByteReader(const std::vector<uint8_t>& v) : ByteReader(v.data(), v.size()) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable<T>::value, "plain values only");
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::vector<uint8_t> get_bytes() {
    const uint64_t n = get<uint64_t>();
    need(n);
    std::vector<uint8_t> v(p_, p_ + n);
    p_ += n;
    return v;
  }
  std::string get_string() {
    const uint64_t n = get<uint64_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  bool done() const { return p_ == end_; }

 private:
  void need(uint64_t n) const {
    if (n > static_cast<uint64_t>(end_ - p_)) throw RuntimeError("malformed message between ranks");
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace vidscore
