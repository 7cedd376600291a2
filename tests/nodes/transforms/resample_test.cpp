// transform.resample against hand-worked tick cases and against an independent grouping (a plain
// loop keying every input by floor((t - origin) / interval) in a std::map) of real BTC minute
// bars and real trade ticks.
#include "transform_test_support.hpp"

#include <algorithm>
#include <map>

using namespace transform_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness resample(const std::string& interval, std::map<std::string, std::string> params = {}) {
  params["interval"] = interval;
  return NodeHarness(plugin_path("qflow_transforms"), "transform.resample", params, {{"in", "source"}});
}

// The bars of `events` (ticks or bars of one symbol) grouped the textbook way: a map from
// floor((t - origin) / interval) to open first, high max, low min, close last, volume summed;
// with `flat`, the keys missing between two present ones get the previous close, volume 0.
std::vector<BarRow> grouped(const std::vector<qf_event>& events, int64_t interval, int64_t origin, bool flat = false) {
  struct Agg {
    double o, h, l, c, v;
  };
  std::map<int64_t, Agg> groups;
  uint32_t symbol = 0;
  for (const qf_event& e : events) {
    symbol = e.symbol;
    const bool is_tick = e.kind == QF_KIND_TICK;
    const double o = is_tick ? e.u.tick.price : e.u.bar.open, h = is_tick ? e.u.tick.price : e.u.bar.high,
                 l = is_tick ? e.u.tick.price : e.u.bar.low, c = is_tick ? e.u.tick.price : e.u.bar.close,
                 v = is_tick ? e.u.tick.size : e.u.bar.volume;
    const int64_t d = e.time_ns - origin;
    const int64_t key = d >= 0 ? d / interval : -((-d + interval - 1) / interval);
    auto [it, fresh] = groups.try_emplace(key, Agg{o, h, l, c, v});
    if (fresh) continue;
    Agg& a = it->second;
    a.h = std::max(a.h, h);
    a.l = std::min(a.l, l);
    a.c = c;
    a.v += v;
  }
  std::vector<BarRow> rows;
  for (auto it = groups.begin(); it != groups.end(); ++it) {
    const Agg& a = it->second;
    rows.emplace_back(symbol, origin + it->first * interval, a.o, a.h, a.l, a.c, a.v, interval);
    const auto next = std::next(it);
    if (flat && next != groups.end())
      for (int64_t k = it->first + 1; k < next->first; ++k)
        rows.emplace_back(symbol, origin + k * interval, a.c, a.c, a.c, a.c, 0.0, interval);
  }
  return rows;
}

std::vector<qf_event> of_symbol(const std::vector<qf_event>& events, uint32_t symbol) {
  std::vector<qf_event> out;
  for (const qf_event& e : events)
    if (e.symbol == symbol) out.push_back(e);
  return out;
}

std::vector<BarRow> of_symbol(const std::vector<BarRow>& rows, uint32_t symbol) {
  std::vector<BarRow> out;
  for (const BarRow& r : rows)
    if (std::get<0>(r) == symbol) out.push_back(r);
  return out;
}

constexpr int64_t T0 = *qflow::parse_time("2024-10-01T00:00:00Z");

}  // namespace

TEST_CASE("transform.resample: ticks into 1m bars, exact OHLCV labelled at the open, a tick on a boundary opens the next bar") {
  auto h = resample("1m");
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  // 00:00:05 100 x1, 00:00:20 102 x2, 00:00:40 99 x0.5, 00:00:59.999999999 101 x1
  //   -> bar 00:00 = O 100 H 102 L 99 C 101 V 4.5, emitted when the 00:01:00 tick arrives.
  CHECK(h.push(0, tick(s, T0 + 5 * kSecond, 100, 1)).empty());
  CHECK(h.push(0, tick(s, T0 + 20 * kSecond, 102, 2)).empty());
  CHECK(h.push(0, tick(s, T0 + 40 * kSecond, 99, 0.5)).empty());
  CHECK(h.push(0, tick(s, T0 + kMinute - 1, 101, 1)).empty());
  // 00:01:00 103 x3 sits exactly on the boundary: it closes 00:00 and opens 00:01.
  CHECK(rows_of(h.push(0, tick(s, T0 + kMinute, 103, 3))) ==
        std::vector<BarRow>{{s, T0, 100, 102, 99, 101, 4.5, kMinute}});
  // 00:01:30 104 x1 and 102.5 x2 at the same instant (not late): bar 00:01 = O 103 H 104 L 102.5 C 102.5 V 6.
  CHECK(h.push(0, tick(s, T0 + 90 * kSecond, 104, 1)).empty());
  CHECK(h.push(0, tick(s, T0 + 90 * kSecond, 102.5, 2)).empty());
  CHECK(rows_of(h.push(0, tick(s, T0 + 2 * kMinute + 1, 105, 1))) ==
        std::vector<BarRow>{{s, T0 + kMinute, 103, 104, 102.5, 102.5, 6, kMinute}});
  // The stream ends inside 00:02: stop emits that partial bar.
  CHECK(rows_of(h.stop()) == std::vector<BarRow>{{s, T0 + 2 * kMinute, 105, 105, 105, 105, 1, kMinute}});
  CHECK(h.logs().empty());
}

TEST_CASE("transform.resample: minutes without trades are skipped, or flat at the previous close") {
  // Ticks at 00:00:10 100 x1, 00:00:50 101 x2, then nothing until 00:03:05 105 x1.
  for (const std::string empty : {"skip", "flat"}) {
    INFO("empty: " << empty);
    auto h = resample("1m", {{"empty", empty}});
    const uint32_t s = h.intern("BTCUSDT");
    h.start();
    CHECK(h.push(0, tick(s, T0 + 10 * kSecond, 100, 1)).empty());
    CHECK(h.push(0, tick(s, T0 + 50 * kSecond, 101, 2)).empty());
    std::vector<BarRow> want{{s, T0, 100, 101, 100, 101, 3, kMinute}};
    if (empty == "flat") {  // 00:01 and 00:02 carry the close 101 with no volume, before 00:03
      want.emplace_back(s, T0 + kMinute, 101, 101, 101, 101, 0, kMinute);
      want.emplace_back(s, T0 + 2 * kMinute, 101, 101, 101, 101, 0, kMinute);
    }
    CHECK(rows_of(h.push(0, tick(s, T0 + 3 * kMinute + 5 * kSecond, 105, 1))) == want);
    CHECK(rows_of(h.stop()) == std::vector<BarRow>{{s, T0 + 3 * kMinute, 105, 105, 105, 105, 1, kMinute}});
  }
}

TEST_CASE("transform.resample: late ticks are dropped and counted, or fail naming the time and the bucket") {
  SECTION("drop") {
    auto h = resample("1m", {{"late", "drop"}});
    const uint32_t s = h.intern("BTCUSDT");
    h.start();
    CHECK(h.push(0, tick(s, T0 + 10 * kSecond, 100, 1)).empty());
    CHECK(rows_of(h.push(0, tick(s, T0 + 70 * kSecond, 101, 1))) ==
          std::vector<BarRow>{{s, T0, 100, 100, 100, 100, 1, kMinute}});
    CHECK(h.push(0, tick(s, T0 + 30 * kSecond, 99, 5)).empty());  // its bar 00:00 is gone
    CHECK(h.push(0, tick(s, T0 + 65 * kSecond, 98, 5)).empty());  // before 00:01:10, same bar
    CHECK(h.push(0, tick(s, T0 + 80 * kSecond, 102, 2)).empty());
    // Bar 00:01 holds 00:01:10 and 00:01:20 only: O 101 H 102 L 101 C 102 V 3.
    CHECK(rows_of(h.stop()) == std::vector<BarRow>{{s, T0 + kMinute, 101, 102, 101, 102, 3, kMinute}});
    CHECK(logged(h, "2024-10-01T00:00:30Z"));  // the first one, when it happened
    CHECK(logged(h, "dropped 2 late or out-of-order inputs"));
  }
  SECTION("fail") {
    auto h = resample("1m");  // the default
    const uint32_t s = h.intern("BTCUSDT");
    h.start();
    h.push(0, tick(s, T0 + 10 * kSecond, 100, 1));
    h.push(0, tick(s, T0 + 70 * kSecond, 101, 1));
    REQUIRE_THROWS_WITH(h.push(0, tick(s, T0 + 30 * kSecond, 99, 5)),
                        Catch::Contains("BTCUSDT tick at 2024-10-01T00:00:30Z (bucket 2024-10-01T00:00:00Z)") &&
                            Catch::Contains("after input up to 2024-10-01T00:01:10Z (bucket 2024-10-01T00:01:00Z)"));
    REQUIRE_THROWS_WITH(h.push(0, tick(s, T0 + 65 * kSecond, 98, 5)),
                        Catch::Contains("at 2024-10-01T00:01:05Z (bucket 2024-10-01T00:01:00Z)"));
  }
}

TEST_CASE("transform.resample: BTC minutes into 5m, 15m, 1h, 4h and 1d bars equal an independent grouping") {
  const auto minutes = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1);
  for (const auto& [name, interval] : {std::pair{"5m", 5 * kMinute}, std::pair{"15m", 15 * kMinute},
                                       std::pair{"1h", kHour}, std::pair{"4h", 4 * kHour}, std::pair{"1d", kDay}}) {
    INFO("interval " << name);
    auto h = resample(name);
    REQUIRE(h.intern("BTCUSDT") == 1);
    h.start();
    // A bar leaves on the cycle of its last minute (the file has no gaps), never earlier or later.
    std::vector<BarRow> got;
    for (const qf_event& m : minutes) {
      for (const BarRow& r : rows_of(h.push(0, m))) {
        CHECK(std::get<1>(r) + interval == m.time_ns + kMinute);
        got.push_back(r);
      }
    }
    const auto at_stop = rows_of(h.stop());
    // The file ends at 20:19, the end of a 5m bar (nothing left) but inside the others.
    CHECK(at_stop.size() == (interval == 5 * kMinute ? 0u : 1u));
    got.insert(got.end(), at_stop.begin(), at_stop.end());
    check_bars(got, grouped(minutes, interval, 0));
  }
}

TEST_CASE("transform.resample: 1d bars from a session start at 08:00 UTC, 4h bars on a 09:30 grid") {
  const auto minutes = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1);
  auto daily = resample("1d", {{"origin", "8h"}});
  daily.intern("BTCUSDT");
  const auto got = run(daily, minutes);
  check_bars(got, grouped(minutes, kDay, 8 * kHour));
  REQUIRE(!got.empty());
  CHECK(qflow::format_time(std::get<1>(got.front())) == "2024-09-30T08:00:00Z");  // the file starts at 03:00
  for (const BarRow& r : got) CHECK(qflow::format_time(std::get<1>(r)).substr(10) == "T08:00:00Z");

  // An origin beyond the interval is taken modulo it: 32h is 8h for daily bars.
  auto wrapped = resample("1d", {{"origin", "32h"}});
  wrapped.intern("BTCUSDT");
  CHECK(run(wrapped, minutes) == got);

  auto four = resample("4h", {{"origin", "570m"}});
  four.intern("BTCUSDT");
  const auto got4 = run(four, minutes);
  check_bars(got4, grouped(minutes, 4 * kHour, 570 * kMinute));
  CHECK(qflow::format_time(std::get<1>(got4.front())) == "2024-10-01T01:30:00Z");
}

TEST_CASE("transform.resample: real trade ticks into 1m and 1s bars, gaps skipped or flat") {
  const auto ticks = load_ticks(1);
  for (const auto& [name, interval] : {std::pair{"1m", kMinute}, std::pair{"1s", kSecond}}) {
    for (const bool flat : {false, true}) {
      INFO(name << " flat " << flat);
      auto h = resample(name, {{"empty", flat ? "flat" : "skip"}});
      h.intern("ES");
      const auto want = grouped(ticks, interval, 0, flat);
      check_bars(run(h, ticks), want);
      if (interval == kMinute) CHECK(want.size() == 4);  // 20:57 .. 21:00
    }
  }
}

TEST_CASE("transform.resample: two symbols interleaved are resampled each on its own") {
  const auto btc = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1, 3000);
  const auto eth = load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 3000);
  std::vector<qf_event> both;
  for (size_t i = 0; i < btc.size(); ++i) both.push_back(btc[i]), both.push_back(eth[i]);
  both.erase(both.begin() + 1);  // ETH's 03:00 minute: its first bar holds 14 minutes, BTC's 15
  auto mixed = resample("15m");
  REQUIRE(mixed.intern("BTCUSDT") == 1);
  REQUIRE(mixed.intern("ETHUSDT") == 2);
  const auto rows = run(mixed, both);
  for (uint32_t s : {1u, 2u}) {
    INFO("symbol " << s);
    auto alone = resample("15m");
    alone.intern("BTCUSDT");
    alone.intern("ETHUSDT");
    const auto separate = run(alone, of_symbol(both, s));
    CHECK(of_symbol(rows, s) == separate);
    check_bars(separate, grouped(of_symbol(both, s), 15 * kMinute, 0));
  }
}

TEST_CASE("transform.resample: save and restore continue identically, flat gaps and late counts included") {
  auto minutes = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1, 3000);
  minutes.erase(minutes.begin() + 300, minutes.begin() + 500);  // 200 minutes without trades
  minutes.insert(minutes.begin() + 150, minutes[100]);          // one late bar
  const std::map<std::string, std::string> params{{"empty", "flat"}, {"late", "drop"}};
  auto whole = resample("1h", params);
  whole.intern("BTCUSDT");
  const auto want = run(whole, minutes);
  CHECK(logged(whole, "dropped 1 late"));
  CHECK(std::count_if(want.begin(), want.end(), [](const BarRow& r) { return std::get<6>(r) == 0.0; }) >= 2);

  for (size_t cut : {size_t{0}, size_t{59}, size_t{60}, size_t{149}, size_t{151}, size_t{400}, minutes.size()}) {
    INFO("cut at " << cut);
    auto first = resample("1h", params);
    first.intern("BTCUSDT");
    first.start();
    std::vector<BarRow> got;
    for (size_t i = 0; i < cut; ++i)
      for (const BarRow& r : rows_of(first.push(0, minutes[i]))) got.push_back(r);
    auto second = resample("1h", params);
    second.intern("BTCUSDT");
    second.restore_state(first.save_state());
    const auto rest = run(second, std::vector<qf_event>(minutes.begin() + static_cast<std::ptrdiff_t>(cut), minutes.end()));
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == want);
    CHECK(logged(second, "dropped 1 late"));
  }
}

TEST_CASE("transform.resample: bad parameters and input that cannot tile the bars are refused") {
  REQUIRE_THROWS_WITH(resample("0"), Catch::Contains("interval must be a positive duration"));

  auto h = resample("5m");
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  REQUIRE_THROWS_WITH(h.push(0, qflow::make_bar(s, T0, 1, 1, 1, 1, 1, 7 * kMinute)),
                      Catch::Contains("a 7m bar, which cannot make 5m bars") &&
                          Catch::Contains("the input interval must divide the target interval"));
  REQUIRE_THROWS_WITH(h.push(0, qflow::make_bar(s, T0 + 270 * kSecond, 1, 1, 1, 1, 1, kMinute)),
                      Catch::Contains("crosses the bucket boundary at 2024-10-01T00:05:00Z"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, std::nan(""), 1)), Catch::Contains("non-finite"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, 1, INFINITY)), Catch::Contains("non-finite"));
  // None of them left a trace: a good bar still starts the series.
  CHECK(h.push(0, qflow::make_bar(s, T0 + 4 * kMinute, 1, 2, 0.5, 1.5, 3, kMinute)).size() == 1);
}

TEST_CASE("transform.resample: the state names its symbols, so a host that numbered them differently resumes it") {
  // BTC and ETH minutes interleaved, ETH stopping after 150: after the later cuts ETH's restored
  // 02:00 bucket sees no more input and must still leave at stop, under ETH's new id.
  const auto btc = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1, 400);
  const auto eth = load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 150);
  std::vector<qf_event> both;
  for (size_t i = 0; i < btc.size(); ++i) {
    both.push_back(btc[i]);
    if (i < eth.size()) both.push_back(eth[i]);
  }
  const std::vector<std::string> names{"BTCUSDT", "ETHUSDT"};
  const auto make = [] { return resample("1h", {{"empty", "flat"}}); };
  auto whole = make();
  for (const auto& n : names) whole.intern(n);
  const auto want = by_name(whole, run(whole, both));
  REQUIRE(want.at("BTCUSDT").size() == 7);  // 03:00 .. 09:39
  REQUIRE(want.at("ETHUSDT").size() == 3);  // 03:00 .. 05:29
  for (size_t cut = 0; cut <= both.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(run_resumed(make, names, both, cut) == want);
  }
}
