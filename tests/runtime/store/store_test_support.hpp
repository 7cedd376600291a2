// Shared by the store's tests: a temporary folder per test, seeded randomness, and comparisons
// of rows and facts that print what differs.
#pragma once

#include "store/facts.hpp"
#include "store/store.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace qflow::store {

inline std::ostream& operator<<(std::ostream& out, Family f) {
  return out << family_name(f) << "(" << static_cast<int>(f) << ")";
}

inline std::ostream& operator<<(std::ostream& out, const SeriesKey& s) {
  return out << "{run " << s.run << ", " << s.family << ", symbol " << s.symbol << ", interval " << s.interval
             << ", node " << s.node << ", port " << s.port << "}";
}

inline std::ostream& operator<<(std::ostream& out, const Row& r) {
  out << "{time " << r.time << ", seq " << r.seq << ", origin " << r.origin << ", flags " << r.flags << ", payload";
  for (uint64_t w : r.payload) out << " " << w;
  return out << "}";
}

inline bool operator==(const Row& a, const Row& b) {
  return a.time == b.time && a.seq == b.seq && a.origin == b.origin && a.flags == b.flags && a.payload == b.payload;
}

inline bool operator==(const Fact& a, const Fact& b) { return a.series == b.series && a.row == b.row; }

inline std::ostream& operator<<(std::ostream& out, const Fact& f) { return out << f.series << " " << f.row; }

}  // namespace qflow::store

namespace store_test {

namespace fs = std::filesystem;

// A fresh folder under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    std::string pattern = (fs::temp_directory_path() / ("qflow_store_" + name + ".XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) FAIL("cannot create a temporary folder from " << pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& child) const { return path_ / child; }

 private:
  fs::path path_;
};

// Every test draws from its own fixed seed, so that a failure can be reproduced.
inline std::mt19937_64 rng(uint64_t seed) { return std::mt19937_64(seed); }

inline uint64_t uniform(std::mt19937_64& r, uint64_t lo, uint64_t hi) {
  return std::uniform_int_distribution<uint64_t>(lo, hi)(r);
}

inline std::vector<qflow::store::Family> all_families() {
  std::vector<qflow::store::Family> out;
  for (uint8_t f = 1; f < static_cast<uint8_t>(qflow::store::Family::count_); ++f)
    out.push_back(static_cast<qflow::store::Family>(f));
  return out;
}

// Every fact of a run and family in the database, in the reader's order.
inline std::vector<qflow::store::Fact> read_facts(qflow::store::Store& store, uint32_t run, qflow::store::Family f,
                                                  std::optional<uint32_t> symbol = std::nullopt,
                                                  int64_t from = INT64_MIN, int64_t to = INT64_MAX) {
  std::vector<qflow::store::Fact> out;
  qflow::store::FactReader reader(store, run, f, symbol, from, to);
  qflow::store::Fact fact;
  while (reader.next(fact)) out.push_back(fact);
  return out;
}

// Every key and value of a column family, in order.
inline std::vector<std::pair<std::string, std::string>> dump(qflow::store::Store& store, qflow::store::Cf c) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = store.iterate(c);
  for (it->SeekToFirst(); it->Valid(); it->Next()) out.emplace_back(it->key().ToString(), it->value().ToString());
  REQUIRE(it->status().ok());
  return out;
}

// Compares two sequences element by element, naming the first difference.
template <class T>
void require_same(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    INFO("first difference at " << i);
    CHECK(got[i] == want[i]);
    return;
  }
}

}  // namespace store_test
