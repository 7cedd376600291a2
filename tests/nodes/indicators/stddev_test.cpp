// indicator.stddev against hand-worked values, a textbook two-pass implementation (mean, then
// the mean squared deviation, over each window) on real daily and minute data, and an exact
// long double two-pass computation on BTC-level prices moving by cents.
#include "indicator_stream_checks.hpp"

#include <limits>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* make_stddev(int n, double k = 1) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.stddev",
                         {{"period", std::to_string(n)}, {"deviations", std::to_string(k)}}, {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(bar(x[i], static_cast<int64_t>(i + 1)));
  return b;
}

// Two passes over each window: the mean, then the mean squared deviation from it.
template <class Real>
Rows two_pass(const std::vector<double>& x, size_t n, double k) {
  Rows out(x.size());
  for (size_t i = n - 1; i < x.size(); ++i) {
    Real sum = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) sum += x[j];
    const Real mean = sum / static_cast<Real>(n);
    Real sq = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) sq += (x[j] - mean) * (x[j] - mean);
    out[i] = std::vector<double>{static_cast<double>(k * std::sqrt(sq / static_cast<Real>(n)))};
  }
  return out;
}
Rows textbook(const std::vector<double>& x, size_t n, double k = 1) { return two_pass<double>(x, n, k); }
Rows exact(const std::vector<double>& x, size_t n, double k = 1) { return two_pass<long double>(x, n, k); }

// The running sums of x and x^2 that lose everything at BTC levels, to show the case is hard.
Rows naive(const std::vector<double>& x, size_t n) {
  Rows out(x.size());
  double s = 0, s2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    s += x[i];
    s2 += x[i] * x[i];
    if (i >= n) s -= x[i - n], s2 -= x[i - n] * x[i - n];
    if (i + 1 < n) continue;
    const double m = s / static_cast<double>(n), v = s2 / static_cast<double>(n) - m * m;
    out[i] = std::vector<double>{std::sqrt(std::max(v, 0.0))};
  }
  return out;
}

double worst_relative(const Rows& got, const Rows& want) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] && (*want[i])[0] != 0)
      worst = std::max(worst, std::abs((*got[i])[0] - (*want[i])[0]) / (*want[i])[0]);
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

TEST_CASE("indicator.stddev: hand-worked values, first value at index n-1") {
  // n = 3 on 2, 4, 4, 4, 5, 5, 7, 9 (population variance: divide by 3):
  //   [2 4 4]  mean 10/3, ((4/3)^2 + 2 (2/3)^2)/3 = (16/9 + 8/9)/3 = 8/9
  //   [4 4 4]  0 exactly
  //   [4 4 5]  mean 13/3, (2 (1/3)^2 + (2/3)^2)/3 = (6/9)/3 = 2/9;  [4 5 5] likewise 2/9
  //   [5 5 7]  mean 17/3, (2 (2/3)^2 + (4/3)^2)/3 = 8/9
  //   [5 7 9]  mean 7, (4 + 0 + 4)/3 = 8/3
  std::unique_ptr<NodeHarness> h(make_stddev(3));
  const Rows rows = run(*h, bars_of({2, 4, 4, 4, 5, 5, 7, 9}), 1);
  CHECK(first_output(rows) == 2);
  const double want[] = {8.0 / 9, 0, 2.0 / 9, 2.0 / 9, 8.0 / 9, 8.0 / 3};
  for (size_t i = 0; i < 6; ++i) CHECK((*rows[i + 2])[0] == Approx(std::sqrt(want[i])).epsilon(1e-15));
  CHECK((*rows[3])[0] == 0.0);

  // `deviations` multiplies; the default period is TA-Lib's 5 (first value at index 4).
  std::unique_ptr<NodeHarness> k(make_stddev(3, 2.5));
  CHECK((*run(*k, bars_of({2, 4, 4, 4, 5, 5, 7, 9}), 1)[7])[0] == Approx(2.5 * std::sqrt(8.0 / 3)).epsilon(1e-15));
  NodeHarness d(plugin_path("qflow_indicators"), "indicator.stddev", {}, {{"in", "bars"}});
  const Rows r = run(d, bars_of({1, 2, 3, 4, 5, 6}), 1);
  CHECK(first_output(r) == 4);
  CHECK((*r[4])[0] == Approx(std::sqrt(2.0)).epsilon(1e-15));  // 1..5: (4+1+0+1+4)/5 = 2
}

TEST_CASE("indicator.stddev: equals the textbook two-pass loop on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 5u, 20u, 100u}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_stddev(static_cast<int>(n)));
      const Rows rows = run(*h, bars, 1);
      CHECK(first_output(rows) == n - 1);
      check_relative(rows, textbook(closes(bars), n), 0, 1e-9);
    }
  }
}

TEST_CASE("indicator.stddev: exact at BTC price levels with tiny moves") {
  struct Case {
    const char* what;
    std::vector<double> x;
  };
  std::vector<Case> cases{{"cents around 70,000", walk(70'000, 0.01, 20'000, 7)},
                          {"0.0001 steps around 70,000", walk(69'999.5, 0.0001, 20'000, 11)}};
  // A jump: the window's mean far from every earlier value, then a fall by more than half.
  std::vector<double> jump = walk(70'000, 0.01, 3'000, 3), high = walk(71'000, 0.01, 3'000, 5), low = walk(30'000, 0.01, 3'000, 9);
  jump.insert(jump.end(), high.begin(), high.end());
  jump.insert(jump.end(), low.begin(), low.end());
  cases.push_back({"jumps of 1,000 and -41,000 between cent-sized moves", jump});

  for (const auto& c : cases)
    for (size_t n : {5u, 20u, 250u}) {
      INFO(c.what << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_stddev(static_cast<int>(n)));
      const Rows rows = run(*h, bars_of(c.x), 1);
      const Rows want = exact(c.x, n);
      CHECK(worst_relative(rows, want) <= 1e-9);
      for (size_t i = 0; i < rows.size(); ++i)  // a flat window is exactly 0
        if (rows[i] && (*want[i])[0] == 0) CHECK((*rows[i])[0] == 0.0);
      // The same data breaks a running sum of squares.
      CHECK(worst_relative(naive(c.x, n), want) > 1e-6);
    }
}

TEST_CASE("indicator.stddev: a NaN or infinite input gives NaN while it is in the window, exact values after") {
  std::unique_ptr<NodeHarness> h(make_stddev(3));
  std::vector<double> x{1, 2, 4, std::numeric_limits<double>::infinity(), 5, 6, 9, std::numeric_limits<double>::quiet_NaN(), 1, 2, 4, 8};
  const Rows rows = run(*h, bars_of(x), 1);
  for (size_t i : {3u, 4u, 5u, 7u, 8u, 9u}) CHECK(std::isnan((*rows[i])[0]));
  std::vector<double> clean = x;
  clean[3] = clean[7] = 0;
  const Rows want = exact(clean, 3);
  for (size_t i : {2u, 6u, 10u, 11u}) CHECK((*rows[i])[0] == Approx((*want[i])[0]).epsilon(1e-15));
}

TEST_CASE("indicator.stddev: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return make_stddev(20); }, both, {5, 39, 301, 999});

  std::unique_ptr<NodeHarness> mixed(make_stddev(20));
  const Rows rows = run(*mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_relative(b, exact(closes(btc), 20), 0, 1e-12);
  check_relative(e, exact(closes(eth), 20), 0, 1e-12);
}
