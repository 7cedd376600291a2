// indicator.volatility against hand-worked values and the textbook definition — every window's
// log returns in long double, their mean, the population variance by a second pass — on real
// daily and minute closes and on the numerically hard case of cent moves at 70,000.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* volatility(int n) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.volatility", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(qflow::make_bar(1, static_cast<int64_t>(i + 1), x[i], x[i], x[i], x[i], 1, 60));
  return b;
}

// popstd of the n returns ending at each input, times sqrt(n), two passes in long double.
Rows textbook(const std::vector<double>& x, size_t n) {
  Rows out(x.size());
  for (size_t i = n; i < x.size(); ++i) {
    std::vector<long double> r;
    for (size_t j = i + 1 - n; j <= i; ++j) r.push_back(ln_ratio(x[j], x[j - 1]));
    long double mean = 0, ss = 0;
    for (long double v : r) mean += v;
    mean /= static_cast<long double>(n);
    for (long double v : r) ss += (v - mean) * (v - mean);
    long double largest = 0;
    for (long double v : r) largest = std::max(largest, std::abs(v));
    out[i] = std::vector<double>{static_cast<double>(std::sqrt(ss / static_cast<long double>(n)) * std::sqrt(static_cast<long double>(n))),
                                 static_cast<double>(largest * std::sqrt(static_cast<long double>(n)))};
  }
  return out;
}

// Output 0 against the textbook value within `tol` relative. Any implementation in doubles
// holds each return rounded to an ulp of itself; when a window's returns agree to 1e-7 of their
// size (five one-cent rises in a row at 70,000 differ only through the growing base), their
// standard deviation is below 1e-7 of them and that ulp alone is a relative error far above
// 1e-9. So the error is taken relative to max(vol, 1e-5 * sqrt(n) * largest |return|): 1e-9
// of that floor is still ~50 ulps of the returns.
void check_volatility(const Rows& got, const Rows& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].has_value() == want[i].has_value());
    if (!got[i]) continue;
    const double w = (*want[i])[0], g = (*got[i])[0];
    const double floor = std::max(std::abs(w), 1e-5 * (*want[i])[1]);
    const double err = floor > 0 ? std::abs(g - w) / floor : std::abs(g - w);  // flat: exactly 0
    if (std::isnan(err) || err > worst) worst = std::isnan(err) ? INFINITY : err, worst_at = i;
    if (w == 0) CHECK(g == 0);
  }
  INFO("worst relative error " << worst << " at input " << worst_at);
  CHECK(worst <= tol);
}

// A random walk of cent steps (-3..+4 cents) from `start`, reproducible.
std::vector<double> cent_walk(double start, size_t count, uint64_t seed) {
  std::vector<double> x{start};
  for (size_t i = 1; i < count; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x.push_back(x.back() + 0.01 * static_cast<double>(static_cast<int>(seed >> 61) - 3));
  }
  return x;
}

}  // namespace

TEST_CASE("indicator.volatility: hand-worked values, first value at index n") {
  // n = 2 on 100, 110, 121, 108.9: returns ln 1.1, ln 1.1 (the same double: both changes are
  // 10%), then ln(108.9/121) = ln 0.9. At index 2 the two returns are equal: exactly 0. At
  // index 3 {ln 1.1, ln 0.9}: popstd = (ln 1.1 - ln 0.9) / 2, times sqrt 2 = ln(11/9) / sqrt 2.
  std::unique_ptr<NodeHarness> h(volatility(2));
  const Rows rows = run(*h, bars_of({100, 110, 121, 108.9}), 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == 0.0);
  CHECK((*rows[3])[0] == Approx(std::log(11.0 / 9.0) / std::sqrt(2.0)).epsilon(1e-12));
}

TEST_CASE("indicator.volatility: a flat series is exactly 0, a bad price is NaN until it leaves the window") {
  std::unique_ptr<NodeHarness> flat(volatility(3));
  for (const auto& r : run(*flat, bars_of(std::vector<double>(10, 70'000.01)), 1))
    if (r) CHECK((*r)[0] == 0.0);

  // A zero price at index 5 spoils returns 5 and 6; with n = 3 the outputs at 5..8 hold one of
  // them, from index 9 on the window is clean and the value is exact again.
  std::vector<double> x = cent_walk(70'000, 40, 7);
  x[5] = 0;
  std::unique_ptr<NodeHarness> h(volatility(3));
  const Rows got = run(*h, bars_of(x), 1);
  for (size_t i = 5; i <= 8; ++i) CHECK(std::isnan((*got[i])[0]));
  const Rows want = textbook(x, 3);
  check_volatility(Rows(got.begin() + 9, got.end()), Rows(want.begin() + 9, want.end()), 1e-9);
}

TEST_CASE("indicator.volatility: equals the textbook two-pass std on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (int n : {2, 20, 60}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(volatility(n));
      check_volatility(run(*h, bars, 1), textbook(closes(bars), static_cast<size_t>(n)), 1e-9);
    }
  }
}

TEST_CASE("indicator.volatility: cent moves at 70,000 over 100,000 bars stay within 1e-9 of the exact value") {
  const std::vector<double> x = cent_walk(70'000, 100'000, 42);
  for (int n : {5, 50}) {
    INFO("n=" << n);
    std::unique_ptr<NodeHarness> h(volatility(n));
    check_volatility(run(*h, bars_of(x), 1), textbook(x, static_cast<size_t>(n)), 1e-9);
  }
}

TEST_CASE("indicator.volatility: symbols keep their own series, batches equal cycles, restore continues") {
  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500));
  check_streaming([] { return volatility(14); }, both, {5, 33, 301});
}
