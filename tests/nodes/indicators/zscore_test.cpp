// indicator.zscore against hand-worked values and the textbook definition — each window's
// mean and population variance by two passes in long double — on real daily and minute closes
// and on the numerically hard case: cent moves at 70,000, where a running sum of squares has
// nothing left and the deviation x - mean must not carry the rounding of 70,000.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* zscore(int n, const std::string& field = "close") {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.zscore", {{"period", std::to_string(n)}, {"field", field}}, {{"in", "bars"}});
}

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(qflow::make_bar(1, static_cast<int64_t>(i + 1), x[i], x[i], x[i], x[i], 1, 60));
  return b;
}

Rows textbook(const std::vector<double>& x, size_t n) {
  Rows out(x.size());
  for (size_t i = n - 1; i < x.size(); ++i) {
    long double mean = 0, ss = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) mean += x[j];
    mean /= static_cast<long double>(n);
    for (size_t j = i + 1 - n; j <= i; ++j) ss += (x[j] - mean) * (x[j] - mean);
    const long double sd = std::sqrt(ss / static_cast<long double>(n));
    out[i] = std::vector<double>{sd == 0 ? 0.0 : static_cast<double>((x[i] - mean) / sd)};
  }
  return out;
}

std::vector<double> cent_walk(double start, size_t count, uint64_t seed) {
  std::vector<double> x{start};
  for (size_t i = 1; i < count; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x.push_back(x.back() + 0.01 * static_cast<double>(static_cast<int>(seed >> 61) - 3));
  }
  return x;
}

}  // namespace

TEST_CASE("indicator.zscore: hand-worked values, first value at index n-1") {
  // n = 3 on 1, 2, 3, 6, 6, 6, 6:
  //   index 2: mean 2, variance (1 + 0 + 1)/3 = 2/3: z = 1/sqrt(2/3) = sqrt(1.5).
  //   index 3: {2, 3, 6}: mean 11/3, deviations -5/3, -2/3, 7/3, variance 78/27:
  //            z = (7/3)/sqrt(78/27) = 7/sqrt(26).
  //   index 5: {6, 6, 6}: the standard deviation is 0, so z is 0 (and stays 0 at index 6).
  std::unique_ptr<NodeHarness> h(zscore(3));
  const Rows rows = run(*h, bars_of({1, 2, 3, 6, 6, 6, 6}), 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == Approx(std::sqrt(1.5)).epsilon(1e-14));
  CHECK((*rows[3])[0] == Approx(7 / std::sqrt(26.0)).epsilon(1e-14));
  CHECK((*rows[5])[0] == 0.0);
  CHECK((*rows[6])[0] == 0.0);
}

TEST_CASE("indicator.zscore: a flat window after a jump at 70,000 is exactly 0, a NaN input is NaN while in the window") {
  std::vector<double> x(30, 70'000.0);
  for (int i = 0; i < 30; ++i) x.push_back(70'000.01);
  std::unique_ptr<NodeHarness> h(zscore(7));
  const Rows rows = run(*h, bars_of(x), 1);
  for (size_t i = 36; i < x.size(); ++i) CHECK((*rows[i])[0] == 0.0);
  CHECK((*rows[30])[0] == Approx(std::sqrt(6.0)).epsilon(1e-9));  // one high value among 7: (6/7)/sqrt(6/49)

  std::vector<double> y = cent_walk(70'000, 60, 3);
  y[20] = NAN;
  std::unique_ptr<NodeHarness> g(zscore(5));
  const Rows got = run(*g, bars_of(y), 1);
  for (size_t i = 20; i < 25; ++i) CHECK(std::isnan((*got[i])[0]));
  const Rows want = textbook(y, 5);
  check_rows(Rows(got.begin() + 25, got.end()), Rows(want.begin() + 25, want.end()), 1e-9);
}

TEST_CASE("indicator.zscore: equals the textbook two-pass z-score on NVDA daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("nvda_1999_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (int n : {2, 20, 100}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(zscore(n));
      check_rows(run(*h, bars, 1), textbook(closes(bars), static_cast<size_t>(n)), 1e-9);
    }
  }
}

TEST_CASE("indicator.zscore: cent moves at 70,000 over 100,000 bars stay within 1e-9 of the exact value") {
  const std::vector<double> x = cent_walk(70'000, 100'000, 99);
  for (int n : {3, 20, 200}) {
    INFO("n=" << n);
    std::unique_ptr<NodeHarness> h(zscore(n));
    check_rows(run(*h, bars_of(x), 1), textbook(x, static_cast<size_t>(n)), 1e-9);
  }
}

TEST_CASE("indicator.zscore: symbols keep their own series, batches equal cycles, restore continues") {
  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500));
  check_streaming([] { return zscore(20, "high"); }, both, {7, 45, 301});
}
