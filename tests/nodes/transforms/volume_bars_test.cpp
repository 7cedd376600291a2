// transform.volume_bars against hand-worked cases (threshold crossed, hit exactly, hit by decimal
// sizes, partial bar at stop) and against an independent grouping (a plain loop summing each
// symbol's volume in long double and closing the bar once it reaches the threshold) of real BTC
// and ETH minute bars, real trade ticks and ticks derived from the minutes.
#include "transform_test_support.hpp"

#include <algorithm>
#include <cmath>

using namespace transform_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness volume_bars(const std::string& volume) {
  return NodeHarness(plugin_path("qflow_transforms"), "transform.volume_bars", {{"volume", volume}}, {{"in", "source"}});
}

// The volume bars of `events` (ticks or bars of one symbol) the textbook way: inputs join the
// open bar (open first, high max, low min, close last, volume summed in long double) and the input
// that brings the volume to `threshold` (less 1e-12 relative, the node's stated tolerance) closes
// it; labelled with the first input's time, interval up to the end of the last input.
std::vector<BarRow> grouped(const std::vector<qf_event>& events, double threshold) {
  std::vector<BarRow> rows;
  bool open = false;
  double o = 0, h = 0, l = 0, c = 0;
  long double v = 0;
  int64_t start = 0, end = 0;
  uint32_t symbol = 0;
  for (const qf_event& e : events) {
    const bool is_tick = e.kind == QF_KIND_TICK;
    const double eo = is_tick ? e.u.tick.price : e.u.bar.open, eh = is_tick ? e.u.tick.price : e.u.bar.high,
                 el = is_tick ? e.u.tick.price : e.u.bar.low, ec = is_tick ? e.u.tick.price : e.u.bar.close,
                 ev = is_tick ? e.u.tick.size : e.u.bar.volume;
    const int64_t e_end = is_tick ? e.time_ns : e.time_ns + e.u.bar.interval_ns;
    if (!open) open = true, symbol = e.symbol, start = e.time_ns, o = eo, h = eh, l = el, v = 0;
    h = std::max(h, eh);
    l = std::min(l, el);
    c = ec;
    v += ev;
    end = e_end;
    if (v >= static_cast<long double>(threshold) * (1 - 1e-12L)) {
      rows.emplace_back(symbol, start, o, h, l, c, static_cast<double>(v), end - start);
      open = false;
    }
  }
  if (open) rows.emplace_back(symbol, start, o, h, l, c, static_cast<double>(v), end - start);
  return rows;
}

constexpr int64_t T0 = *qflow::parse_time("2024-10-01T00:00:00Z");

}  // namespace

TEST_CASE("transform.volume_bars: the tick crossing the threshold closes the bar whole, an exact hit too, the rest at stop") {
  auto h = volume_bars("10");
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  // 100 x4 (4), 101 x3 (7), 99 x5 (12 >= 10): the crossing tick goes whole into the bar,
  // O 100 H 101 L 99 C 99 V 12 at 00:00:00 spanning 20 s, out on that tick; the next starts empty.
  CHECK(h.push(0, tick(s, T0, 100, 4)).empty());
  CHECK(h.push(0, tick(s, T0 + 10 * kSecond, 101, 3)).empty());
  CHECK(rows_of(h.push(0, tick(s, T0 + 20 * kSecond, 99, 5))) ==
        std::vector<BarRow>{{s, T0, 100, 101, 99, 99, 12, 20 * kSecond}});
  // 102 x10 hits 10 exactly on its own: a one-tick bar spanning 0.
  CHECK(rows_of(h.push(0, tick(s, T0 + 30 * kSecond, 102, 10))) ==
        std::vector<BarRow>{{s, T0 + 30 * kSecond, 102, 102, 102, 102, 10, 0}});
  // 103 x2, 104 x1, then the stream ends: partial O 103 H 104 L 103 C 104 V 3 spanning 10 s.
  CHECK(h.push(0, tick(s, T0 + 40 * kSecond, 103, 2)).empty());
  CHECK(h.push(0, tick(s, T0 + 50 * kSecond, 104, 1)).empty());
  CHECK(rows_of(h.stop()) == std::vector<BarRow>{{s, T0 + 40 * kSecond, 103, 104, 103, 104, 3, 10 * kSecond}});
}

TEST_CASE("transform.volume_bars: decimal sizes adding up to the threshold close the bar despite binary rounding") {
  auto h = volume_bars("1");
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  // 0.7 + 0.1 + 0.1 + 0.1 = 1: summed plainly in doubles 0.9999999999999999, which would wait for
  // the next trade; the compensated sum gets 1.
  CHECK(0.7 + 0.1 + 0.1 + 0.1 < 1.0);
  CHECK(h.push(0, tick(s, T0, 10, 0.7)).empty());
  CHECK(h.push(0, tick(s, T0 + 1, 11, 0.1)).empty());
  CHECK(h.push(0, tick(s, T0 + 2, 12, 0.1)).empty());
  auto out = rows_of(h.push(0, tick(s, T0 + 3, 13, 0.1)));
  REQUIRE(out.size() == 1);
  CHECK(std::get<6>(out[0]) == 1.0);
  // 29 x 0.03 + 1.13 = 2 with the threshold 2: even the exact sum of these doubles is below 2
  // (1.9999999999999998 rounded), which the 1e-12 tolerance absorbs.
  auto two = volume_bars("2");
  two.intern("BTCUSDT");
  two.start();
  long double exact = 1.13L;
  for (int i = 0; i < 29; ++i) {
    exact += 0.03;
    CHECK(two.push(0, tick(s, T0 + i, 10, 0.03)).empty());
  }
  CHECK(exact < 2.0L);
  out = rows_of(two.push(0, tick(s, T0 + 29, 10, 1.13)));
  REQUIRE(out.size() == 1);
  CHECK(std::get<6>(out[0]) == Approx(2.0).epsilon(1e-15));
  // Short of the threshold by one part in a billion is short: no bar until the stream ends.
  CHECK(two.push(0, tick(s, T0 + 30, 10, 1)).empty());
  CHECK(two.push(0, tick(s, T0 + 31, 10, 0.999999999)).empty());
  CHECK(rows_of(two.stop()).size() == 1);
}

TEST_CASE("transform.volume_bars: a bar input counts whole, and the bar spans up to the end of its last minute") {
  auto h = volume_bars("5");
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  // 00:00 O 10 H 12 L 9 C 11 V 2; 00:01 O 11 H 13 L 10 C 12 V 4 (6 >= 5):
  // O 10 H 13 L 9 C 12 V 6 at 00:00, interval 2m (to the end of 00:01).
  CHECK(h.push(0, qflow::make_bar(s, T0, 10, 12, 9, 11, 2, kMinute)).empty());
  CHECK(rows_of(h.push(0, qflow::make_bar(s, T0 + kMinute, 11, 13, 10, 12, 4, kMinute))) ==
        std::vector<BarRow>{{s, T0, 10, 13, 9, 12, 6, 2 * kMinute}});
  // A tick then a minute bar: the bar ends a minute after its open.
  CHECK(h.push(0, tick(s, T0 + 2 * kMinute + 30 * kSecond, 12.5, 1)).empty());
  CHECK(rows_of(h.push(0, qflow::make_bar(s, T0 + 3 * kMinute, 12, 12, 11, 11.5, 7, kMinute))) ==
        std::vector<BarRow>{{s, T0 + 150 * kSecond, 12.5, 12.5, 11, 11.5, 8, 90 * kSecond}});
  CHECK(h.stop().empty());
}

TEST_CASE("transform.volume_bars: 50,000 BTC minutes equal an independent grouping") {
  const auto minutes = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1);
  auto h = volume_bars("500");
  h.intern("BTCUSDT");
  const auto got = run(h, minutes);
  const auto want = grouped(minutes, 500);
  CHECK(want.size() > 1000);
  check_bars(got, want);
  for (size_t i = 0; i + 1 < got.size(); ++i) {
    CHECK(std::get<6>(got[i]) >= 500 * (1 - 1e-12));
    CHECK(std::get<7>(got[i]) % kMinute == 0);
  }
}

TEST_CASE("transform.volume_bars: real trade ticks and ticks of BTC minutes equal an independent grouping") {
  const auto es = load_ticks(1);
  for (const double threshold : {1.0, 100.0, 500.0, 5000.0}) {
    INFO("volume " << threshold);
    auto h = volume_bars(std::to_string(threshold));
    h.intern("ES");
    check_bars(run(h, es), grouped(es, threshold));
  }
  const auto btc = ticks_of_minutes(load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1));
  auto h = volume_bars("250");
  h.intern("BTCUSDT");
  check_bars(run(h, btc), grouped(btc, 250));
}

TEST_CASE("transform.volume_bars: BTC and ETH minutes interleaved equal separate runs") {
  const auto btc = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1, 5000);
  const auto eth = load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 5000);
  std::vector<qf_event> both;
  for (size_t i = 0; i < btc.size(); ++i) both.push_back(btc[i]), both.push_back(eth[i]);
  auto mixed = volume_bars("1000");
  REQUIRE(mixed.intern("BTCUSDT") == 1);
  REQUIRE(mixed.intern("ETHUSDT") == 2);
  const auto rows = run(mixed, both);
  for (uint32_t s : {1u, 2u}) {
    INFO("symbol " << s);
    auto alone = volume_bars("1000");
    alone.intern("BTCUSDT");
    alone.intern("ETHUSDT");
    const auto separate = run(alone, events_of(both, s));
    CHECK(bars_of(rows, s) == separate);
    check_bars(separate, grouped(events_of(both, s), 1000));
  }
}

TEST_CASE("transform.volume_bars: save and restore at every cut continue identically, symbols renumbered") {
  // Real ES trades and ETH minute bars interleaved; ETH stops after 40 minutes, so after the later
  // cuts its restored partial bar sees no more input and must still leave at stop.
  const auto es = load_ticks(1);
  const auto eth = load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 40);
  std::vector<qf_event> both;
  for (size_t i = 0; i < es.size(); ++i) {
    both.push_back(es[i]);
    if (i < eth.size()) both.push_back(eth[i]);
  }
  const std::vector<std::string> names{"ES", "ETHUSDT"};
  const auto make = [] { return volume_bars("150"); };
  auto whole = make();
  for (const auto& n : names) whole.intern(n);
  const auto want = by_name(whole, run(whole, both));
  REQUIRE(want.at("ES").size() >= 10);
  REQUIRE(want.at("ETHUSDT").size() >= 10);
  for (size_t cut = 0; cut <= both.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(run_resumed(make, names, both, cut) == want);
  }
}

TEST_CASE("transform.volume_bars: bad parameters and bad input are refused, leaving no trace") {
  REQUIRE_THROWS_WITH(volume_bars("0"), Catch::Contains("volume must be a positive number"));
  REQUIRE_THROWS_WITH(volume_bars("-3"), Catch::Contains("volume must be a positive number"));
  REQUIRE_THROWS_WITH(volume_bars("inf"), Catch::Contains("volume must be a positive number"));
  auto h = volume_bars("2");
  const uint32_t s = h.intern("BTCUSDT");
  h.start();
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, std::nan(""), 1)), Catch::Contains("BTCUSDT: tick at 2024-10-01T00:00:00Z has a non-finite"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, 1, INFINITY)), Catch::Contains("non-finite"));
  REQUIRE_THROWS_WITH(h.push(0, tick(s, T0, 1, -0.5)), Catch::Contains("negative size"));
  REQUIRE_THROWS_WITH(h.push(0, qflow::make_bar(s, T0, 1, std::nan(""), 1, 1, 1, kMinute)), Catch::Contains("non-finite"));
  REQUIRE_THROWS_WITH(h.push(0, qflow::make_bar(s, T0, 1, 1, 1, 1, -1, kMinute)), Catch::Contains("negative volume"));
  REQUIRE_THROWS_WITH(h.push(0, qflow::make_value(s, 1.0, T0)), Catch::Contains("value at 2024-10-01T00:00:00Z cannot make bars"));
  // Zero sizes and negative prices are accepted: the bar below holds only the good inputs.
  CHECK(h.push(0, tick(s, T0 + kSecond, -3, 0)).empty());
  CHECK(rows_of(h.push(0, tick(s, T0 + 2 * kSecond, 4, 2))) ==
        std::vector<BarRow>{{s, T0 + kSecond, -3, 4, -3, 4, 2, kSecond}});
}
