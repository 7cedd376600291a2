// indicator.atr against hand-worked values and a textbook implementation (true ranges as a
// plain array, the seed a plain mean, then Wilder's recurrence) on real daily and minute data.
#include "indicator_stream_checks.hpp"

#include <limits>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* make_atr(int n) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.atr", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

struct Hlc {
  double high, low, close;
};

std::vector<qf_event> bars_of(const std::vector<Hlc>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i)
    b.push_back(qflow::make_bar(1, static_cast<int64_t>(i + 1), x[i].close, x[i].high, x[i].low, x[i].close, 1, 60));
  return b;
}

// Wilder's ATR: tr_i = max(h - l, |h - c_{i-1}|, |l - c_{i-1}|) for i >= 1; the mean of
// tr_1..tr_n at index n, then atr_i = ((n - 1) atr_{i-1} + tr_i) / n.
Rows textbook(const std::vector<qf_event>& bars, size_t n) {
  Rows out(bars.size());
  std::vector<double> tr(bars.size(), 0.0);
  for (size_t i = 1; i < bars.size(); ++i) {
    const qf_bar& b = bars[i].u.bar;
    const double pc = bars[i - 1].u.bar.close;
    tr[i] = std::max(b.high - b.low, std::max(std::abs(b.high - pc), std::abs(b.low - pc)));
  }
  if (bars.size() <= n) return out;
  double atr = 0;
  for (size_t i = 1; i <= n; ++i) atr += tr[i];
  atr /= static_cast<double>(n);
  out[n] = std::vector<double>{atr};
  for (size_t i = n + 1; i < bars.size(); ++i) {
    atr = ((static_cast<double>(n) - 1) * atr + tr[i]) / static_cast<double>(n);
    out[i] = std::vector<double>{atr};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.atr: hand-worked values, first value at bar n") {
  // n = 3, bars (high, low, close):
  //   0 (10, 8, 9)        no true range
  //   1 (11, 9, 10)       max(2, |11-9|, |9-9|)    = 2
  //   2 (12, 10, 11)      max(2, |12-10|, |10-10|) = 2
  //   3 (11, 7, 8)        max(4, |11-11|, |7-11|)  = 4   ATR = (2+2+4)/3 = 8/3   <- first
  //   4 (9, 8.5, 9)       max(0.5, |9-8|, |8.5-8|) = 1   ATR = (2 * 8/3 + 1)/3 = 19/9
  //   5 (15, 14, 14.5)    max(1, |15-9|, |14-9|)   = 6   ATR = (2 * 19/9 + 6)/3 = 92/27
  std::unique_ptr<NodeHarness> h(make_atr(3));
  const Rows rows = run(*h, bars_of({{10, 8, 9}, {11, 9, 10}, {12, 10, 11}, {11, 7, 8}, {9, 8.5, 9}, {15, 14, 14.5}}), 1);
  CHECK(first_output(rows) == 3);
  CHECK((*rows[3])[0] == Approx(8.0 / 3).epsilon(1e-15));
  CHECK((*rows[4])[0] == Approx(19.0 / 9).epsilon(1e-15));
  CHECK((*rows[5])[0] == Approx(92.0 / 27).epsilon(1e-15));

  // The default period is TA-Lib's 14; a flat series has an ATR of exactly 0.
  NodeHarness d(plugin_path("qflow_indicators"), "indicator.atr", {}, {{"in", "bars"}});
  const Rows flat = run(d, bars_of(std::vector<Hlc>(20, Hlc{5, 5, 5})), 1);
  CHECK(first_output(flat) == 14);
  CHECK((*flat[19])[0] == 0.0);
}

TEST_CASE("indicator.atr: period 1 is the true range itself") {
  std::unique_ptr<NodeHarness> h(make_atr(1));
  const std::vector<Hlc> x{{10, 8, 9}, {11, 9, 10}, {12, 10, 11}, {11, 7, 8}, {9, 8.5, 9}, {15, 14, 14.5}};
  const Rows rows = run(*h, bars_of(x), 1);
  CHECK(first_output(rows) == 1);
  const double tr[] = {2, 2, 4, 1, 6};
  for (size_t i = 1; i < x.size(); ++i) CHECK((*rows[i])[0] == tr[i - 1]);
}

TEST_CASE("indicator.atr: equals the textbook loop on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {1u, 2u, 14u, 50u}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_atr(static_cast<int>(n)));
      const Rows rows = run(*h, bars, 1);
      CHECK(first_output(rows) == n);
      check_relative(rows, textbook(bars, n), 0, 1e-9);
    }
  }
}

TEST_CASE("indicator.atr: a bar with a NaN high makes the average NaN, and no crash") {
  std::unique_ptr<NodeHarness> h(make_atr(2));
  const Rows rows = run(*h, bars_of({{10, 8, 9}, {11, 9, 10}, {12, 10, 11}, {std::numeric_limits<double>::quiet_NaN(), 7, 8}, {9, 8.5, 9}}), 1);
  CHECK((*rows[2])[0] == 2.0);
  CHECK(std::isnan((*rows[3])[0]));
  CHECK(std::isnan((*rows[4])[0]));
}

TEST_CASE("indicator.atr: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return make_atr(14); }, both, {1, 5, 28, 29, 301, 999});

  std::unique_ptr<NodeHarness> mixed(make_atr(14));
  const Rows rows = run(*mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_relative(b, textbook(btc, 14), 0, 1e-12);
  check_relative(e, textbook(eth, 14), 0, 1e-12);
}
