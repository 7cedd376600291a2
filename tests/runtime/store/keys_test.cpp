// runtime/store/keys.hpp: fixed-width big-endian keys whose bytewise order (RocksDB's, and
// std::string's) is numeric order, and prefix_end as the exclusive end of a prefix range.
#include "store_test_support.hpp"

#include "store/keys.hpp"

#include <climits>
#include <limits>

using qflow::store::KeyReader;
using qflow::store::KeyWriter;
using qflow::store::prefix_end;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// Signed values spread over the whole range: small ones around zero, ones near both ends, any.
int64_t any_i64(std::mt19937_64& r) {
  switch (r() % 4) {
    case 0: return static_cast<int64_t>(store_test::uniform(r, 0, 2000)) - 1000;
    case 1: return std::numeric_limits<int64_t>::min() + static_cast<int64_t>(r() % 1000);
    case 2: return std::numeric_limits<int64_t>::max() - static_cast<int64_t>(r() % 1000);
    default: return static_cast<int64_t>(r());
  }
}

uint64_t any_u64(std::mt19937_64& r) {
  switch (r() % 3) {
    case 0: return r() % 1000;
    case 1: return std::numeric_limits<uint64_t>::max() - r() % 1000;
    default: return r() >> (r() % 64);  // every magnitude
  }
}

template <class T>
std::string encode(T v) {
  if constexpr (std::is_same_v<T, uint16_t>) return KeyWriter().u16(v).take();
  if constexpr (std::is_same_v<T, uint32_t>) return KeyWriter().u32(v).take();
  if constexpr (std::is_same_v<T, uint64_t>) return KeyWriter().u64(v).take();
  if constexpr (std::is_same_v<T, int64_t>) return KeyWriter().i64(v).take();
}

// For every pair, the encoded keys compare as the numbers do.
template <class T>
void check_order(const std::vector<T>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t j = 0; j < values.size(); ++j) {
      const T a = values[i], b = values[j];
      const std::string ka = encode(a), kb = encode(b);
      if ((ka < kb) != (a < b) || (ka == kb) != (a == b)) {
        FAIL_CHECK("order differs for " << a << " and " << b);
        return;
      }
    }
}

}  // namespace

TEST_CASE("keys: big-endian bytes, sign bit flipped for i64 (hand-worked)") {
  CHECK(KeyWriter().u8(0xab).str() == bytes({0xab}));
  CHECK(KeyWriter().u16(0x0102).str() == bytes({0x01, 0x02}));
  CHECK(KeyWriter().u32(0x01020304).str() == bytes({0x01, 0x02, 0x03, 0x04}));
  CHECK(KeyWriter().u64(0x0102030405060708ull).str() == bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(KeyWriter().i64(0).str() == bytes({0x80, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(KeyWriter().i64(-1).str() == bytes({0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK(KeyWriter().i64(INT64_MIN).str() == std::string(8, '\0'));
  CHECK(KeyWriter().i64(INT64_MAX).str() == std::string(8, '\xff'));
  CHECK(KeyWriter().u16(1).text("ab").u8(2).str() == bytes({0, 1, 'a', 'b', 2}));
}

TEST_CASE("keys: a KeyReader reads back every field a KeyWriter wrote") {
  auto r = store_test::rng(11);
  for (int round = 0; round < 2000; ++round) {
    const auto a = static_cast<uint8_t>(r());
    const auto b = static_cast<uint16_t>(r());
    const auto c = static_cast<uint32_t>(r());
    const uint64_t d = any_u64(r);
    const int64_t e = any_i64(r);
    const std::string tail(r() % 5, static_cast<char>(r()));
    const std::string key = KeyWriter().u8(a).u16(b).u32(c).u64(d).i64(e).text(tail).take();
    REQUIRE(key.size() == 1 + 2 + 4 + 8 + 8 + tail.size());
    KeyReader k(key);
    CHECK(k.u8() == a);
    CHECK(k.u16() == b);
    CHECK(k.u32() == c);
    CHECK(k.u64() == d);
    CHECK(k.i64() == e);
    CHECK(k.rest() == tail);
    CHECK(k.at_end() == tail.empty());
  }
  for (int64_t v : {INT64_MIN, INT64_MIN + 1, int64_t{-1}, int64_t{0}, int64_t{1}, INT64_MAX - 1, INT64_MAX}) {
    const std::string key = KeyWriter().i64(v).take();
    KeyReader k(key);
    CHECK(k.i64() == v);
    CHECK(k.at_end());
  }
}

TEST_CASE("keys: reading past the end of a key throws and reads nothing") {
  const std::string key = KeyWriter().u16(7).u8(1).take();
  KeyReader k(key);
  CHECK_THROWS_WITH(k.u32(), "store key is too short");
  CHECK(k.u16() == 7);  // the failed read consumed nothing
  CHECK_THROWS(k.u16());
  CHECK(k.u8() == 1);
  CHECK(k.at_end());
  CHECK_THROWS(k.u8());
  KeyReader empty("");
  CHECK_THROWS(empty.i64());
}

TEST_CASE("keys: bytewise order of encoded unsigned integers is numeric order") {
  auto r = store_test::rng(12);
  std::vector<uint16_t> u16s{0, 1, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff};
  std::vector<uint32_t> u32s{0, 1, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000u, 0xffffffffu};
  std::vector<uint64_t> u64s{0, 1, 0xff, 0x100, 0xffffffffull, 0x100000000ull, INT64_MAX, 0x8000000000000000ull, UINT64_MAX};
  for (int i = 0; i < 300; ++i) {
    u16s.push_back(static_cast<uint16_t>(r() >> (r() % 16 + 48)));
    u32s.push_back(static_cast<uint32_t>(r() >> (r() % 32 + 32)));
    u64s.push_back(any_u64(r));
  }
  check_order(u16s);
  check_order(u32s);
  check_order(u64s);
}

TEST_CASE("keys: bytewise order of encoded i64 is numeric order, negatives first") {
  auto r = store_test::rng(13);
  std::vector<int64_t> values{INT64_MIN, INT64_MIN + 1, -256, -255, -1, 0, 1, 255, 256, INT64_MAX - 1, INT64_MAX};
  for (int i = 0; i < 400; ++i) values.push_back(any_i64(r));
  check_order(values);
  // And over many more random pairs than the all-pairs check covers.
  for (int i = 0; i < 200000; ++i) {
    const int64_t a = any_i64(r), b = any_i64(r);
    const std::string ka = encode(a), kb = encode(b);
    if ((ka < kb) != (a < b) || (ka == kb) != (a == b)) {
      FAIL_CHECK("order differs for " << a << " and " << b);
      break;
    }
  }
}

TEST_CASE("keys: tuples of fixed-width fields sort by their first differing field") {
  auto r = store_test::rng(14);
  struct T {
    uint32_t a;
    int64_t b;
    uint16_t c;
  };
  std::vector<T> tuples;
  for (int i = 0; i < 400; ++i)
    tuples.push_back(T{static_cast<uint32_t>(r() % 3), r() % 2 ? any_i64(r) : static_cast<int64_t>(r() % 3) - 1,
                       static_cast<uint16_t>(r() % 4)});
  for (const T& x : tuples)
    for (const T& y : tuples) {
      const bool less = std::tie(x.a, x.b, x.c) < std::tie(y.a, y.b, y.c);
      const std::string kx = KeyWriter().u32(x.a).i64(x.b).u16(x.c).take();
      const std::string ky = KeyWriter().u32(y.a).i64(y.b).u16(y.c).take();
      if ((kx < ky) != less) {
        FAIL_CHECK("tuple order differs for (" << x.a << "," << x.b << "," << x.c << ") and (" << y.a << "," << y.b
                                               << "," << y.c << ")");
        return;
      }
    }
}

TEST_CASE("keys: prefix_end is the smallest key above every key with the prefix") {
  CHECK(prefix_end("ab") == "ac");
  CHECK(prefix_end(bytes({'a', 0xff})) == "b");
  CHECK(prefix_end(bytes({0x01, 0xff, 0xff})) == bytes({0x02}));
  CHECK(prefix_end(bytes({0x00})) == bytes({0x01}));
  CHECK(prefix_end(bytes({0xfe})) == bytes({0xff}));
  CHECK(prefix_end(bytes({0xff, 0xff})).empty());  // no upper bound
  CHECK(prefix_end("").empty());

  // The defining property: k starts with p exactly when p <= k < prefix_end(p) (or p <= k when
  // there is no end). Bytes are drawn from a small alphabet with 0x00 and 0xff so that both
  // carries and shared prefixes happen often.
  auto r = store_test::rng(15);
  const unsigned char alphabet[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
  auto random_bytes = [&](size_t max_len) {
    std::string s(r() % (max_len + 1), '\0');
    for (char& c : s) c = static_cast<char>(alphabet[r() % std::size(alphabet)]);
    return s;
  };
  for (int i = 0; i < 50000; ++i) {
    const std::string p = random_bytes(3);
    const std::string k = random_bytes(5);
    const std::string end = prefix_end(p);
    const bool in_range = p <= k && (end.empty() || k < end);
    const bool starts = k.compare(0, p.size(), p) == 0 && k.size() >= p.size();
    if (in_range != starts) {
      FAIL_CHECK("prefix " << Catch::Detail::stringify(p) << " key " << Catch::Detail::stringify(k));
      break;
    }
  }
}
