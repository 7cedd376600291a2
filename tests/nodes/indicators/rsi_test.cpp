// indicator.rsi against hand-worked values and a textbook implementation (Wilder's RSI written
// as plain loops over the series) on real daily and minute data.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness rsi(int n) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.rsi", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

// Wilder's RSI the textbook way: the first average of gains and losses over changes 1..n, then
// avg_t = ((n - 1) * avg_{t-1} + x_t) / n; RSI = 100 - 100 / (1 + RS), RS = gain / loss.
Rows textbook(const std::vector<double>& x, size_t n) {
  Rows out(x.size());
  if (x.size() <= n) return out;
  double g = 0, l = 0;
  for (size_t i = 1; i <= n; ++i) {
    const double d = x[i] - x[i - 1];
    (d > 0 ? g : l) += std::abs(d);
  }
  g /= static_cast<double>(n);
  l /= static_cast<double>(n);
  auto rsi_of = [](double gain, double loss) {
    if (gain == 0 && loss == 0) return 0.0;
    if (loss == 0) return 100.0;
    return 100.0 - 100.0 / (1.0 + gain / loss);
  };
  out[n] = std::vector<double>{rsi_of(g, l)};
  for (size_t i = n + 1; i < x.size(); ++i) {
    const double d = x[i] - x[i - 1];
    g = ((static_cast<double>(n) - 1) * g + std::max(d, 0.0)) / static_cast<double>(n);
    l = ((static_cast<double>(n) - 1) * l + std::max(-d, 0.0)) / static_cast<double>(n);
    out[i] = std::vector<double>{rsi_of(g, l)};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.rsi: hand-worked values, first value at index n") {
  // n = 3 on 10, 11, 10, 12, 12, 9:
  //   changes +1 -1 +2 | 0 -3; seed gain (1+2)/3 = 1, loss 1/3: RSI = 100*1/(4/3) = 75 at index 3.
  //   index 4 (change 0): gain 2/3, loss 2/9: RSI = 100*(2/3)/(8/9) = 75.
  //   index 5 (change -3): gain 4/9, loss (4/9+3)/3 = 31/27: RSI = 100*(12/27)/(43/27) = 1200/43.
  auto h = rsi(3);
  const std::vector<double> x{10, 11, 10, 12, 12, 9};
  const Rows rows = run(h, [&] {
    std::vector<qf_event> b;
    for (size_t i = 0; i < x.size(); ++i) b.push_back(bar(x[i], static_cast<int64_t>(i + 1)));
    return b;
  }(), 1);
  CHECK(first_output(rows) == 3);
  CHECK((*rows[3])[0] == Approx(75.0).epsilon(1e-15));
  CHECK((*rows[4])[0] == Approx(75.0).epsilon(1e-15));
  CHECK((*rows[5])[0] == Approx(1200.0 / 43.0).epsilon(1e-14));
}

TEST_CASE("indicator.rsi: a flat series is 0, a rising one 100") {
  auto flat = rsi(2), up = rsi(2);
  for (int i = 0; i < 6; ++i) {
    const auto f = flat.push(0, bar(5, i + 1));
    const auto u = up.push(0, bar(5 + i, i + 1));
    CHECK(f.size() == (i >= 2 ? 1u : 0u));
    if (i >= 2) {
      CHECK(f.at(0).ev.u.value.value == 0.0);
      CHECK(u.at(0).ev.u.value.value == 100.0);
    }
  }
}

TEST_CASE("indicator.rsi: equals the textbook loop on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 14u, 50u}) {
      INFO(file << " n=" << n);
      auto h = rsi(static_cast<int>(n));
      check_rows(run(h, bars, 1), textbook(closes(bars), n), 1e-9);
    }
  }
}

TEST_CASE("indicator.rsi: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut inside the warm-up, around the first values (BTC's is event 28, ETH's 29), and later.
  check_streaming([] { return new NodeHarness(rsi(14)); }, both, {5, 27, 28, 29, 30, 301, 999});

  auto mixed = rsi(14);
  const Rows rows = run(mixed, both, 1);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(closes(btc), 14), 1e-12);
  check_rows(e, textbook(closes(eth), 14), 1e-12);
}
