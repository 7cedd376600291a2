// runtime/store/facts.hpp, the pure parts: fact keys (layout, order, prefixes), the chunk
// encoding of rows (every family, every size, damaged bytes refused) and the mapping of event
// kinds to families.
#include "store_test_support.hpp"

#include "store/keys.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

using namespace qflow::store;
using store_test::all_families;

namespace {

SeriesKey random_series(std::mt19937_64& r) {
  SeriesKey s;
  s.run = static_cast<uint32_t>(r() % 3 ? r() % 4 : r());
  s.family = static_cast<Family>(1 + r() % (static_cast<uint8_t>(Family::count_) - 1));
  s.symbol = static_cast<uint32_t>(r() % 3 ? r() % 5 : r());
  switch (r() % 4) {
    case 0: s.interval = 0; break;
    case 1: s.interval = static_cast<int64_t>(r() % 5) * 60'000'000'000 - 120'000'000'000; break;
    case 2: s.interval = r() % 2 ? INT64_MIN : INT64_MAX; break;
    default: s.interval = static_cast<int64_t>(r());
  }
  s.node = static_cast<uint32_t>(r() % 3 ? r() % 6 : r());
  s.port = static_cast<uint16_t>(r() % 3 ? r() % 3 : r());
  return s;
}

// How a column's words move from row to row, so that blocks of every width occur.
enum class Motion { constant, small_steps, random_walk_double, any, sparse_changes };

uint64_t next_word(std::mt19937_64& r, Motion m, uint64_t prev, double& walk) {
  switch (m) {
    case Motion::constant: return prev;
    case Motion::small_steps: return prev + r() % 3;
    case Motion::random_walk_double: {
      walk *= 1.0 + (static_cast<double>(r() % 2001) - 1000.0) * 1e-6;
      uint64_t w;
      std::memcpy(&w, &walk, 8);
      return w;
    }
    case Motion::any: return r() >> (r() % 64);
    case Motion::sparse_changes: return r() % 50 == 0 ? r() : prev;
  }
  return prev;
}

// `count` rows of family `f`: payload words the family keeps are filled, the others left zero
// (they are not stored). `increasing` keeps time and seq moving forwards; otherwise they are
// arbitrary, wrap-around included.
std::vector<Row> random_rows(std::mt19937_64& r, Family f, size_t count, bool increasing) {
  std::vector<Row> rows(count);
  const uint32_t words = payload_words(f);
  std::vector<Motion> motions;
  for (uint32_t w = 0; w < words; ++w) motions.push_back(static_cast<Motion>(r() % 5));
  std::vector<double> walks(words, 100.0 + static_cast<double>(r() % 1000));
  int64_t t = increasing ? static_cast<int64_t>(r() % 2 ? 1'577'836'800'000'000'000 : -5'000'000'000) : 0;
  uint64_t seq = r() % 1000;
  const int64_t step = static_cast<int64_t>(r() % 4) * 30'000'000'000;
  for (size_t i = 0; i < count; ++i) {
    Row& row = rows[i];
    if (increasing) {
      t += r() % 4 ? step : static_cast<int64_t>(r() % 1'000'000'000);
      seq += r() % 3;
      row.time = t;
      row.seq = seq;
    } else {
      row.time = r() % 5 ? static_cast<int64_t>(r()) : (r() % 2 ? INT64_MIN : INT64_MAX);
      row.seq = r() % 5 ? r() : (r() % 2 ? 0 : UINT64_MAX);
    }
    row.origin = r() % 3 ? static_cast<uint32_t>(r() % 4) : static_cast<uint32_t>(r());
    row.flags = r() % 3 ? static_cast<uint16_t>(r() % 2) : static_cast<uint16_t>(r());
    for (uint32_t w = 0; w < words; ++w)
      row.payload[w] = next_word(r, motions[w], i ? rows[i - 1].payload[w] : r(), walks[w]);
  }
  return rows;
}

const std::vector<size_t> kCounts{0, 1, 2, 3, 129, 130, 131, 258, kChunkRows - 1, kChunkRows};

}  // namespace

TEST_CASE("facts: payload words and names of every family (hand list)") {
  // The words of the qf_* payload each family needs: reserved trailing words are dropped.
  const std::map<Family, std::pair<const char*, uint32_t>> expected{
      {Family::bars, {"bars", 6}},          {Family::ticks, {"ticks", 4}},
      {Family::quotes, {"quotes", 4}},      {Family::values, {"values", 1}},
      {Family::signals, {"signals", 2}},    {Family::orders, {"orders", 6}},
      {Family::order_updates, {"order_updates", 6}}, {Family::fills, {"fills", 6}},
      {Family::positions, {"positions", 4}}, {Family::equity, {"equity", 5}},
      {Family::alerts, {"alerts", 3}},
      // Not event kinds: what a signal's inputs held (value and kind), the runtime's events
      // (the alert layout).
      {Family::signal_inputs, {"signal_inputs", 2}}, {Family::events, {"events", 3}}};
  REQUIRE(expected.size() == all_families().size());
  for (Family f : all_families()) {
    INFO(static_cast<int>(f));
    CHECK(std::string(family_name(f)) == expected.at(f).first);
    CHECK(payload_words(f) == expected.at(f).second);
    CHECK(family_from_name(family_name(f)) == f);
  }
  // Every word the payload structs use is kept.
  CHECK(payload_words(Family::bars) * 8 == sizeof(qf_bar));
  CHECK(payload_words(Family::ticks) * 8 == sizeof(qf_tick));
  CHECK(payload_words(Family::quotes) * 8 == sizeof(qf_quote));
  CHECK(payload_words(Family::values) * 8 == sizeof(qf_value));
  CHECK(payload_words(Family::signals) * 8 == sizeof(qf_signal));
  CHECK(payload_words(Family::orders) * 8 == sizeof(qf_order));
  CHECK(payload_words(Family::order_updates) * 8 == sizeof(qf_order_update));
  CHECK(payload_words(Family::fills) * 8 == sizeof(qf_fill));
  CHECK(payload_words(Family::positions) * 8 == sizeof(qf_position));
  CHECK(payload_words(Family::equity) * 8 == offsetof(qf_account, reserved));
  CHECK(payload_words(Family::alerts) * 8 == sizeof(qf_alert));
  for (const char* bad : {"", "bar", "Bars", "bars ", "account", "control", "count_", "signal-inputs"}) {
    INFO(bad);
    CHECK_FALSE(family_from_name(bad).has_value());
  }
}

TEST_CASE("facts: every event kind maps to its family, control and unknown kinds to none") {
  CHECK(family_of_kind(QF_KIND_TICK) == Family::ticks);
  CHECK(family_of_kind(QF_KIND_QUOTE) == Family::quotes);
  CHECK(family_of_kind(QF_KIND_BAR) == Family::bars);
  CHECK(family_of_kind(QF_KIND_VALUE) == Family::values);
  CHECK(family_of_kind(QF_KIND_SIGNAL) == Family::signals);
  CHECK(family_of_kind(QF_KIND_ORDER) == Family::orders);
  CHECK(family_of_kind(QF_KIND_ORDER_UPDATE) == Family::order_updates);
  CHECK(family_of_kind(QF_KIND_FILL) == Family::fills);
  CHECK(family_of_kind(QF_KIND_POSITION) == Family::positions);
  CHECK(family_of_kind(QF_KIND_ACCOUNT) == Family::equity);
  CHECK(family_of_kind(QF_KIND_ALERT) == Family::alerts);
  CHECK_FALSE(family_of_kind(0).has_value());
  CHECK_FALSE(family_of_kind(QF_KIND_CONTROL).has_value());
  CHECK_FALSE(family_of_kind(QF_KIND_COUNT_).has_value());
  CHECK_FALSE(family_of_kind(200).has_value());
  CHECK_FALSE(family_of_kind(0xffff).has_value());
  // No kind is recorded as signal_inputs or events: the runtime chooses those families.
  for (uint32_t kind = 0; kind <= 0xffff; ++kind) {
    const auto f = family_of_kind(static_cast<uint16_t>(kind));
    if (f == Family::signal_inputs || f == Family::events) FAIL_CHECK("kind " << kind << " maps to " << *f);
  }
}

TEST_CASE("facts: a chunk key is 27 bytes and reads back as written") {
  auto r = store_test::rng(21);
  for (int i = 0; i < 5000; ++i) {
    const SeriesKey s = random_series(r);
    const auto chunk = static_cast<uint32_t>(r() % 2 ? r() % 10 : r());
    const std::string key = chunk_key(s, chunk);
    REQUIRE(key.size() == 4 + 1 + 4 + 8 + 4 + 2 + 4);
    uint32_t got_chunk = ~chunk;
    const SeriesKey back = parse_chunk_key(key, &got_chunk);
    CHECK(back == s);
    CHECK(got_chunk == chunk);
    CHECK(parse_chunk_key(key, nullptr) == s);
    // Its prefixes are the run's, the family's and the symbol's.
    CHECK(key.compare(0, 4, run_prefix(s.run)) == 0);
    CHECK(key.compare(0, 5, family_prefix(s.run, s.family)) == 0);
    CHECK(key.compare(0, 9, symbol_prefix(s.run, s.family, s.symbol)) == 0);
  }
}

TEST_CASE("facts: malformed fact keys are refused") {
  const SeriesKey s{7, Family::fills, 3, 0, 2, 1};
  const std::string key = chunk_key(s, 4);
  CHECK_THROWS_AS(parse_chunk_key(key.substr(0, key.size() - 1), nullptr), StoreError);
  CHECK_THROWS_AS(parse_chunk_key(key + "x", nullptr), StoreError);
  CHECK_THROWS_AS(parse_chunk_key("", nullptr), StoreError);
  std::string family0 = key;
  family0[4] = 0;
  CHECK_THROWS_WITH(parse_chunk_key(family0, nullptr), "fact key of unknown family 0");
  std::string family14 = key;
  family14[4] = 14;  // one past the last family, events (13)
  CHECK_THROWS_WITH(parse_chunk_key(family14, nullptr), "fact key of unknown family 14");
  std::string family255 = key;
  family255[4] = static_cast<char>(255);
  CHECK_THROWS_WITH(parse_chunk_key(family255, nullptr), "fact key of unknown family 255");
  std::string family13 = key;
  family13[4] = 13;
  CHECK(parse_chunk_key(family13, nullptr).family == Family::events);
}

TEST_CASE("facts: keys of one run, family and symbol sort by interval, node, port, then chunk") {
  auto r = store_test::rng(22);
  struct Entry {
    SeriesKey s;
    uint32_t chunk;
  };
  std::vector<Entry> entries;
  for (int i = 0; i < 3000; ++i) {
    SeriesKey s = random_series(r);
    s.run = 5;
    s.family = Family::bars;
    s.symbol = 9;
    entries.push_back({s, static_cast<uint32_t>(r() % 3 ? r() % 5 : r())});
  }
  auto numeric = [](const Entry& a) { return std::make_tuple(a.s.interval, a.s.node, a.s.port, a.chunk); };
  std::vector<Entry> by_number = entries, by_key = entries;
  std::stable_sort(by_number.begin(), by_number.end(), [&](const Entry& a, const Entry& b) { return numeric(a) < numeric(b); });
  std::stable_sort(by_key.begin(), by_key.end(),
                   [](const Entry& a, const Entry& b) { return chunk_key(a.s, a.chunk) < chunk_key(b.s, b.chunk); });
  for (size_t i = 0; i < entries.size(); ++i) {
    INFO(i);
    REQUIRE(numeric(by_key[i]) == numeric(by_number[i]));
  }
}

TEST_CASE("facts: a prefix scan returns exactly the run's, family's or symbol's keys") {
  store_test::TempDir tmp("prefix_scan");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  auto r = store_test::rng(23);
  std::set<std::string> written;
  std::map<std::string, SeriesKey> series_of;
  rocksdb::WriteBatch batch;
  for (int i = 0; i < 4000; ++i) {
    SeriesKey s = random_series(r);
    // Runs, families and symbols next to each other (and at the ends) so that neighbours exist.
    s.run = static_cast<uint32_t>(r() % 4 == 0 ? 0xffffffffu : r() % 3);
    s.symbol = static_cast<uint32_t>(r() % 4 == 0 ? 0xffffffffu : r() % 3);
    const auto chunk = static_cast<uint32_t>(r() % 3);
    const std::string key = chunk_key(s, chunk);
    written.insert(key);
    series_of[key] = s;
    batch.Put(store->cf(Cf::facts), key, "v");
  }
  store->write(batch, false, "test");
  auto scan = [&](const std::string& prefix) {
    std::set<std::string> got;
    auto it = store->iterate(Cf::facts);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) got.insert(it->key().ToString());
    return got;
  };
  for (uint32_t run : {0u, 1u, 2u, 0xffffffffu}) {
    std::set<std::string> want_run;
    for (const auto& [k, s] : series_of)
      if (s.run == run) want_run.insert(k);
    CHECK(scan(run_prefix(run)) == want_run);
    for (Family f : all_families()) {
      std::set<std::string> want_family;
      for (const auto& [k, s] : series_of)
        if (s.run == run && s.family == f) want_family.insert(k);
      CHECK(scan(family_prefix(run, f)) == want_family);
      for (uint32_t symbol : {0u, 1u, 2u, 0xffffffffu}) {
        std::set<std::string> want;
        for (const auto& [k, s] : series_of)
          if (s.run == run && s.family == f && s.symbol == symbol) want.insert(k);
        INFO("run " << run << " family " << f << " symbol " << symbol);
        CHECK(scan(symbol_prefix(run, f, symbol)) == want);
      }
    }
  }
}

TEST_CASE("facts: a Row carries an event's header and payload both ways") {
  qf_event e{};
  e.kind = QF_KIND_FILL;
  e.flags = 0x8001;
  e.symbol = 42;
  e.time_ns = -123456789;
  e.seq = 0xfedcba9876543210ull;
  e.origin = 7;
  e.stream = 99;
  e.u.fill.order_id = 5;
  e.u.fill.quantity = 2.5;
  e.u.fill.price = 101.25;
  e.u.fill.commission = 0.1;
  e.u.fill.side = QF_SIDE_SELL;
  e.u.fill.tag = 3;
  e.u.fill.fill_id = 77;
  const Row row = Row::of(e);
  CHECK(row.time == -123456789);
  CHECK(row.seq == 0xfedcba9876543210ull);
  CHECK(row.origin == 7);
  CHECK(row.flags == 0x8001);
  CHECK(row.payload[0] == 5);
  const qf_event back = row.event(QF_KIND_FILL, 42);
  CHECK(back.kind == QF_KIND_FILL);
  CHECK(back.symbol == 42);
  CHECK(back.flags == 0x8001);
  CHECK(back.time_ns == -123456789);
  CHECK(back.seq == e.seq);
  CHECK(back.origin == 7);
  CHECK(back.stream == 0);  // host use only, not a fact
  CHECK(back.u.fill.order_id == 5);
  CHECK(back.u.fill.quantity == 2.5);
  CHECK(back.u.fill.price == 101.25);
  CHECK(back.u.fill.commission == 0.1);
  CHECK(back.u.fill.side == QF_SIDE_SELL);
  CHECK(back.u.fill.tag == 3);
  CHECK(back.u.fill.fill_id == 77);
}

TEST_CASE("facts: chunks decode to the rows encoded, for every family and size") {
  auto r = store_test::rng(24);
  for (Family f : all_families())
    for (size_t count : kCounts)
      for (bool increasing : {true, false})
        for (int trial = 0; trial < 3; ++trial) {
          INFO(f << " count " << count << (increasing ? " increasing" : " arbitrary") << " trial " << trial);
          const std::vector<Row> rows = random_rows(r, f, count, increasing);
          const std::string bytes = encode_chunk(f, rows.data(), rows.size());
          std::vector<Row> back;
          decode_chunk(bytes, f, back);
          store_test::require_same(back, rows);
          // The reusing overload gives the same bytes, whatever `out` held before.
          std::string reused(5000, 'x');
          encode_chunk(f, rows.data(), rows.size(), reused);
          CHECK(reused == bytes);
        }
}

TEST_CASE("facts: decoding appends to the rows already there") {
  auto r = store_test::rng(25);
  const std::vector<Row> first = random_rows(r, Family::ticks, 300, true);
  const std::vector<Row> second = random_rows(r, Family::ticks, 5, false);
  std::vector<Row> out;
  decode_chunk(encode_chunk(Family::ticks, first.data(), first.size()), Family::ticks, out);
  decode_chunk(encode_chunk(Family::ticks, second.data(), second.size()), Family::ticks, out);
  std::vector<Row> want = first;
  want.insert(want.end(), second.begin(), second.end());
  store_test::require_same(out, want);
}

TEST_CASE("facts: payload words a family does not keep come back as zero") {
  auto r = store_test::rng(26);
  for (Family f : all_families()) {
    INFO(f);
    std::vector<Row> rows = random_rows(r, f, 140, true);
    std::vector<Row> want = rows;
    for (Row& row : rows)
      for (uint32_t w = payload_words(f); w < 6; ++w) row.payload[w] = r() | 1;
    std::vector<Row> back;
    decode_chunk(encode_chunk(f, rows.data(), rows.size()), f, back);
    store_test::require_same(back, want);
  }
}

TEST_CASE("facts: constant columns and steady clocks cost one byte per block") {
  // From the layout: an 8-byte header, then per column the first two words (8 bytes each) and
  // one width byte per block of up to 128 further rows; a block whose words do not change
  // (steady steps for time and seq, equal values otherwise) has width 0 and no word bytes.
  // Bars and equity predict some words from others: their constant rows are consistent ones
  // (a bar whose prices are equal, equity = cash + position value).
  for (Family f : all_families()) {
    const size_t columns = 3 + payload_words(f);
    for (size_t count : kCounts) {
      INFO(f << " count " << count);
      std::vector<Row> rows(count);
      for (size_t i = 0; i < count; ++i) {
        rows[i].time = 1'600'000'000'000'000'000 + static_cast<int64_t>(i) * 60'000'000'000;
        rows[i].seq = 1000 + 3 * i;
        rows[i].origin = 4;
        rows[i].flags = 1;
        for (uint32_t w = 0; w < payload_words(f); ++w)
          rows[i].payload[w] = 0x4059000000000000ull + (f == Family::bars ? 0 : w);
        if (f == Family::equity)
          rows[i].payload[1] = std::bit_cast<uint64_t>(std::bit_cast<double>(rows[i].payload[0]) +
                                                       std::bit_cast<double>(rows[i].payload[2]));
      }
      const size_t first_words = std::min<size_t>(count, 2);
      const size_t blocks = count > 2 ? (count - 2 + 127) / 128 : 0;
      const std::string bytes = encode_chunk(f, rows.data(), rows.size());
      CHECK(bytes.size() == 8 + columns * (8 * first_words + blocks));
      std::vector<Row> back;
      decode_chunk(bytes, f, back);
      store_test::require_same(back, rows);
    }
  }
  // A constant time (all rows at once) is a steady clock too.
  std::vector<Row> same(kChunkRows);
  for (Row& row : same) row.time = -7;
  const std::string bytes = encode_chunk(Family::values, same.data(), same.size());
  CHECK(bytes.size() == 8 + 4 * (16 + 16));
  std::vector<Row> back;
  decode_chunk(bytes, Family::values, back);
  store_test::require_same(back, same);
}

TEST_CASE("facts: a truncated chunk is refused at every length") {
  auto r = store_test::rng(27);
  for (Family f : {Family::values, Family::bars, Family::alerts}) {
    for (size_t count : {size_t{1}, size_t{2}, size_t{3}, size_t{135}}) {
      const std::vector<Row> rows = random_rows(r, f, count, true);
      const std::string bytes = encode_chunk(f, rows.data(), rows.size());
      for (size_t len = 0; len < bytes.size(); ++len) {
        INFO(f << " count " << count << " cut to " << len << " of " << bytes.size());
        std::vector<Row> out;
        CHECK_THROWS_AS(decode_chunk(std::string_view(bytes).substr(0, len), f, out), StoreError);
      }
    }
  }
  // The empty chunk is the header alone; less is refused.
  const std::string empty = encode_chunk(Family::ticks, nullptr, 0);
  CHECK(empty.size() == 8);
  std::vector<Row> out;
  decode_chunk(empty, Family::ticks, out);
  CHECK(out.empty());
  CHECK_THROWS_AS(decode_chunk(empty.substr(0, 7), Family::ticks, out), StoreError);
}

TEST_CASE("facts: a chunk of another version, family, row count or with extra bytes is refused") {
  auto r = store_test::rng(28);
  const std::vector<Row> rows = random_rows(r, Family::quotes, 200, true);
  const std::string good = encode_chunk(Family::quotes, rows.data(), rows.size());
  std::vector<Row> out;
  REQUIRE_NOTHROW(decode_chunk(good, Family::quotes, out));

  std::string version = good;
  version[0] = static_cast<char>(version[0] ^ 0x01);
  CHECK_THROWS_WITH(decode_chunk(version, Family::quotes, out), Catch::Contains("unknown layout") && Catch::Contains("quotes"));

  // Read as another family, even one with the same number of words (ticks also keep 4).
  for (Family f : all_families()) {
    if (f == Family::quotes) continue;
    INFO(f);
    CHECK_THROWS_AS(decode_chunk(good, f, out), StoreError);
  }

  std::string words = good;
  words[2] = static_cast<char>(words[2] + 1);
  CHECK_THROWS_AS(decode_chunk(words, Family::quotes, out), StoreError);

  std::string too_many = good;
  const uint32_t n = kChunkRows + 1;
  std::memcpy(too_many.data() + 4, &n, 4);
  CHECK_THROWS_WITH(decode_chunk(too_many, Family::quotes, out), Catch::Contains("too many rows"));

  std::string fewer = good;
  const uint32_t n199 = 199;
  std::memcpy(fewer.data() + 4, &n199, 4);
  CHECK_THROWS_AS(decode_chunk(fewer, Family::quotes, out), StoreError);

  CHECK_THROWS_WITH(decode_chunk(good + '\0', Family::quotes, out), Catch::Contains("trailing bytes"));

  // The first width byte (after the time column's two words) claiming 9 bytes per word.
  std::string width = good;
  width[8 + 16] = 9;
  CHECK_THROWS_AS(decode_chunk(width, Family::quotes, out), StoreError);
}
