// indicator.linreg_slope against hand-worked values and a textbook implementation (the OLS slope
// of each window by the two-pass formula sum (x - xbar)(y - ybar) / sum (x - xbar)^2, in long
// double) on real daily and minute closes and on BTC-level prices with tiny moves.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness slope(int n) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.linreg_slope", {{"period", std::to_string(n)}},
                     {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

std::vector<qf_event> bars_of(const std::vector<double>& closes) {
  std::vector<qf_event> out;
  for (double c : closes) out.push_back(bar(c, static_cast<int64_t>(out.size() + 1)));
  return out;
}

// The OLS slope the textbook way, two passes over every window in long double.
Rows textbook(const std::vector<double>& y, size_t n) {
  Rows out(y.size());
  const long double xbar = (static_cast<long double>(n) - 1) / 2;
  for (size_t i = n - 1; i < y.size(); ++i) {
    long double ybar = 0;
    for (size_t j = 0; j < n; ++j) ybar += y[i + 1 - n + j];
    ybar /= static_cast<long double>(n);
    long double sxy = 0, sxx = 0;
    for (size_t j = 0; j < n; ++j) {
      const long double dx = static_cast<long double>(j) - xbar;
      sxy += dx * (y[i + 1 - n + j] - ybar);
      sxx += dx * dx;
    }
    out[i] = std::vector<double>{static_cast<double>(sxy / sxx)};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.linreg_slope: hand-worked values, first value at index n-1") {
  // n = 3 (x = 0 1 2, xbar 1, Sxx 2) on 1 2 4 4 1, slope = sum (x - 1) * y / 2:
  //   index 2: (-1 + 4)/2 = 1.5;  index 3: (-2 + 4)/2 = 1;  index 4: (-4 + 1)/2 = -1.5
  // then a straight line 5 8 11 14 (slope 3) and a flat run (slope 0).
  auto h = slope(3);
  const Rows rows = run(h, bars_of({1, 2, 4, 4, 1, 5, 8, 11, 14, 7, 7, 7}), 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == 1.5);
  CHECK((*rows[3])[0] == 1.0);
  CHECK((*rows[4])[0] == -1.5);
  CHECK((*rows[7])[0] == 3.0);
  CHECK((*rows[8])[0] == 3.0);
  CHECK((*rows[11])[0] == 0.0);
}

TEST_CASE("indicator.linreg_slope: the default period is 14, first value at index 13, value input") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.linreg_slope", {}, {{"in", "values"}});
  std::vector<qf_event> values;
  std::vector<double> y;
  for (int i = 0; i < 30; ++i) {
    y.push_back(100 + 0.5 * i + (i % 3 == 0 ? 1 : 0));
    values.push_back(qflow::make_value(1, y.back(), i + 1));
  }
  const Rows rows = run(h, values, 1);
  CHECK(first_output(rows) == 13);
  check_rows(rows, textbook(y, 14), 1e-12);
}

TEST_CASE("indicator.linreg_slope: non-finite inputs are skipped") {
  auto h = slope(3);
  const Rows rows = run(h, bars_of({1, NAN, 2, INFINITY, 4, 4}), 1);
  CHECK(!rows[1]);
  CHECK(!rows[3]);
  CHECK((*rows[4])[0] == 1.5);
  CHECK((*rows[5])[0] == 1.0);
}

TEST_CASE("indicator.linreg_slope: recovers once a value that overflows the sums has left the window") {
  std::vector<double> y;
  for (int i = 0; i < 100; ++i) y.push_back(100 + (i * 37 % 11));
  // Two values whose sum (and offsets' sum) is beyond the double range.
  y[30] = 1.7e308;
  y[31] = 1.7e308;
  auto h = slope(5);
  const Rows rows = run(h, bars_of(y), 1);
  const Rows want = textbook(y, 5);
  for (size_t i = 36; i < y.size(); ++i) CHECK((*rows[i])[0] == Approx((*want[i])[0]).epsilon(1e-12).margin(1e-12));
}

TEST_CASE("indicator.linreg_slope: equals the textbook two-pass slope on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 14u, 100u}) {
      INFO(file << " n=" << n);
      auto h = slope(static_cast<int>(n));
      check_rows(run(h, bars, 1), textbook(closes(bars), n), 1e-9);
    }
  }
}

TEST_CASE("indicator.linreg_slope: BTC-level prices with tiny moves, relative to the slope itself") {
  // 70,000 + 0.001 per bar plus noise of +-0.0005: slopes near 0.001, so sum x*y (about 10^7 for
  // n = 14) minus sum x * sum y / n would cancel ten of sixteen digits. 300,000 bars, so the
  // price also drifts far from where the sums were last recomputed.
  std::vector<double> y;
  uint64_t state = 17;
  for (int i = 0; i < 300'000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    y.push_back(70000 + 0.001 * i + 0.0005 * (static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5));
  }
  for (int n : {14, 200}) {
    INFO("n=" << n);
    auto h = slope(n);
    check_relative(run(h, bars_of(y), 1), textbook(y, static_cast<size_t>(n)), 0, 1e-9);
  }
}

TEST_CASE("indicator.linreg_slope: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut inside the warm-up, around the first values (events 26 and 27), at a recomputation
  // boundary and between two.
  check_streaming([] { return new NodeHarness(slope(14)); }, both, {5, 25, 26, 27, 28, 56, 301, 999});

  auto mixed = slope(14);
  const Rows rows = run(mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(closes(btc), 14), 1e-9);
  check_rows(e, textbook(closes(eth), 14), 1e-9);
}
