// Key encoding for the state store: fixed-width big-endian integers, so that RocksDB's bytewise
// order is numeric order. Signed 64-bit values (times) have their sign bit flipped, so negative
// times sort before positive ones. Every fact key is a fixed-width tuple; a prefix of it selects
// one run, one family, one symbol, one series.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace qflow::store {

class KeyWriter {
 public:
  KeyWriter& u8(uint8_t v) {
    key_ += static_cast<char>(v);
    return *this;
  }
  KeyWriter& u16(uint16_t v) { return big(v, 2); }
  KeyWriter& u32(uint32_t v) { return big(v, 4); }
  KeyWriter& u64(uint64_t v) { return big(v, 8); }
  KeyWriter& i64(int64_t v) { return big(static_cast<uint64_t>(v) ^ (uint64_t{1} << 63), 8); }
  KeyWriter& text(std::string_view s) {
    key_.append(s);
    return *this;
  }
  const std::string& str() const { return key_; }
  std::string take() { return std::move(key_); }

 private:
  KeyWriter& big(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) key_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  std::string key_;
};

class KeyReader {
 public:
  explicit KeyReader(std::string_view key) : key_(key) {}
  uint8_t u8() { return static_cast<uint8_t>(big(1)); }
  uint16_t u16() { return static_cast<uint16_t>(big(2)); }
  uint32_t u32() { return static_cast<uint32_t>(big(4)); }
  uint64_t u64() { return big(8); }
  int64_t i64() { return static_cast<int64_t>(big(8) ^ (uint64_t{1} << 63)); }
  std::string_view rest() const { return key_.substr(pos_); }
  bool at_end() const { return pos_ == key_.size(); }

 private:
  uint64_t big(size_t bytes) {
    if (key_.size() - pos_ < bytes) throw std::runtime_error("store key is too short");
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(key_[pos_ + i]);
    pos_ += bytes;
    return v;
  }
  std::string_view key_;
  size_t pos_ = 0;
};

// The smallest key greater than every key starting with `prefix` (for range ends).
inline std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(prefix.back());
    if (c != 0xff) {
      ++c;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;  // empty: no upper bound
}

}  // namespace qflow::store
