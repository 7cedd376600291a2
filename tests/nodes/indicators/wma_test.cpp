// indicator.wma against hand-worked values and a textbook implementation (the weighted sum of
// each window written as a plain loop) on real daily and minute data.
#include "indicator_stream_checks.hpp"

#include <limits>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* make_wma(int n) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.wma", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(bar(x[i], static_cast<int64_t>(i + 1)));
  return b;
}

// Each window's sum of weight * value, weights 1 (oldest) .. n (newest), over n(n+1)/2.
Rows textbook(const std::vector<double>& x, size_t n) {
  Rows out(x.size());
  for (size_t i = n - 1; i < x.size(); ++i) {
    double sum = 0, weights = 0;
    for (size_t j = 0; j < n; ++j) {
      sum += static_cast<double>(j + 1) * x[i + 1 - n + j];
      weights += static_cast<double>(j + 1);
    }
    out[i] = std::vector<double>{sum / weights};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.wma: hand-worked values, first value at index n-1") {
  // n = 3 on 1, 2, 6, 3, 0, 4 (weights 1, 2, 3 over 6):
  //   index 2: (1*1 + 2*2 + 3*6)/6 = 23/6;  index 3: (2 + 12 + 9)/6 = 23/6;
  //   index 4: (6 + 6 + 0)/6 = 2;            index 5: (3 + 0 + 12)/6 = 5/2.
  std::unique_ptr<NodeHarness> h(make_wma(3));
  const Rows rows = run(*h, bars_of({1, 2, 6, 3, 0, 4}), 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == Approx(23.0 / 6).epsilon(1e-15));
  CHECK((*rows[3])[0] == Approx(23.0 / 6).epsilon(1e-15));
  CHECK((*rows[4])[0] == Approx(2.0).epsilon(1e-15));
  CHECK((*rows[5])[0] == Approx(2.5).epsilon(1e-15));

  // The default period is TA-Lib's 30: the first value at index 29.
  NodeHarness d(plugin_path("qflow_indicators"), "indicator.wma", {}, {{"in", "bars"}});
  std::vector<double> ramp;
  for (int i = 0; i < 40; ++i) ramp.push_back(i);
  const Rows r = run(d, bars_of(ramp), 1);
  CHECK(first_output(r) == 29);
  // Weighted mean of 0..29 with weights 1..30: sum j(j-1)/465 = (sum j^2 - sum j)/465 = 8990/465.
  CHECK((*r[29])[0] == Approx(8990.0 / 465).epsilon(1e-14));
}

TEST_CASE("indicator.wma: equals the textbook loop on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 9u, 30u, 200u}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_wma(static_cast<int>(n)));
      const Rows rows = run(*h, bars, 1);
      CHECK(first_output(rows) == n - 1);
      check_relative(rows, textbook(closes(bars), n), 0, 1e-9);
    }
  }
}

TEST_CASE("indicator.wma: stays exact over a long series at BTC price levels") {
  // 300,000 inputs around 70,000 moving by cents: a running weighted sum that never resyncs
  // would drift; the node keeps within a few ulps of the direct sum.
  std::vector<double> x;
  uint64_t s = 42;
  double p = 70'000;
  for (int i = 0; i < 300'000; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    p += (static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5) * 0.02;
    x.push_back(std::round(p * 100) / 100);
  }
  for (size_t n : {3u, 50u}) {
    INFO("n=" << n);
    std::unique_ptr<NodeHarness> h(make_wma(static_cast<int>(n)));
    const auto out = h->push_batch(0, bars_of(x));
    REQUIRE(out.size() == x.size() - n + 1);
    double worst = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      long double sum = 0;  // the direct weighted sum, in extended precision
      for (size_t j = 0; j < n; ++j) sum += static_cast<long double>(j + 1) * x[i + j];
      const long double want = sum / (static_cast<long double>(n) * (n + 1) / 2);
      worst = std::max(worst, static_cast<double>(std::abs((out[i].ev.u.value.value - want) / want)));
    }
    CHECK(worst < 1e-14);
  }
}

TEST_CASE("indicator.wma: a NaN input gives NaN while it is in the window, exact values after") {
  std::unique_ptr<NodeHarness> h(make_wma(3));
  std::vector<double> x{1, 2, 3, 4, std::numeric_limits<double>::quiet_NaN(), 5, 6, 7, 8, 9, 10, 11};
  const Rows rows = run(*h, bars_of(x), 1);
  for (size_t i : {4u, 5u, 6u}) CHECK(std::isnan((*rows[i])[0]));
  CHECK((*rows[3])[0] == Approx((2 + 6 + 12) / 6.0));
  CHECK((*rows[7])[0] == Approx((5 + 12 + 21) / 6.0).epsilon(1e-15));
  CHECK((*rows[11])[0] == Approx((9 + 20 + 33) / 6.0).epsilon(1e-15));
}

TEST_CASE("indicator.wma: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return make_wma(10); }, both, {5, 17, 301, 999});

  std::unique_ptr<NodeHarness> mixed(make_wma(10));
  const Rows rows = run(*mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_relative(b, textbook(closes(btc), 10), 0, 1e-12);
  check_relative(e, textbook(closes(eth), 10), 0, 1e-12);
}
