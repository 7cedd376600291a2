// transform.tick_bars against hand-worked cases and against an independent grouping (a plain loop
// cutting a symbol's ticks into runs of `count`) of real trade ticks and of ticks derived from real
// BTC and ETH minute bars.
#include "transform_test_support.hpp"

#include <algorithm>
#include <cmath>

using namespace transform_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness tick_bars(int64_t count) {
  return NodeHarness(plugin_path("qflow_transforms"), "transform.tick_bars", {{"count", std::to_string(count)}},
                     {{"in", "source"}});
}

// The tick bars of `ticks` (one symbol, in time order) the textbook way: ticks [k·count,
// (k+1)·count) make bar k, the last run possibly shorter; open first, high max, low min, close
// last, volume summed in long double; labelled with the first tick's time, interval = last - first.
std::vector<BarRow> grouped(const std::vector<qf_event>& ticks, size_t count) {
  std::vector<BarRow> rows;
  for (size_t start = 0; start < ticks.size(); start += count) {
    const size_t end = std::min(ticks.size(), start + count);
    double high = ticks[start].u.tick.price, low = high;
    long double volume = 0;
    for (size_t i = start; i < end; ++i) {
      high = std::max(high, ticks[i].u.tick.price);
      low = std::min(low, ticks[i].u.tick.price);
      volume += ticks[i].u.tick.size;
    }
    rows.emplace_back(ticks[start].symbol, ticks[start].time_ns, ticks[start].u.tick.price, high, low,
                      ticks[end - 1].u.tick.price, static_cast<double>(volume),
                      ticks[end - 1].time_ns - ticks[start].time_ns);
  }
  return rows;
}

constexpr int64_t T0 = *qflow::parse_time("2024-10-01T00:00:00Z");

}  // namespace

TEST_CASE("transform.tick_bars: three ticks a bar, labelled at the first, emitted on the third, the rest at stop") {
  auto h = tick_bars(3);
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  // 00:00:05 100 x1, 00:00:20 102 x2, 00:00:40 99 x0.5 -> O 100 H 102 L 99 C 99 V 3.5, at 00:00:05,
  // spanning 35 s, out on the third tick itself.
  CHECK(h.push(0, tick(s, T0 + 5 * kSecond, 100, 1)).empty());
  CHECK(h.push(0, tick(s, T0 + 20 * kSecond, 102, 2)).empty());
  CHECK(rows_of(h.push(0, tick(s, T0 + 40 * kSecond, 99, 0.5))) ==
        std::vector<BarRow>{{s, T0 + 5 * kSecond, 100, 102, 99, 99, 3.5, 35 * kSecond}});
  // Two ticks at one instant, 101 x1 and 103 x2, then the stream ends: a partial bar
  // O 101 H 103 L 101 C 103 V 3 spanning 0.
  CHECK(h.push(0, tick(s, T0 + kMinute, 101, 1)).empty());
  CHECK(h.push(0, tick(s, T0 + kMinute, 103, 2)).empty());
  CHECK(rows_of(h.stop()) == std::vector<BarRow>{{s, T0 + kMinute, 101, 103, 101, 103, 3, 0}});
}

TEST_CASE("transform.tick_bars: count 1 makes each tick a bar, and a stream ending on a full bar leaves nothing at stop") {
  auto h = tick_bars(1);
  const uint32_t s = h.intern("ES");
  h.start();
  CHECK(rows_of(h.push(0, tick(s, T0, 3067, 180))) == std::vector<BarRow>{{s, T0, 3067, 3067, 3067, 3067, 180, 0}});
  CHECK(rows_of(h.push(0, tick(s, T0 + kSecond, 3066, 0))) == std::vector<BarRow>{{s, T0 + kSecond, 3066, 3066, 3066, 3066, 0, 0}});
  CHECK(h.stop().empty());
}

TEST_CASE("transform.tick_bars: two symbols interleaved count their own ticks") {
  auto h = tick_bars(2);
  const uint32_t a = h.intern("AAA"), b = h.intern("BBB");
  h.start();
  // AAA 10, BBB 20, BBB 21 (BBB's bar: O 20 H 21 L 20 C 21 V 2 at +1s), AAA 9 (AAA's: O 10 H 10 L 9 C 9 V 4 at 0),
  // AAA 11 (left open), then stop.
  CHECK(h.push(0, tick(a, T0, 10, 1)).empty());
  CHECK(h.push(0, tick(b, T0 + kSecond, 20, 1)).empty());
  CHECK(rows_of(h.push(0, tick(b, T0 + 2 * kSecond, 21, 1))) ==
        std::vector<BarRow>{{b, T0 + kSecond, 20, 21, 20, 21, 2, kSecond}});
  CHECK(rows_of(h.push(0, tick(a, T0 + 3 * kSecond, 9, 3))) == std::vector<BarRow>{{a, T0, 10, 10, 9, 9, 4, 3 * kSecond}});
  CHECK(h.push(0, tick(a, T0 + 4 * kSecond, 11, 1)).empty());
  CHECK(rows_of(h.stop()) == std::vector<BarRow>{{a, T0 + 4 * kSecond, 11, 11, 11, 11, 1, 0}});
}

TEST_CASE("transform.tick_bars: real trade ticks equal an independent grouping, each bar out on its count-th tick") {
  const auto ticks = load_ticks(1);
  REQUIRE(ticks.size() == 135);
  for (const size_t count : {size_t{1}, size_t{2}, size_t{7}, size_t{10}, size_t{135}, size_t{200}}) {
    INFO("count " << count);
    auto h = tick_bars(static_cast<int64_t>(count));
    REQUIRE(h.intern("ES") == 1);
    h.start();
    std::vector<BarRow> got;
    for (size_t i = 0; i < ticks.size(); ++i) {
      const auto out = rows_of(h.push(0, ticks[i]));
      CHECK(out.size() == ((i + 1) % count == 0 ? 1u : 0u));
      got.insert(got.end(), out.begin(), out.end());
    }
    const auto at_stop = rows_of(h.stop());
    CHECK(at_stop.size() == (ticks.size() % count == 0 ? 0u : 1u));
    got.insert(got.end(), at_stop.begin(), at_stop.end());
    check_bars(got, grouped(ticks, count));
  }
}

TEST_CASE("transform.tick_bars: ticks of 50,000 BTC minutes equal an independent grouping") {
  const auto ticks = ticks_of_minutes(load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1));
  REQUIRE(ticks.size() == 200'000);
  for (const size_t count : {size_t{100}, size_t{333}}) {
    INFO("count " << count);
    auto h = tick_bars(static_cast<int64_t>(count));
    h.intern("BTCUSDT");
    const auto want = grouped(ticks, count);
    CHECK(want.size() == (ticks.size() + count - 1) / count);
    check_bars(run(h, ticks), want);
  }
}

TEST_CASE("transform.tick_bars: BTC and ETH ticks interleaved equal separate runs") {
  const auto btc = ticks_of_minutes(load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1, 2000));
  const auto eth = ticks_of_minutes(load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 2000));
  std::vector<qf_event> both;
  for (size_t i = 0; i < btc.size(); ++i) {
    both.push_back(btc[i]);
    if (i >= 3) both.push_back(eth[i]);  // ETH's first 3 ticks left out: its bars are shifted against BTC's
  }
  auto mixed = tick_bars(50);
  REQUIRE(mixed.intern("BTCUSDT") == 1);
  REQUIRE(mixed.intern("ETHUSDT") == 2);
  const auto rows = run(mixed, both);
  for (uint32_t s : {1u, 2u}) {
    INFO("symbol " << s);
    auto alone = tick_bars(50);
    alone.intern("BTCUSDT");
    alone.intern("ETHUSDT");
    const auto separate = run(alone, events_of(both, s));
    CHECK(bars_of(rows, s) == separate);
    check_bars(separate, grouped(events_of(both, s), 50));
  }
}

TEST_CASE("transform.tick_bars: save and restore at every cut continue identically, symbols renumbered") {
  // Real ES trades and ETH ticks interleaved; ETH stops a third of the way, so after the later
  // cuts its restored partial bar sees no more input and must still leave at stop.
  const auto es = load_ticks(1);
  const auto eth = ticks_of_minutes(load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 12));
  std::vector<qf_event> both;
  for (size_t i = 0; i < es.size(); ++i) {
    both.push_back(es[i]);
    if (i < eth.size()) both.push_back(eth[i]);
  }
  const std::vector<std::string> names{"ES", "ETHUSDT"};
  const auto make = [] { return tick_bars(7); };
  auto whole = make();
  for (const auto& n : names) whole.intern(n);
  const auto want = by_name(whole, run(whole, both));
  REQUIRE(want.at("ES").size() == 20);      // 135 = 19·7 + 2
  REQUIRE(want.at("ETHUSDT").size() == 7);  // 48 = 6·7 + 6
  for (size_t cut = 0; cut <= both.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(run_resumed(make, names, both, cut) == want);
  }
}

TEST_CASE("transform.tick_bars: bad parameters, bars and bad ticks are refused, leaving no trace") {
  REQUIRE_THROWS_WITH(tick_bars(0), Catch::Contains("count must be at least 1"));
  auto h = tick_bars(2);
  CHECK(qflow::Kinds(h.spec().inputs[0].kinds).contains(qflow::Kind::tick));
  CHECK_FALSE(qflow::Kinds(h.spec().inputs[0].kinds).contains(qflow::Kind::bar));  // refused at validation
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  REQUIRE_THROWS_WITH(h.push(0, qflow::make_bar(s, T0, 1, 1, 1, 1, 1, kMinute)),
                      Catch::Contains("BTCUSDT: bar at 2024-10-01T00:00:00Z cannot make tick bars"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, std::nan(""), 1)), Catch::Contains("non-finite"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, 1, INFINITY)), Catch::Contains("non-finite"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0 + kSecond, 100, -1)),
                      Catch::Contains("BTCUSDT: tick at 2024-10-01T00:00:01Z has a negative size"));
  // A negative price is a price (spreads, some futures): accepted, as resample accepts it.
  CHECK(h.push(0, tick(s, T0 + 2 * kSecond, -5, 1)).empty());
  CHECK(rows_of(h.push(0, tick(s, T0 + 3 * kSecond, 5, 1))) ==
        std::vector<BarRow>{{s, T0 + 2 * kSecond, -5, 5, -5, 5, 2, kSecond}});
}
