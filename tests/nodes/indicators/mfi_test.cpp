// indicator.mfi against hand-worked values and a textbook implementation (positive and negative
// money flow summed by a loop over the whole window at every bar, in long double) on real daily
// and minute data.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness mfi(int n) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.mfi", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

// A bar whose high, low and close are all `price`, so its typical price is `price`.
qf_event bar(double price, double volume, int64_t t, uint32_t symbol = 1) {
  return qflow::make_bar(symbol, t, price, price, price, price, volume, 60);
}

// MFI the textbook way: at every bar i from n on, for each of the n bars j = i-n+1..i compare
// its typical price with bar j-1's and add tp*volume to the positive or the negative flow;
// 100 * positive / (positive + negative), 0 when that total is below 1.
Rows textbook(const std::vector<qf_event>& bars, size_t n) {
  std::vector<double> tp;
  for (const qf_event& b : bars) tp.push_back((b.u.bar.high + b.u.bar.low + b.u.bar.close) / 3.0);
  Rows out(bars.size());
  for (size_t i = n; i < bars.size(); ++i) {
    long double pos = 0, neg = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) {
      const long double flow = static_cast<long double>(tp[j] * bars[j].u.bar.volume);
      if (tp[j] > tp[j - 1]) pos += flow;
      if (tp[j] < tp[j - 1]) neg += flow;
    }
    out[i] = std::vector<double>{pos + neg < 1 ? 0.0 : static_cast<double>(100 * pos / (pos + neg))};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.mfi: hand-worked values, first value at index n") {
  // n = 3, typical prices 10 11 10 10 12 11 with volumes 1 2 3 4 5 6; flows by bar:
  //   1: up 11*2 = 22;  2: down 10*3 = 30;  3: equal, neither;  4: up 12*5 = 60;  5: down 11*6 = 66
  //   index 3 (bars 1-3): pos 22, neg 30 -> 100*22/52 = 550/13
  //   index 4 (bars 2-4): pos 60, neg 30 -> 100*60/90 = 200/3
  //   index 5 (bars 3-5): pos 60, neg 66 -> 100*60/126 = 1000/21
  auto h = mfi(3);
  const Rows rows = run(h, {bar(10, 1, 1), bar(11, 2, 2), bar(10, 3, 3), bar(10, 4, 4), bar(12, 5, 5), bar(11, 6, 6)}, 1);
  CHECK(first_output(rows) == 3);
  CHECK((*rows[3])[0] == Approx(550.0 / 13.0).epsilon(1e-14));
  CHECK((*rows[4])[0] == Approx(200.0 / 3.0).epsilon(1e-14));
  CHECK((*rows[5])[0] == Approx(1000.0 / 21.0).epsilon(1e-14));
}

TEST_CASE("indicator.mfi: the default period is 14, first value at index 14") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.mfi", {}, {{"in", "bars"}});
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 40);
  const Rows rows = run(h, bars, 1);
  CHECK(first_output(rows) == 14);
  check_rows(rows, textbook(bars, 14), 1e-12);
}

TEST_CASE("indicator.mfi: 0 when the total flow is below 1, non-finite bars skipped") {
  // Unchanged prices: no flow at all -> 0.
  auto flat = mfi(2);
  const Rows f = run(flat, {bar(10, 5, 1), bar(10, 5, 2), bar(10, 5, 3)}, 1);
  CHECK((*f[2])[0] == 0.0);
  // Rising prices with tiny volume: all flow positive but 10*0.01 + 11*0.01 = 0.21 < 1 -> 0
  // (TA-Lib's rule), then one bar with enough volume (12*1 = 12, total 12.11) -> 100.
  auto tiny = mfi(2);
  const Rows t = run(tiny, {bar(9, 0.01, 1), bar(10, 0.01, 2), bar(11, 0.01, 3), bar(12, 1, 4)}, 1);
  CHECK((*t[2])[0] == 0.0);
  CHECK((*t[3])[0] == 100.0);
  // Zero volume throughout: 0. A NaN volume or infinite high changes nothing (the last finite
  // typical price stays the comparison): 10 -> 11 up 22, 11 -> 9 down 27 -> 100*22/49.
  auto zero = mfi(2);
  const Rows z = run(zero, {bar(1, 0, 1), bar(2, 0, 2), bar(3, 0, 3)}, 1);
  CHECK((*z[2])[0] == 0.0);
  auto skip = mfi(2);
  const Rows s = run(skip, {bar(10, 1, 1), bar(12, NAN, 2), bar(11, 2, 3), bar(INFINITY, 1, 4), bar(9, 3, 5)}, 1);
  CHECK(!s[1]);
  CHECK(!s[3]);
  CHECK((*s[4])[0] == Approx(2200.0 / 49.0).epsilon(1e-14));
}

TEST_CASE("indicator.mfi: recovers once a flow that overflows has left the window") {
  // A volume of 1e308 makes one flow infinite; the side's sum must not keep it.
  auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 200);
  bars[50].u.bar.volume = 1e308;
  auto h = mfi(14);
  const Rows rows = run(h, bars, 1);
  const Rows want = textbook(bars, 14);
  CHECK(!std::isfinite((*rows[55])[0]));
  for (size_t i = 50 + 14; i < bars.size(); ++i) CHECK((*rows[i])[0] == Approx((*want[i])[0]).epsilon(1e-12).margin(1e-12));
}

TEST_CASE("indicator.mfi: equals the textbook loops on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 14u, 60u}) {
      INFO(file << " n=" << n);
      auto h = mfi(static_cast<int>(n));
      check_rows(run(h, bars, 1), textbook(bars, n), 1e-9);
    }
  }
}

TEST_CASE("indicator.mfi: flows of very different sizes for 200,000 bars do not drift") {
  // Flows around 7e10 (BTC price times 1e6 volume) come and go among flows near 0.07; after a
  // large flow leaves, the window's sums must equal fresh sums, to 1e-12 of 100.
  std::vector<qf_event> bars;
  uint64_t state = 13;
  double price = 70000;
  for (int i = 0; i < 200'000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    price += 0.01 * (static_cast<double>(state >> 61) - 3.5);
    const double volume = (state >> 30) % 50 == 0 ? 1e6 : 1e-6 * static_cast<double>(1 + (state >> 40) % 1000);
    bars.push_back(bar(price, volume, i + 1));
  }
  auto h = mfi(14);
  check_rows(run(h, bars, 1), textbook(bars, 14), 1e-12);
}

TEST_CASE("indicator.mfi: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut inside the warm-up, around the first values (BTC's is event 28, ETH's 29), and later.
  check_streaming([] { return new NodeHarness(mfi(14)); }, both, {1, 5, 27, 28, 29, 30, 301, 999});

  auto mixed = mfi(14);
  const Rows rows = run(mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(btc, 14), 1e-12);
  check_rows(e, textbook(eth, 14), 1e-12);
}
