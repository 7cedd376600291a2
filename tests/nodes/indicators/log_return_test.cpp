// indicator.log_return against hand-worked values and the textbook ln(x_t / x_{t-k}) in long
// double on real daily and minute closes, including BTC's one-minute moves of a few dollars on
// 60,000 where ln of the rounded ratio alone would not be accurate to 1e-9.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* log_return(int k) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.log_return", {{"k", std::to_string(k)}}, {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(bar(x[i], static_cast<int64_t>(i + 1)));
  return b;
}

// The definition, in long double.
Rows textbook(const std::vector<double>& x, size_t k) {
  Rows out(x.size());
  for (size_t i = k; i < x.size(); ++i)
    out[i] = std::vector<double>{static_cast<double>(ln_ratio(x[i], x[i - k]))};
  return out;
}

}  // namespace

TEST_CASE("indicator.log_return: hand-worked values, first value at index k") {
  // k = 1 on 100, 110, 99: ln 1.1 at index 1, ln 0.9 at index 2.
  std::unique_ptr<NodeHarness> one(log_return(1));
  Rows rows = run(*one, bars_of({100, 110, 99}), 1);
  CHECK(first_output(rows) == 1);
  CHECK((*rows[1])[0] == Approx(std::log(1.1)).epsilon(1e-15));
  CHECK((*rows[2])[0] == Approx(std::log(0.9)).epsilon(1e-15));
  // k = 2 on 100, 110, 121, 121: ln 1.21 = 2 ln 1.1 at index 2, ln 1.1 at index 3.
  std::unique_ptr<NodeHarness> two(log_return(2));
  rows = run(*two, bars_of({100, 110, 121, 121}), 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == Approx(2 * std::log(1.1)).epsilon(1e-15));
  CHECK((*rows[3])[0] == Approx(std::log(1.1)).epsilon(1e-15));
}

TEST_CASE("indicator.log_return: an unchanged price is exactly 0, a non-positive one NaN") {
  std::unique_ptr<NodeHarness> h(log_return(1));
  const Rows rows = run(*h, bars_of({5, 5, 0, 5, -1, 2, 4}), 1);
  CHECK((*rows[1])[0] == 0.0);
  CHECK(std::isnan((*rows[2])[0]));  // ln(0 / 5)
  CHECK(std::isnan((*rows[3])[0]));  // ln(5 / 0)
  CHECK(std::isnan((*rows[4])[0]));
  CHECK(std::isnan((*rows[5])[0]));
  CHECK((*rows[6])[0] == Approx(std::log(2.0)).epsilon(1e-15));  // recovered
}

TEST_CASE("indicator.log_return: equals the textbook ln ratio on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (int k : {1, 5, 60}) {
      INFO(file << " k=" << k);
      std::unique_ptr<NodeHarness> h(log_return(k));
      check_relative(run(*h, bars, 1), textbook(closes(bars), static_cast<size_t>(k)), 0, 1e-12);
    }
  }
}

TEST_CASE("indicator.log_return: cent moves at 70,000 keep full relative precision") {
  // Returns of ~1.4e-7: ln of the double ratio would be off by ~1e-9 relative.
  std::vector<double> x{70'000.00};
  uint64_t s = 12345;
  for (int i = 0; i < 20'000; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x.push_back(x.back() + 0.01 * static_cast<double>(static_cast<int>(s >> 61) - 3));
  }
  std::unique_ptr<NodeHarness> h(log_return(1));
  check_relative(run(*h, bars_of(x), 1), textbook(x, 1), 0, 1e-12);
}

TEST_CASE("indicator.log_return: symbols keep their own series, batches equal cycles, restore continues") {
  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 400),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 400));
  check_streaming([] { return log_return(3); }, both, {3, 301});
}
