// indicator.willr against hand-worked values and a textbook implementation (the highest high
// and lowest low found by a loop over the whole window at every bar) on real daily and minute data.
#include "indicator_stream_checks.hpp"

#include <algorithm>
#include <array>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness willr(int n) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.willr", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

qf_event bar(double high, double low, double close, int64_t t, uint32_t symbol = 1) {
  return qflow::make_bar(symbol, t, close, high, low, close, 1, 60);
}

std::vector<qf_event> bars_of(const std::vector<std::array<double, 3>>& hlc) {
  std::vector<qf_event> out;
  for (const auto& [h, l, c] : hlc) out.push_back(bar(h, l, c, static_cast<int64_t>(out.size() + 1)));
  return out;
}

// Williams %R the textbook way: at every bar from n-1 on, scan the last n bars for HH and LL.
Rows textbook(const std::vector<qf_event>& bars, size_t n) {
  Rows out(bars.size());
  for (size_t i = n - 1; i < bars.size(); ++i) {
    double hh = -INFINITY, ll = INFINITY;
    for (size_t j = i + 1 - n; j <= i; ++j) {
      hh = std::max(hh, bars[j].u.bar.high);
      ll = std::min(ll, bars[j].u.bar.low);
    }
    out[i] = std::vector<double>{hh == ll ? 0.0 : -100.0 * (hh - bars[i].u.bar.close) / (hh - ll)};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.willr: hand-worked values, first value at index n-1") {
  // n = 3 on (high, low, close):
  //   (10,8,9) (12,9,11) (11,7,8) (13,10,13) (12,11,11)
  //   index 2: HH 12, LL 7, close 8:   -100*(12-8)/5  = -80
  //   index 3: HH 13, LL 7, close 13:  -100*0/6       = 0 (the close at the high)
  //   index 4: HH 13, LL 7, close 11:  -100*(13-11)/6 = -100/3
  auto h = willr(3);
  const Rows rows = run(h, bars_of({{10, 8, 9}, {12, 9, 11}, {11, 7, 8}, {13, 10, 13}, {12, 11, 11}}), 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == Approx(-80.0).epsilon(1e-15));
  CHECK((*rows[3])[0] == 0.0);
  CHECK((*rows[4])[0] == Approx(-100.0 / 3.0).epsilon(1e-15));
}

TEST_CASE("indicator.willr: the default period is 14, first value at index 13") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.willr", {}, {{"in", "bars"}});
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 40);
  const Rows rows = run(h, bars, 1);
  CHECK(first_output(rows) == 13);
  check_rows(rows, textbook(bars, 14), 1e-12);
}

TEST_CASE("indicator.willr: a window with no range is 0, non-finite bars are skipped") {
  auto h = willr(3);
  // Flat bars: HH = LL, so %R is 0 by TA-Lib's convention (not a division by zero).
  const Rows flat = run(h, bars_of({{5, 5, 5}, {5, 5, 5}, {5, 5, 5}, {5, 5, 5}}), 1);
  CHECK(first_output(flat) == 2);
  CHECK((*flat[2])[0] == 0.0);
  CHECK((*flat[3])[0] == 0.0);
  // A NaN high changes nothing: the next bars see the window of the finite ones.
  auto g = willr(3);
  const Rows rows = run(g, bars_of({{10, 8, 9}, {12, 9, 11}, {NAN, 7, 8}, {11, 7, 8}, {INFINITY, 1, 1}, {13, 10, 13}}), 1);
  CHECK(!rows[2]);
  CHECK((*rows[3])[0] == Approx(-80.0).epsilon(1e-15));
  CHECK(!rows[4]);
  CHECK((*rows[5])[0] == 0.0);
}

TEST_CASE("indicator.willr: equals the textbook loop on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 14u, 60u}) {
      INFO(file << " n=" << n);
      auto h = willr(static_cast<int>(n));
      check_rows(run(h, bars, 1), textbook(bars, n), 1e-9);
    }
  }
}

TEST_CASE("indicator.willr: BTC-level prices with cent moves match the textbook to 1e-12") {
  // Highs and lows a few cents apart around 70,000: the differences are of nearby doubles.
  std::vector<qf_event> bars;
  uint64_t state = 7;
  double mid = 70000;
  for (int i = 0; i < 5000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    mid += 0.01 * (static_cast<double>(state >> 61) - 3.5);
    bars.push_back(bar(mid + 0.02, mid - 0.01, mid + 0.01 * static_cast<double>((state >> 40) % 3) - 0.01, i + 1));
  }
  auto h = willr(14);
  check_rows(run(h, bars, 1), textbook(bars, 14), 1e-12);
}

TEST_CASE("indicator.willr: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut inside the warm-up, around the first values (BTC's is event 26, ETH's 27), and later.
  check_streaming([] { return new NodeHarness(willr(14)); }, both, {5, 25, 26, 27, 28, 301, 999});

  auto mixed = willr(14);
  const Rows rows = run(mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(btc, 14), 1e-12);
  check_rows(e, textbook(eth, 14), 1e-12);
}

// Windows of more than 32 bars keep monotonic deques instead of rescanning a ring.
TEST_CASE("indicator.willr over more than 32 bars (deques): equals the textbook, continues after restore") {
  const auto bars = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 30'000);
  for (int n : {32, 33, 300}) {
    INFO("n=" << n);
    auto h = willr(n);
    check_rows(run(h, bars, 1), textbook(bars, static_cast<size_t>(n)), 1e-12);
  }
  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 600),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 600));
  check_streaming([] { return new NodeHarness(willr(100)); }, both, {5, 197, 198, 199, 700});
}
