// indicator.vol_regime against hand-worked values and a textbook implementation: the
// volatility by the textbook two-pass loop, and each bar's percentile by counting, over the
// whole lookback, the other values below and equal to the current one — on ORCL daily and BTC
// minute closes.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* regime(int period, int lookback, double low = 0.2, double high = 0.8) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.vol_regime",
                         {{"period", std::to_string(period)}, {"lookback", std::to_string(lookback)},
                          {"low", std::to_string(low)}, {"high", std::to_string(high)}},
                         {{"in", "bars"}});
}

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(qflow::make_bar(1, static_cast<int64_t>(i + 1), x[i], x[i], x[i], x[i], 1, 60));
  return b;
}

// popstd of the last n log returns times sqrt(n), two passes in long double (NaN before n).
std::vector<double> textbook_vol(const std::vector<double>& x, size_t n) {
  std::vector<double> out(x.size(), NAN);
  for (size_t i = n; i < x.size(); ++i) {
    long double mean = 0, ss = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) mean += ln_ratio(x[j], x[j - 1]);
    mean /= static_cast<long double>(n);
    for (size_t j = i + 1 - n; j <= i; ++j) {
      const long double d = ln_ratio(x[j], x[j - 1]) - mean;
      ss += d * d;
    }
    out[i] = static_cast<double>(std::sqrt(ss / static_cast<long double>(n) * static_cast<long double>(n)));
  }
  return out;
}

// Regime and percentile of each vol[i] among vol[i-L+1 .. i-1] by counting.
Rows textbook_rank(const std::vector<double>& vol, size_t first, size_t lookback, double low, double high) {
  Rows out(vol.size());
  for (size_t i = first + lookback - 1; i < vol.size(); ++i) {
    double below = 0, equal = 0;
    for (size_t j = i + 1 - lookback; j < i; ++j) {
      below += vol[j] < vol[i];
      equal += vol[j] == vol[i];
    }
    const double p = (below + equal / 2) / static_cast<double>(lookback - 1);
    out[i] = std::vector<double>{p < low ? -1.0 : p > high ? 1.0 : 0.0, p};
  }
  return out;
}

// indicator.volatility's values (NaN where it emits nothing or NaN): the very numbers the
// regime node ranks, so that rounding far below 1e-9 cannot decide a near-tie differently
// in the reference.
std::vector<double> node_volatility(const std::vector<qf_event>& bars, int period) {
  NodeHarness v(plugin_path("qflow_indicators"), "indicator.volatility", {{"period", std::to_string(period)}}, {{"in", "bars"}});
  std::vector<double> out(bars.size(), NAN);
  const Rows rows = run(v, bars, 1);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i]) out[i] = (*rows[i])[0];
  return out;
}

Rows column(const Rows& rows, size_t k) {
  Rows out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i]) out[i] = std::vector<double>{(*rows[i])[k]};
  return out;
}

Rows first_two(const Rows& rows) {
  Rows out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i]) out[i] = std::vector<double>{(*rows[i])[0], (*rows[i])[1]};
  return out;
}

}  // namespace

TEST_CASE("indicator.vol_regime: hand-worked regimes and percentiles, first value at period + lookback - 1") {
  // period 2, lookback 3 on 1, 2, 4, 2, 1, 4, 16, 32: the returns are ln 2, ln 2, -ln 2, -ln 2,
  // ln 4, ln 4, ln 2 (each the same double when the ratio is). With n = 2 the volatility is
  // |r_t - r_(t-1)| / 2 * sqrt 2 = |r_t - r_(t-1)| / sqrt 2:
  //   v2 = 0, v3 = 2 ln 2 / sqrt 2 = a, v4 = 0, v5 = 3 ln 2 / sqrt 2 = b, v6 = 0, v7 = ln 2 / sqrt 2 = c.
  // Each is ranked against the two before it:
  //   index 4: v4 = 0 vs {0, a}: one equal: (0 + 1/2)/2 = 0.25 -> normal (0).
  //   index 5: b vs {a, 0}: both below: 1 -> high (1).
  //   index 6: 0 vs {0, b}: one equal: 0.25 -> normal.
  //   index 7: c vs {b, 0}: one below: 0.5 -> normal. With low 0.3, index 4 and 6 are low.
  const auto bars = bars_of({1, 2, 4, 2, 1, 4, 16, 32});
  std::unique_ptr<NodeHarness> h(regime(2, 3));
  const Rows rows = run(*h, bars, 3);
  CHECK(first_output(rows) == 4);
  const std::vector<std::pair<double, double>> want{{0, 0.25}, {1, 1.0}, {0, 0.25}, {0, 0.5}};
  for (size_t i = 4; i < 8; ++i) {
    INFO("index " << i);
    CHECK((*rows[i])[0] == want[i - 4].first);
    CHECK((*rows[i])[1] == want[i - 4].second);
  }
  CHECK((*rows[4])[2] == 0.0);
  CHECK((*rows[5])[2] == Approx(3 * std::log(2.0) / std::sqrt(2.0)).epsilon(1e-12));
  CHECK((*rows[7])[2] == Approx(std::log(2.0) / std::sqrt(2.0)).epsilon(1e-12));

  std::unique_ptr<NodeHarness> wide(regime(2, 3, 0.3, 0.8));
  const Rows w = run(*wide, bars, 3);
  CHECK((*w[4])[0] == -1.0);
  CHECK((*w[6])[0] == -1.0);
  CHECK((*w[7])[0] == 0.0);
}

TEST_CASE("indicator.vol_regime: a flat market is normal, a bad price spoils only its own bars") {
  std::unique_ptr<NodeHarness> flat(regime(3, 5));
  for (const auto& r : run(*flat, bars_of(std::vector<double>(20, 100.0)), 3))
    if (r) CHECK(std::vector<double>{(*r)[0], (*r)[1], (*r)[2]} == std::vector<double>{0.0, 0.5, 0.0});

  // A NaN price: returns 10 and 11 undefined, volatility NaN at 10..12 (n = 2 holds one of
  // them until index 12), those bars' outputs NaN; the NaN values are left out of the ranks.
  std::vector<double> x;
  for (int i = 0; i < 40; ++i) x.push_back(100 + (i * 7 % 11));
  x[10] = NAN;
  std::unique_ptr<NodeHarness> h(regime(2, 4));
  const Rows rows = run(*h, bars_of(x), 3);
  for (size_t i = 10; i <= 12; ++i) CHECK(std::isnan((*rows[i])[1]));
  // Index 15's lookback (12..15) holds one NaN: it is ranked against the two finite others.
  const auto vol = node_volatility(bars_of(x), 2);
  double below = 0, equal = 0;
  for (size_t j : {13u, 14u}) below += vol[j] < (*rows[15])[2], equal += vol[j] == (*rows[15])[2];
  CHECK((*rows[15])[1] == (below + equal / 2) / 2);
  // From index 16 on the lookback is clean again.
  const Rows want = textbook_rank(vol, 2, 4, 0.2, 0.8);
  check_rows(first_two(Rows(rows.begin() + 16, rows.end())), Rows(want.begin() + 16, want.end()), 0);
}

TEST_CASE("indicator.vol_regime: equals the textbook volatility and counted ranks on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (const auto& [period, lookback] : {std::pair{20, 500}, std::pair{5, 60}}) {
      INFO(file << " period=" << period << " lookback=" << lookback);
      std::unique_ptr<NodeHarness> h(regime(period, lookback));
      const Rows rows = run(*h, bars, 3);
      const auto vol = textbook_vol(closes(bars), static_cast<size_t>(period));
      Rows want_vol(bars.size());
      for (size_t i = static_cast<size_t>(period + lookback - 1); i < bars.size(); ++i) want_vol[i] = std::vector<double>{vol[i]};
      check_relative(column(rows, 2), want_vol, 0, 1e-9);
      const auto node_vol = node_volatility(bars, period);
      check_rows(first_two(rows), textbook_rank(node_vol, static_cast<size_t>(period), static_cast<size_t>(lookback), 0.2, 0.8), 0);
      size_t low = 0, high = 0;
      for (const auto& r : rows)
        if (r) low += (*r)[0] == -1, high += (*r)[0] == 1;
      CHECK(low > 0);
      CHECK(high > 0);
    }
  }
}

TEST_CASE("indicator.vol_regime: symbols keep their own series, batches equal cycles, restore continues") {
  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 400),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 400));
  check_streaming([] { return regime(10, 50); }, both, {5, 80, 131, 501});
}
