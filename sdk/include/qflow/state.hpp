// Node state serialisation: a node writes its mutable state as a flat byte string and reads it
// back into a fresh instance with the same parameters. Fixed-width, little-endian as the host.
#pragma once

#include <qflow/abi.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace qflow {

class StateWriter {
 public:
  explicit StateWriter(qf_state_writer* w) : w_(w) {}

  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put(const T& v) {
    w_->write(w_, &v, sizeof v);
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    if (!s.empty()) w_->write(w_, s.data(), s.size());
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put_vector(const std::vector<T>& v) {
    put<uint64_t>(v.size());
    if (!v.empty()) w_->write(w_, v.data(), v.size() * sizeof(T));
  }

 private:
  qf_state_writer* w_;
};

class StateReader {
 public:
  StateReader(const void* data, size_t n) : p_(static_cast<const unsigned char*>(data)), end_(p_ + n) {}

  template <class T>
    requires std::is_trivially_copyable_v<T>
  T get() {
    T v;
    take(&v, sizeof v);
    return v;
  }
  std::string get_string() {
    const uint64_t n = get<uint64_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  std::vector<T> get_vector() {
    const uint64_t n = get<uint64_t>();
    if (n > static_cast<uint64_t>(end_ - p_) / sizeof(T)) throw std::runtime_error("node state is truncated");
    std::vector<T> v(n);
    take(v.data(), n * sizeof(T));
    return v;
  }
  bool at_end() const { return p_ == end_; }

 private:
  void need(uint64_t n) const {
    if (n > static_cast<uint64_t>(end_ - p_)) throw std::runtime_error("node state is truncated");
  }
  void take(void* out, size_t n) {
    need(n);
    if (n) std::memcpy(out, p_, n);
    p_ += n;
  }
  const unsigned char* p_;
  const unsigned char* end_;
};

}  // namespace qflow
