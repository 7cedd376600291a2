// indicator.linreg_slope against hand-worked values and a textbook implementation (the OLS slope
// of each window by the two-pass formula sum (x - xbar)(y - ybar) / sum (x - xbar)^2, in long
// double) on real daily and minute closes and on BTC-level prices with tiny moves.
#include "indicator_test_support.hpp"

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

// |got - want| <= tol * |want| at every output: relative even for slopes far below 1.
void check_relative(const Rows& got, const Rows& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].has_value() == want[i].has_value());
    if (got[i]) worst = std::max(worst, std::abs((*got[i])[0] - (*want[i])[0]) / std::abs((*want[i])[0]));
  }
  INFO("worst relative error " << worst);
  CHECK(worst <= tol);
}

std::vector<std::pair<uint32_t, double>> flatten(const Rows& rows) {
  std::vector<std::pair<uint32_t, double>> out;
  for (const auto& r : rows)
    if (r)
      for (size_t k = 0; k < r->size(); ++k) out.emplace_back(static_cast<uint32_t>(k), (*r)[k]);
  return out;
}
std::vector<std::pair<uint32_t, double>> flatten(const std::vector<qflow::testing::Output>& outs) {
  std::vector<std::pair<uint32_t, double>> out;
  for (const auto& o : outs) out.emplace_back(o.port, o.ev.u.value.value);
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
    check_relative(run(h, bars_of(y), 1), textbook(y, static_cast<size_t>(n)), 1e-9);
  }
}

TEST_CASE("indicator.linreg_slope: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  std::vector<qf_event> both;
  for (size_t i = 0; i < btc.size(); ++i) both.push_back(btc[i]), both.push_back(eth[i]);
  auto mixed = slope(14);
  const Rows rows = run(mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(closes(btc), 14), 1e-9);
  check_rows(e, textbook(closes(eth), 14), 1e-9);

  auto batched = slope(14);
  CHECK(flatten(batched.push_batch(0, both)) == flatten(rows));

  // Cut inside the warm-up, at a recomputation boundary and between two.
  for (size_t cut : {5u, 56u, 301u}) {
    auto first = slope(14), second = slope(14);
    std::vector<qflow::testing::Output> got;
    for (size_t i = 0; i < cut; ++i)
      for (const auto& o : first.push(0, both[i])) got.push_back(o);
    second.restore_state(first.save_state());
    for (size_t i = cut; i < both.size(); ++i)
      for (const auto& o : second.push(0, both[i])) got.push_back(o);
    CHECK(flatten(got) == flatten(rows));
  }
}
