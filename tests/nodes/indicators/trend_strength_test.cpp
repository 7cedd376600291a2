// indicator.trend_strength against hand-worked values and a textbook implementation (each
// window's SMA summed afresh, the EMA and Wilder's ATR written as plain loops over the series,
// TA-Lib's seeding) on ORCL daily and BTC minute bars.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* trend(int fast, int slow, int period, const std::string& ma) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.trend_strength",
                         {{"fast", std::to_string(fast)}, {"slow", std::to_string(slow)}, {"period", std::to_string(period)}, {"ma", ma}},
                         {{"in", "bars"}});
}

qf_event hlc(int64_t t, double h, double l, double c) { return qflow::make_bar(1, t, c, h, l, c, 1, 60); }

// TA-Lib's moving average of period n at every index (NaN before n-1).
std::vector<double> textbook_ma(const std::vector<double>& x, size_t n, bool ema) {
  std::vector<double> out(x.size(), NAN);
  for (size_t i = n - 1; i < x.size(); ++i) {
    if (ema && i >= n) {
      const double k = 2.0 / (static_cast<double>(n) + 1);
      out[i] = (x[i] - out[i - 1]) * k + out[i - 1];
      continue;
    }
    long double s = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) s += x[j];
    out[i] = static_cast<double>(s / static_cast<long double>(n));
  }
  return out;
}

// Wilder's ATR (TA-Lib): TR from bar 1, the seed the mean TR of bars 1..n at bar n.
std::vector<double> textbook_atr(const std::vector<qf_event>& bars, size_t n) {
  std::vector<double> tr(bars.size(), NAN), atr(bars.size(), NAN);
  for (size_t i = 1; i < bars.size(); ++i) {
    const qf_bar& b = bars[i].u.bar;
    const double pc = bars[i - 1].u.bar.close;
    tr[i] = std::max({b.high - b.low, std::abs(b.high - pc), std::abs(b.low - pc)});
  }
  if (bars.size() <= n) return atr;
  long double seed = 0;
  for (size_t i = 1; i <= n; ++i) seed += tr[i];
  atr[n] = static_cast<double>(seed / static_cast<long double>(n));
  for (size_t i = n + 1; i < bars.size(); ++i) atr[i] = (atr[i - 1] * (static_cast<double>(n) - 1) + tr[i]) / static_cast<double>(n);
  return atr;
}

Rows textbook(const std::vector<qf_event>& bars, size_t fast, size_t slow, size_t n, bool ema) {
  const auto x = closes(bars);
  const auto f = textbook_ma(x, fast, ema), s = textbook_ma(x, slow, ema), atr = textbook_atr(bars, n);
  Rows out(bars.size());
  for (size_t i = std::max(slow - 1, n); i < bars.size(); ++i) out[i] = std::vector<double>{atr[i] == 0 ? 0.0 : std::abs(f[i] - s[i]) / atr[i]};
  return out;
}

}  // namespace

TEST_CASE("indicator.trend_strength: hand-worked values, first value when MAs and ATR are ready") {
  // fast 2, slow 3, ATR 2 on bars (H, L, C): (11, 9, 10) (12, 10, 11) (13, 11, 12) (16, 12, 15).
  //   TR: bar 1 max(2, |12-10|, |10-10|) = 2, bar 2 = 2, bar 3 max(4, |16-12|, |12-12|) = 4.
  //   ATR at bar 2: (2 + 2)/2 = 2; bar 3: (2*1 + 4)/2 = 3.
  //   SMA: bar 2 fast (11+12)/2 = 11.5, slow 11: 0.5/2 = 0.25 (index 2 = max(slow-1, n)).
  //        bar 3 fast 13.5, slow 38/3: (5/6)/3 = 5/18.
  //   EMA: fast k = 2/3 seeded 10.5 at bar 1: bar 2 11.5, bar 3 11.5 + (15-11.5)*2/3 = 83/6;
  //        slow k = 1/2 seeded 11 at bar 2: bar 3 13. So 0.25 at bar 2 and (83/6 - 13)/3 = 5/18.
  const std::vector<qf_event> bars{hlc(1, 11, 9, 10), hlc(2, 12, 10, 11), hlc(3, 13, 11, 12), hlc(4, 16, 12, 15)};
  for (const std::string ma : {"sma", "ema"}) {
    INFO(ma);
    std::unique_ptr<NodeHarness> h(trend(2, 3, 2, ma));
    const Rows rows = run(*h, bars, 1);
    CHECK(first_output(rows) == 2);
    CHECK((*rows[2])[0] == Approx(0.25).epsilon(1e-15));
    CHECK((*rows[3])[0] == Approx(5.0 / 18).epsilon(1e-14));
  }
}

TEST_CASE("indicator.trend_strength: the default warm-up is bar 29, a flat market is 0") {
  std::vector<qf_event> flat;
  for (int i = 0; i < 40; ++i) flat.push_back(hlc(i + 1, 7, 7, 7));
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.trend_strength", {}, {{"in", "bars"}});
  const Rows rows = run(h, flat, 1);
  CHECK(first_output(rows) == 29);
  for (size_t i = 29; i < rows.size(); ++i) CHECK((*rows[i])[0] == 0.0);
  // A short ATR finishes first: the slow average decides.
  std::unique_ptr<NodeHarness> long_atr(trend(3, 5, 10, "sma"));
  CHECK(first_output(run(*long_atr, flat, 1)) == 10);
}

TEST_CASE("indicator.trend_strength: equals the textbook loops on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (const auto& [fast, slow, n] : {std::tuple{10, 30, 14}, std::tuple{5, 100, 20}, std::tuple{1, 2, 1}})
      for (const std::string ma : {"sma", "ema"}) {
        INFO(file << " " << ma << " " << fast << "/" << slow << "/" << n);
        std::unique_ptr<NodeHarness> h(trend(fast, slow, n, ma));
        check_rows(run(*h, bars, 1), textbook(bars, static_cast<size_t>(fast), static_cast<size_t>(slow), static_cast<size_t>(n), ma == "ema"), 1e-9);
      }
  }
}

TEST_CASE("indicator.trend_strength: symbols keep their own series, batches equal cycles, restore continues") {
  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500));
  for (const std::string ma : {"sma", "ema"}) {
    INFO(ma);
    check_streaming([&] { return trend(10, 30, 14, ma); }, both, {9, 40, 301});
  }
}
