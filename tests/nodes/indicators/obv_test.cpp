// indicator.obv against hand-worked values and a textbook implementation (the signed volumes of
// the whole series summed in long double) on real daily and minute data.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness obv(const std::map<std::string, std::string>& params = {}) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.obv", params, {{"in", "bars"}});
}

qf_event bar(double close, double volume, int64_t t, uint32_t symbol = 1) {
  return qflow::make_bar(symbol, t, close, close, close, close, volume, 60);
}

// OBV the textbook way: bar 0's volume plus, for each later bar, its volume signed by the
// direction of the close (0 when unchanged), summed in long double with Neumaier's compensation
// (far more precise than the double result, so the reference is exact for these tests).
Rows textbook(const std::vector<qf_event>& bars) {
  Rows out(bars.size());
  long double sum = 0, comp = 0;
  for (size_t i = 0; i < bars.size(); ++i) {
    const qf_bar& b = bars[i].u.bar;
    long double x = 0;
    if (i == 0 || b.close > bars[i - 1].u.bar.close)
      x = b.volume;
    else if (b.close < bars[i - 1].u.bar.close)
      x = -static_cast<long double>(b.volume);
    const long double t = sum + x;
    comp += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
    out[i] = std::vector<double>{static_cast<double>(sum + comp)};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.obv: hand-worked values, first value at index 0") {
  // closes 10 11 11 9 12 with volumes 100 20 30 40 5:
  //   index 0: the first volume, 100; 1: up, +20 = 120; 2: equal, 120; 3: down, -40 = 80;
  //   4: up, +5 = 85.
  auto h = obv();
  const Rows rows = run(h, {bar(10, 100, 1), bar(11, 20, 2), bar(11, 30, 3), bar(9, 40, 4), bar(12, 5, 5)}, 1);
  CHECK(first_output(rows) == 0);
  CHECK((*rows[0])[0] == 100.0);
  CHECK((*rows[1])[0] == 120.0);
  CHECK((*rows[2])[0] == 120.0);
  CHECK((*rows[3])[0] == 80.0);
  CHECK((*rows[4])[0] == 85.0);
}

TEST_CASE("indicator.obv: the field parameter picks the compared price, zero and non-finite bars") {
  // Compared on the open: opens 5 4 4 with volumes 1 2 3 -> 1, -1, -1 (closes rise, unused).
  auto h = obv({{"field", "open"}});
  const Rows rows = run(h, {qflow::make_bar(1, 1, 5, 9, 1, 1, 1, 60), qflow::make_bar(1, 2, 4, 9, 1, 2, 2, 60),
                            qflow::make_bar(1, 3, 4, 9, 1, 3, 3, 60)}, 1);
  CHECK((*rows[0])[0] == 1.0);
  CHECK((*rows[1])[0] == -1.0);
  CHECK((*rows[2])[0] == -1.0);
  // Zero volume moves nothing; a NaN close or an infinite volume is skipped entirely, so the
  // next bar compares with the last finite close (10 -> 12 is up: 7 + 3 = 10).
  auto g = obv();
  const Rows r = run(g, {bar(10, 7, 1), bar(11, 0, 2), bar(NAN, 5, 3), bar(10, INFINITY, 4), bar(12, 3, 5)}, 1);
  CHECK((*r[0])[0] == 7.0);
  CHECK((*r[1])[0] == 7.0);
  CHECK(!r[2]);
  CHECK(!r[3]);
  CHECK((*r[4])[0] == 10.0);
}

TEST_CASE("indicator.obv: equals the textbook sum on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    INFO(file);
    const auto bars = load_bars(data(file), 1, limit);
    auto h = obv();
    check_rows(run(h, bars, 1), textbook(bars), 1e-9);
  }
}

TEST_CASE("indicator.obv: a long sum of inexact volumes of mixed size stays exact") {
  // 200,000 bars, volumes in tenths (not representable) mixed with 1e9-ish ones: a plain double
  // running sum drifts beyond the 1e-15 allowed here; the compensated total does not.
  std::vector<qf_event> bars;
  uint64_t state = 11;
  double close = 100;
  for (int i = 0; i < 200'000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    close += (state >> 63) ? 0.5 : -0.5;
    const double volume = (state >> 40) % 7 == 0 ? 1e9 + 0.3 : 0.1 * static_cast<double>((state >> 20) % 1000);
    bars.push_back(bar(close, volume, i + 1));
  }
  auto h = obv();
  check_rows(run(h, bars, 1), textbook(bars), 1e-15);
}

TEST_CASE("indicator.obv: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut before anything, between BTC's and ETH's first values (events 0 and 1), and later.
  check_streaming([] { return new NodeHarness(obv()); }, both, {0, 1, 2, 301, 999});

  auto mixed = obv();
  const Rows rows = run(mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(btc), 1e-12);
  check_rows(e, textbook(eth), 1e-12);
}
