// The long-window paths of the indicators that switch algorithm by window length, which their
// own tests (at the TA-Lib defaults and a few lengths) do not reach: indicator.cci's treap (from
// n = 1,500; a two-pass loop below), indicator.stoch's running sums (averages of more than 8
// values; summed afresh below), indicator.willr's monotonic deques (more than 32 bars; a
// rescanned ring below). Each against a textbook loop over the whole window at every bar, with
// the numerically hard case, recovery from an overflowing bar, and save and restore.
#include "indicator_stream_checks.hpp"

#include <algorithm>
#include <array>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness node(const std::string& type, const std::map<std::string, std::string>& params) {
  return NodeHarness(plugin_path("qflow_indicators"), type, params, {{"in", "bars"}});
}
NodeHarness cci(size_t n) { return node("indicator.cci", {{"period", std::to_string(n)}}); }
NodeHarness stoch(size_t fk, size_t sk, size_t sd) {
  return node("indicator.stoch", {{"fastk_period", std::to_string(fk)}, {"slowk_period", std::to_string(sk)},
                                  {"slowd_period", std::to_string(sd)}});
}

// CCI: tp = (H+L+C)/3, the window's mean and mean absolute deviation by two loops in long double;
// 0 when the window is flat or the last tp is the mean.
Rows cci_textbook(const std::vector<qf_event>& bars, size_t n) {
  std::vector<double> tp;
  for (const qf_event& b : bars) tp.push_back((b.u.bar.high + b.u.bar.low + b.u.bar.close) / 3.0);
  Rows out(bars.size());
  for (size_t i = n - 1; i < bars.size(); ++i) {
    long double mean = 0, mad = 0;
    bool flat = true;
    for (size_t j = i + 1 - n; j <= i; ++j) mean += tp[j], flat = flat && tp[j] == tp[i];
    mean /= static_cast<long double>(n);
    for (size_t j = i + 1 - n; j <= i; ++j) mad += std::fabs(tp[j] - mean);
    const long double d = tp[i] - mean;
    out[i] = std::vector<double>{flat || d == 0 ? 0.0 : static_cast<double>(d / (0.015L * mad / n))};
  }
  return out;
}

// Slow stochastic: fast %K by scanning its window, slow %K and %D as means of the last sk / sd.
Rows stoch_textbook(const std::vector<qf_event>& bars, size_t fk, size_t sk, size_t sd) {
  const size_t m = bars.size();
  std::vector<double> fast(m, NAN), slowk(m, NAN);
  for (size_t i = fk - 1; i < m; ++i) {
    double hh = -INFINITY, ll = INFINITY;
    for (size_t j = i + 1 - fk; j <= i; ++j) hh = std::max(hh, bars[j].u.bar.high), ll = std::min(ll, bars[j].u.bar.low);
    fast[i] = hh == ll ? 0.0 : 100.0 * (bars[i].u.bar.close - ll) / (hh - ll);
  }
  for (size_t i = fk + sk - 2; i < m; ++i) {
    long double s = 0;
    for (size_t j = i + 1 - sk; j <= i; ++j) s += fast[j];
    slowk[i] = static_cast<double>(s / static_cast<long double>(sk));
  }
  Rows out(m);
  for (size_t i = fk + sk + sd - 3; i < m; ++i) {
    long double s = 0;
    for (size_t j = i + 1 - sd; j <= i; ++j) s += slowk[j];
    out[i] = std::vector<double>{slowk[i], static_cast<double>(s / static_cast<long double>(sd))};
  }
  return out;
}

// Williams %R: -100 (HH - close) / (HH - LL) over the last n bars, 0 when HH = LL.
Rows willr_textbook(const std::vector<qf_event>& bars, size_t n) {
  Rows out(bars.size());
  for (size_t i = n - 1; i < bars.size(); ++i) {
    double hh = -INFINITY, ll = INFINITY;
    for (size_t j = i + 1 - n; j <= i; ++j) hh = std::max(hh, bars[j].u.bar.high), ll = std::min(ll, bars[j].u.bar.low);
    out[i] = std::vector<double>{hh == ll ? 0.0 : -100.0 * (hh - bars[i].u.bar.close) / (hh - ll)};
  }
  return out;
}

// Bars around 70,000 moving by whole cents, 2-4 cents high-low.
std::vector<qf_event> btc_level_cents(size_t count, uint64_t seed) {
  std::vector<qf_event> bars;
  double mid = 70000;
  for (size_t i = 0; i < count; ++i) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    mid += 0.01 * (static_cast<double>(seed >> 61) - 3.5);
    const double spread = 0.01 * static_cast<double>(2 + (seed >> 30) % 3);
    const double close = mid + 0.01 * static_cast<double>((seed >> 40) % 3) - 0.01;
    bars.push_back(qflow::make_bar(1, static_cast<int64_t>(i + 1), close, mid + spread / 2, mid - spread / 2, close, 1, 60));
  }
  return bars;
}

std::vector<qf_event> btc(size_t limit, uint32_t symbol = 1) {
  return load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), symbol, limit);
}

}  // namespace

TEST_CASE("indicator.cci from n = 1,500 (the treap): equals the textbook loops on BTC minutes and cents at 70,000") {
  const auto bars = btc(12'000);
  for (size_t n : {1'500u, 2'000u}) {
    INFO("n=" << n);
    auto h = cci(n);
    const Rows rows = run(h, bars, 1);
    CHECK(first_output(rows) == n - 1);
    check_rows(rows, cci_textbook(bars, n), 1e-9);
  }
  const auto cents = btc_level_cents(8'000, 5);
  auto h = cci(1'500);
  check_rows(run(h, cents, 1), cci_textbook(cents, 1'500), 1e-10);
}

TEST_CASE("indicator.cci from n = 1,500: recovers once an overflowing value has left, restore rebuilds the tree") {
  auto bars = btc(5'000);
  for (size_t i : {100u, 101u, 102u, 103u}) bars[i].u.bar.high = bars[i].u.bar.low = bars[i].u.bar.close = 5e307;
  const size_t n = 1'500;
  auto h = cci(n);
  const Rows rows = run(h, bars, 1);
  const Rows want = cci_textbook(bars, n);
  CHECK(!std::isfinite((*rows[n + 50])[0]));
  Rows after(rows.begin() + 104 + n, rows.end()), want_after(want.begin() + 104 + n, want.end());
  check_rows(after, want_after, 1e-9);

  const auto both = interleave(btc(2'200, 1), load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 2'200));
  const size_t w = 2 * (n - 1);
  check_streaming([] { return new NodeHarness(cci(1'500)); }, both, {5, w - 1, w, w + 1, w + 2, 3'500});
}

TEST_CASE("indicator.stoch with averages over more than 8 values (running sums): equals the textbook, recovers") {
  const auto bars = btc(30'000);
  for (const auto& [fk, sk, sd] : {std::array<size_t, 3>{14, 9, 3}, {14, 3, 12}, {5, 30, 20}}) {
    INFO(fk << "/" << sk << "/" << sd);
    auto h = stoch(fk, sk, sd);
    const Rows rows = run(h, bars, 2);
    CHECK(first_output(rows) == fk + sk + sd - 3);
    check_rows(rows, stoch_textbook(bars, fk, sk, sd), 1e-9);
  }
  // A range beyond the largest double makes one fast %K NaN: the running sums recover.
  auto bad = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 400);
  bad[50].u.bar.high = 1e308;
  bad[50].u.bar.low = -1e308;
  auto h = stoch(14, 10, 12);
  const Rows rows = run(h, bad, 2);
  const Rows want = stoch_textbook(bad, 14, 10, 12);
  CHECK(std::isnan((*rows[70])[0]));
  for (size_t i = 50 + 13 + 9 + 11 + 1; i < bad.size(); ++i)
    for (size_t k = 0; k < 2; ++k) CHECK((*rows[i])[k] == Approx((*want[i])[k]).epsilon(1e-12).margin(1e-12));

  const auto both = interleave(btc(400, 1), load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 400));
  check_streaming([] { return new NodeHarness(stoch(14, 10, 12)); }, both, {5, 40, 69, 70, 71, 301});
}

TEST_CASE("indicator.willr over more than 32 bars (deques): equals the textbook, continues after restore") {
  const auto bars = btc(30'000);
  for (size_t n : {32u, 33u, 300u}) {
    INFO("n=" << n);
    auto h = node("indicator.willr", {{"period", std::to_string(n)}});
    check_rows(run(h, bars, 1), willr_textbook(bars, n), 1e-12);
  }
  const auto both = interleave(btc(600, 1), load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 600));
  check_streaming([] { return new NodeHarness(node("indicator.willr", {{"period", "100"}})); }, both, {5, 197, 198, 199, 700});
}
