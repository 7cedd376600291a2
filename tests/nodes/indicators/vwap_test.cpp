// indicator.vwap against hand-worked values and the textbook definition — for every bar, the
// sums of price*volume and volume over its whole session (or window) in long double — on the
// BTC minute bars with their real UTC timestamps (the set crosses 34 UTC midnights) and on
// ORCL daily bars.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

constexpr int64_t kMinute = 60'000'000'000, kDay = 86'400'000'000'000;

NodeHarness* vwap(const std::map<std::string, std::string>& params) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.vwap", params, {{"in", "bars"}});
}

double typical(const qf_event& b) { return (b.u.bar.high + b.u.bar.low + b.u.bar.close) / 3.0; }

int64_t day_of(int64_t t) { return t >= 0 ? t / kDay : -((-t + kDay - 1) / kDay); }

// Anchored: bar j is in bar i's session when day_of(t - offset) agrees, walking back from i.
Rows textbook_session(const std::vector<qf_event>& bars, int64_t offset) {
  Rows out(bars.size());
  for (size_t i = 0; i < bars.size(); ++i) {
    const int64_t session = day_of(bars[i].time_ns - offset);
    long double pv = 0, v = 0;
    for (size_t j = i + 1; j-- > 0 && day_of(bars[j].time_ns - offset) == session;) {
      pv += static_cast<long double>(typical(bars[j])) * bars[j].u.bar.volume;
      v += bars[j].u.bar.volume;
    }
    out[i] = std::vector<double>{v == 0 ? typical(bars[i]) : static_cast<double>(pv / v)};
  }
  return out;
}

Rows textbook_window(const std::vector<qf_event>& bars, size_t n) {
  Rows out(bars.size());
  for (size_t i = n - 1; i < bars.size(); ++i) {
    long double pv = 0, v = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) {
      pv += static_cast<long double>(typical(bars[j])) * bars[j].u.bar.volume;
      v += bars[j].u.bar.volume;
    }
    out[i] = std::vector<double>{v == 0 ? typical(bars[i]) : static_cast<double>(pv / v)};
  }
  return out;
}

qf_event hlcv(int64_t t, double h, double l, double c, double v) { return qflow::make_bar(1, t, c, h, l, c, v, kMinute); }

}  // namespace

TEST_CASE("indicator.vwap: hand-worked values, typical price and close") {
  // Bars (H, L, C, V): (12, 8, 10, 1) typical 10; (15, 9, 15, 3) typical 13.
  //   typical: 10 at index 0, then (10*1 + 13*3)/4 = 49/4 = 12.25.
  //   close:   10 at index 0, then (10*1 + 15*3)/4 = 55/4 = 13.75.
  const std::vector<qf_event> bars{hlcv(kMinute, 12, 8, 10, 1), hlcv(2 * kMinute, 15, 9, 15, 3)};
  std::unique_ptr<NodeHarness> t(vwap({})), c(vwap({{"price", "close"}}));
  const Rows rt = run(*t, bars, 1), rc = run(*c, bars, 1);
  CHECK(first_output(rt) == 0);
  CHECK((*rt[0])[0] == 10.0);
  CHECK((*rt[1])[0] == 12.25);
  CHECK((*rc[1])[0] == 13.75);

  // Rolling over 2 bars, a third bar (20, 10, 18, 1) typical 16: first value at index 1,
  // then (13*3 + 16*1)/4 = 55/4.
  std::unique_ptr<NodeHarness> w(vwap({{"window", "2"}}));
  const Rows rw = run(*w, {bars[0], bars[1], hlcv(3 * kMinute, 20, 10, 18, 1)}, 1);
  CHECK(first_output(rw) == 1);
  CHECK((*rw[1])[0] == 12.25);
  CHECK((*rw[2])[0] == 13.75);
}

TEST_CASE("indicator.vwap: sessions restart at UTC midnight, or at session_start") {
  // 23:59 and 00:00 the next day are different sessions: the second bar's VWAP is its own price.
  const int64_t midnight = 20'000 * kDay;
  const std::vector<qf_event> bars{hlcv(midnight - kMinute, 10, 10, 10, 5), hlcv(midnight, 20, 20, 20, 1),
                                   hlcv(midnight + kMinute, 30, 30, 30, 1)};
  std::unique_ptr<NodeHarness> utc(vwap({}));
  Rows r = run(*utc, bars, 1);
  CHECK((*r[1])[0] == 20.0);
  CHECK((*r[2])[0] == 25.0);
  // Sessions from 00:01 (session_start 1m): 23:59 and 00:00 are one session, 00:01 a new one.
  std::unique_ptr<NodeHarness> shifted(vwap({{"session_start", "1m"}}));
  r = run(*shifted, bars, 1);
  CHECK((*r[1])[0] == Approx((10.0 * 5 + 20.0) / 6).epsilon(1e-15));
  CHECK((*r[2])[0] == 30.0);
}

TEST_CASE("indicator.vwap: zero volume gives the bar's price, NaN spoils the window only while inside") {
  // No volume yet in the session: the current bar's typical price; then a weighted bar.
  std::unique_ptr<NodeHarness> h(vwap({}));
  Rows r = run(*h, {hlcv(kMinute, 12, 8, 10, 0), hlcv(2 * kMinute, 13, 9, 11, 0), hlcv(3 * kMinute, 14, 10, 12, 2),
                    hlcv(4 * kMinute, 20, 20, 20, 0)}, 1);
  CHECK((*r[0])[0] == 10.0);
  CHECK((*r[1])[0] == 11.0);
  CHECK((*r[2])[0] == 12.0);
  CHECK((*r[3])[0] == 12.0);  // a zero-volume bar moves nothing

  // Rolling window of 2 with a NaN volume at index 1: NaN at 1 and 2, exact from 3 on.
  std::unique_ptr<NodeHarness> w(vwap({{"window", "2"}}));
  r = run(*w, {hlcv(kMinute, 10, 10, 10, 1), hlcv(2 * kMinute, 10, 10, 10, NAN), hlcv(3 * kMinute, 12, 12, 12, 1),
               hlcv(4 * kMinute, 14, 14, 14, 3), hlcv(5 * kMinute, 14, 14, 14, 0), hlcv(6 * kMinute, 15, 15, 15, 0)}, 1);
  CHECK(std::isnan((*r[1])[0]));
  CHECK(std::isnan((*r[2])[0]));
  CHECK((*r[3])[0] == Approx((12.0 + 14 * 3) / 4).epsilon(1e-15));
  CHECK((*r[4])[0] == 14.0);
  CHECK((*r[5])[0] == 15.0);  // no volume in the window: the bar's price
}

TEST_CASE("indicator.vwap: equals the textbook sums on BTC minute bars across UTC midnights") {
  const auto bars = load_minute_bars_timed(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 50'000);
  size_t midnights = 0;
  for (size_t i = 1; i < bars.size(); ++i) midnights += day_of(bars[i].time_ns) != day_of(bars[i - 1].time_ns);
  CHECK(midnights == 34);
  for (const std::string start : {"0s", "810m"}) {
    INFO("session_start " << start);
    std::unique_ptr<NodeHarness> h(vwap({{"session_start", start}}));
    const Rows got = run(*h, bars, 1);
    check_rows(got, textbook_session(bars, *qflow::parse_duration(start)), 1e-12);
    // The first bar of each session is its own typical price.
    for (size_t i = 1; i < bars.size(); ++i)
      if (day_of(bars[i].time_ns - *qflow::parse_duration(start)) != day_of(bars[i - 1].time_ns - *qflow::parse_duration(start)) &&
          bars[i].u.bar.volume > 0)
        CHECK((*got[i])[0] == Approx(typical(bars[i])).epsilon(1e-15));
  }
  for (size_t n : {1u, 20u, 390u}) {
    INFO("window " << n);
    std::unique_ptr<NodeHarness> h(vwap({{"window", std::to_string(n)}}));
    check_rows(run(*h, bars, 1), textbook_window(bars, n), 1e-12);
  }
}

TEST_CASE("indicator.vwap: ORCL daily bars, each its own session, and over 20 days") {
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"));
  std::unique_ptr<NodeHarness> anchored(vwap({})), rolling(vwap({{"window", "20"}}));
  const Rows a = run(*anchored, bars, 1);
  for (size_t i = 0; i < bars.size(); ++i) CHECK((*a[i])[0] == Approx(typical(bars[i])).epsilon(1e-15));
  check_rows(run(*rolling, bars, 1), textbook_window(bars, 20), 1e-12);
}

TEST_CASE("indicator.vwap: ticks weigh their price by their size") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.vwap", {}, {{"in", "ticks"}});
  qf_event t = qflow::make_event(qflow::Kind::tick, 1, kMinute);
  t.u.tick.price = 100;
  t.u.tick.size = 1;
  CHECK(h.push(0, t).at(0).ev.u.value.value == 100.0);
  t.u.tick.price = 104;
  t.u.tick.size = 3;
  CHECK(h.push(0, t).at(0).ev.u.value.value == 103.0);
}

TEST_CASE("indicator.vwap: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_minute_bars_timed(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 1'500);
  const auto eth = load_minute_bars_timed(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 1'500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return vwap({}); }, both, {1, 2'521, 2'900});  // BTC's second session opens at event 2520
  check_streaming([] { return vwap({{"window", "30"}}); }, both, {11, 1'001});
}
