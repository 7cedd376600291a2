// indicator.bbands against hand-worked values, a textbook two-pass implementation (mean and
// population deviation of each window written as plain loops) on real daily and minute data, and
// an exact long double two-pass computation on BTC-level prices moving by cents.
#include "indicator_stream_checks.hpp"

#include <limits>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* make_bbands(int n, double up = 2, double down = 2) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.bbands",
                         {{"period", std::to_string(n)}, {"deviations_up", std::to_string(up)}, {"deviations_down", std::to_string(down)}},
                         {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(bar(x[i], static_cast<int64_t>(i + 1)));
  return b;
}

// Per window: the mean, then the population deviation from it; rows are middle, upper, lower.
template <class Real>
Rows two_pass(const std::vector<double>& x, size_t n, double up, double down) {
  Rows out(x.size());
  for (size_t i = n - 1; i < x.size(); ++i) {
    Real sum = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) sum += x[j];
    const Real mean = sum / static_cast<Real>(n);
    Real sq = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) sq += (x[j] - mean) * (x[j] - mean);
    const Real sd = std::sqrt(sq / static_cast<Real>(n));
    out[i] = std::vector<double>{static_cast<double>(mean), static_cast<double>(mean + up * sd), static_cast<double>(mean - down * sd)};
  }
  return out;
}
Rows textbook(const std::vector<double>& x, size_t n, double up = 2, double down = 2) { return two_pass<double>(x, n, up, down); }
Rows exact(const std::vector<double>& x, size_t n, double up = 2, double down = 2) { return two_pass<long double>(x, n, up, down); }

// The running sums of x and x^2 that lose everything at BTC levels, to show the case is hard.
Rows naive(const std::vector<double>& x, size_t n) {
  Rows out(x.size());
  double s = 0, s2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    s += x[i];
    s2 += x[i] * x[i];
    if (i >= n) s -= x[i - n], s2 -= x[i - n] * x[i - n];
    if (i + 1 < n) continue;
    const double m = s / static_cast<double>(n), sd = std::sqrt(std::max(s2 / static_cast<double>(n) - m * m, 0.0));
    out[i] = std::vector<double>{m, m + 2 * sd, m - 2 * sd};
  }
  return out;
}

// The worst error of the bands in units of the exact band width (2 * 2 sigma), once the bands'
// own rounding (they are numbers near the price: a few ulps of it) is allowed for.
double worst_band_error(const Rows& got, const Rows& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i]) continue;
    const auto& g = *got[i];
    const auto& w = *want[i];
    const double width = w[1] - w[2];
    const double ulps = 4 * std::abs(w[0]) * std::numeric_limits<double>::epsilon();
    for (size_t k = 1; k < 3; ++k) {
      const double err = std::max(0.0, std::abs(g[k] - w[k]) - ulps);
      if (width > 0) worst = std::max(worst, err / width);
      else if (err > 0) worst = INFINITY;
    }
  }
  return worst;
}

// Prices from `level` taking random steps of +-`step` (or none).
std::vector<double> walk(double level, double step, size_t count, uint64_t seed) {
  std::vector<double> x;
  int64_t ticks = 0;
  for (size_t i = 0; i < count; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const uint64_t r = seed >> 62;  // 0..3: down, stay, stay, up
    ticks += r == 0 ? -1 : r == 3 ? 1 : 0;
    x.push_back(level + static_cast<double>(ticks) * step);
  }
  return x;
}

}  // namespace

TEST_CASE("indicator.bbands: hand-worked values, middle first, first values at index n-1") {
  // n = 3, 2 deviations each side, on 2, 4, 4, 4, 5, 5, 7, 9 (sigma: population, divide by 3):
  //   [2 4 4]  middle 10/3, sigma sqrt(8/9) = 2 sqrt(2)/3: bands 10/3 +- 4 sqrt(2)/3
  //   [4 4 4]  middle 4, sigma 0: all three bands 4
  //   [5 7 9]  middle 7, sigma sqrt(8/3): bands 7 +- 2 sqrt(8/3)
  std::unique_ptr<NodeHarness> h(make_bbands(3));
  const Rows rows = run(*h, bars_of({2, 4, 4, 4, 5, 5, 7, 9}), 3);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == Approx(10.0 / 3).epsilon(1e-15));
  CHECK((*rows[2])[1] == Approx(10.0 / 3 + 4 * std::sqrt(2.0) / 3).epsilon(1e-15));
  CHECK((*rows[2])[2] == Approx(10.0 / 3 - 4 * std::sqrt(2.0) / 3).epsilon(1e-15));
  CHECK(*rows[3] == std::vector<double>{4, 4, 4});
  CHECK((*rows[7])[1] == Approx(7 + 2 * std::sqrt(8.0 / 3)).epsilon(1e-15));
  CHECK((*rows[7])[2] == Approx(7 - 2 * std::sqrt(8.0 / 3)).epsilon(1e-15));

  // Different distances up and down: [5 7 9] with 1 up and 3 down: 7 + sqrt(8/3), 7 - 3 sqrt(8/3).
  std::unique_ptr<NodeHarness> skew(make_bbands(3, 1, 3));
  const Rows s = run(*skew, bars_of({2, 4, 4, 4, 5, 5, 7, 9}), 3);
  CHECK((*s[7])[1] == Approx(7 + std::sqrt(8.0 / 3)).epsilon(1e-15));
  CHECK((*s[7])[2] == Approx(7 - 3 * std::sqrt(8.0 / 3)).epsilon(1e-15));

  // TA-Lib's defaults: period 5, 2 deviations each side; the outputs are named in that order.
  NodeHarness d(plugin_path("qflow_indicators"), "indicator.bbands", {}, {{"in", "bars"}});
  CHECK(d.output_port("middle") == 0);
  CHECK(d.output_port("upper") == 1);
  CHECK(d.output_port("lower") == 2);
  const Rows r = run(d, bars_of({1, 2, 3, 4, 5, 6}), 3);
  CHECK(first_output(r) == 4);
  CHECK((*r[4])[1] == Approx(3 + 2 * std::sqrt(2.0)).epsilon(1e-15));  // 1..5: mean 3, variance 2
}

TEST_CASE("indicator.bbands: equals the textbook two-pass loop on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 5u, 20u, 100u}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_bbands(static_cast<int>(n), 2, 1.5));
      const Rows rows = run(*h, bars, 3);
      CHECK(first_output(rows) == n - 1);
      const Rows want = textbook(closes(bars), n, 2, 1.5);
      for (size_t k = 0; k < 3; ++k) check_relative(rows, want, k, 1e-9);
    }
  }
}

TEST_CASE("indicator.bbands: exact at BTC price levels with tiny moves") {
  std::vector<std::pair<const char*, std::vector<double>>> cases{{"cents around 70,000", walk(70'000, 0.01, 20'000, 7)},
                                                                  {"0.0001 steps around 70,000", walk(69'999.5, 0.0001, 20'000, 11)}};
  std::vector<double> jump = walk(70'000, 0.01, 3'000, 3), high = walk(71'000, 0.01, 3'000, 5);
  jump.insert(jump.end(), high.begin(), high.end());
  cases.emplace_back("a jump of 1,000 between cent-sized moves", jump);

  for (const auto& [what, x] : cases)
    for (size_t n : {5u, 20u, 250u}) {
      INFO(what << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_bbands(static_cast<int>(n)));
      const Rows rows = run(*h, bars_of(x), 3);
      const Rows want = exact(x, n);
      check_relative(rows, want, 0, 1e-15);       // the middle band: the mean to an ulp
      CHECK(worst_band_error(rows, want) <= 1e-9);  // sigma within 1e-9 of itself
      CHECK(worst_band_error(naive(x, n), want) > 1e-6);
    }
}

TEST_CASE("indicator.bbands: a NaN input gives NaN bands while it is in the window, exact values after") {
  std::unique_ptr<NodeHarness> h(make_bbands(3));
  std::vector<double> x{1, 2, 4, std::numeric_limits<double>::quiet_NaN(), 5, 6, 9, 1};
  const Rows rows = run(*h, bars_of(x), 3);
  for (size_t i : {3u, 4u, 5u})
    for (double v : *rows[i]) CHECK(std::isnan(v));
  const Rows want = exact(x, 3);
  for (size_t i : {2u, 6u, 7u})
    for (size_t k = 0; k < 3; ++k) CHECK((*rows[i])[k] == Approx((*want[i])[k]).epsilon(1e-15));
}

TEST_CASE("indicator.bbands: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return make_bbands(20); }, both, {5, 39, 301, 999});

  std::unique_ptr<NodeHarness> mixed(make_bbands(20));
  const Rows rows = run(*mixed, both, 3);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  for (size_t k = 0; k < 3; ++k) {
    check_relative(b, exact(closes(btc), 20), k, 1e-12);
    check_relative(e, exact(closes(eth), 20), k, 1e-12);
  }
}
