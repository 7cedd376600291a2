// indicator.macd against hand-worked values and a textbook implementation (each EMA written as
// its recurrence over the whole series, seeds as plain means) on real daily and minute data.
#include "indicator_stream_checks.hpp"

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* make_macd(int fast, int slow, int signal) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.macd",
                         {{"fast", std::to_string(fast)}, {"slow", std::to_string(slow)}, {"signal", std::to_string(signal)}},
                         {{"in", "bars"}});
}

qf_event bar(double close, int64_t t, uint32_t symbol = 1) { return qflow::make_bar(symbol, t, close, close, close, close, 1, 60); }

std::vector<qf_event> bars_of(const std::vector<double>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i) b.push_back(bar(x[i], static_cast<int64_t>(i + 1)));
  return b;
}

double mean(const std::vector<double>& x, size_t from, size_t to) {  // of x[from..to]
  double s = 0;
  for (size_t i = from; i <= to; ++i) s += x[i];
  return s / static_cast<double>(to - from + 1);
}

// TA-Lib's MACD the textbook way: an EMA e_t = a x_t + (1 - a) e_{t-1}, a = 2/(n+1), started at
// index `start` with the mean of the n values ending there.
std::vector<double> ema_from(const std::vector<double>& x, size_t n, size_t start) {
  std::vector<double> e(x.size(), 0.0);
  const double a = 2.0 / (static_cast<double>(n) + 1);
  e[start] = mean(x, start + 1 - n, start);
  for (size_t i = start + 1; i < x.size(); ++i) e[i] = a * x[i] + (1 - a) * e[i - 1];
  return e;
}

Rows textbook(const std::vector<double>& x, size_t fast, size_t slow, size_t signal) {
  Rows out(x.size());
  if (x.size() < slow + signal - 1) return out;
  const std::vector<double> f = ema_from(x, fast, slow - 1), s = ema_from(x, slow, slow - 1);
  std::vector<double> macd(x.size(), 0.0);
  for (size_t i = slow - 1; i < x.size(); ++i) macd[i] = f[i] - s[i];
  const std::vector<double> sig = ema_from(macd, signal, slow + signal - 2);
  for (size_t i = slow + signal - 2; i < x.size(); ++i) out[i] = std::vector<double>{macd[i], sig[i], macd[i] - sig[i]};
  return out;
}

}  // namespace

TEST_CASE("indicator.macd: hand-worked values, all outputs from index slow+signal-2") {
  // fast 2 (k 2/3), slow 3 (k 1/2), signal 2 (k 2/3) on 1, 2, 4, 3, 5, 1:
  //   index 2: slow = (1+2+4)/3 = 7/3, fast = (2+4)/2 = 3 (only the last 2), macd 2/3
  //   index 3: fast = 3 + 2/3 (3-3) = 3, slow = 7/3 + 1/2 (3 - 7/3) = 8/3, macd 1/3;
  //            signal = (2/3 + 1/3)/2 = 1/2, hist = 1/3 - 1/2 = -1/6        <- first output
  //   index 4: fast = 3 + 2/3 (5-3) = 13/3, slow = 8/3 + 1/2 (5 - 8/3) = 23/6, macd 1/2;
  //            signal = 1/2 + 2/3 (1/2 - 1/2) = 1/2, hist 0
  //   index 5: fast = 13/3 + 2/3 (1 - 13/3) = 19/9, slow = 23/6 + 1/2 (1 - 23/6) = 29/12,
  //            macd = 19/9 - 29/12 = -11/36; signal = 1/2 + 2/3 (-11/36 - 1/2) = -1/27,
  //            hist = -11/36 + 1/27 = -29/108
  std::unique_ptr<NodeHarness> h(make_macd(2, 3, 2));
  const Rows rows = run(*h, bars_of({1, 2, 4, 3, 5, 1}), 3);
  CHECK(first_output(rows) == 3);
  const std::vector<std::vector<double>> want{{1.0 / 3, 1.0 / 2, -1.0 / 6}, {1.0 / 2, 1.0 / 2, 0}, {-11.0 / 36, -1.0 / 27, -29.0 / 108}};
  for (size_t i = 0; i < want.size(); ++i)
    for (size_t k = 0; k < 3; ++k) CHECK((*rows[i + 3])[k] == Approx(want[i][k]).epsilon(1e-14).margin(1e-15));

  // A fast period longer than the slow one is swapped, as TA-Lib does.
  std::unique_ptr<NodeHarness> swapped(make_macd(3, 2, 2));
  CHECK(run(*swapped, bars_of({1, 2, 4, 3, 5, 1}), 3) == rows);
}

TEST_CASE("indicator.macd: TA-Lib's defaults 12/26/9 start at index 33") {
  NodeHarness d(plugin_path("qflow_indicators"), "indicator.macd", {}, {{"in", "bars"}});
  CHECK(d.output_port("macd") == 0);
  CHECK(d.output_port("signal") == 1);
  CHECK(d.output_port("hist") == 2);
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 200);
  const Rows rows = run(d, bars, 3);
  CHECK(first_output(rows) == 33);
  check_rows(rows, textbook(closes(bars), 12, 26, 9), 1e-12);
}

TEST_CASE("indicator.macd: equals the textbook recurrences on ORCL daily and BTC minute closes") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (const auto& [fast, slow, signal] : {std::tuple{12, 26, 9}, std::tuple{2, 3, 1}, std::tuple{5, 35, 5}, std::tuple{20, 50, 15}}) {
      INFO(file << " " << fast << "/" << slow << "/" << signal);
      std::unique_ptr<NodeHarness> h(make_macd(fast, slow, signal));
      const Rows rows = run(*h, bars, 3);
      CHECK(first_output(rows) == static_cast<size_t>(slow + signal - 2));
      // macd, signal and hist are differences of prices: relative to the price they come from.
      check_rows(rows, textbook(closes(bars), static_cast<size_t>(fast), static_cast<size_t>(slow), static_cast<size_t>(signal)), 1e-9);
    }
  }
}

TEST_CASE("indicator.macd: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return make_macd(12, 26, 9); }, both, {5, 30, 60, 67, 301, 999});

  std::unique_ptr<NodeHarness> mixed(make_macd(12, 26, 9));
  const Rows rows = run(*mixed, both, 3);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(closes(btc), 12, 26, 9), 1e-9);
  check_rows(e, textbook(closes(eth), 12, 26, 9), 1e-9);
}
