// indicator.cci against hand-worked values and a textbook implementation (mean and mean absolute
// deviation of the typical price by loops over the whole window at every bar, in long double)
// on real daily and minute data, on many ties, and on BTC-level prices with cent moves; short
// windows and, from n = 1,500, the treap.
#include "indicator_stream_checks.hpp"

#include <array>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness cci(int n) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.cci", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

qf_event bar(double high, double low, double close, int64_t t, uint32_t symbol = 1) {
  return qflow::make_bar(symbol, t, close, high, low, close, 1, 60);
}

std::vector<qf_event> bars_of(const std::vector<std::array<double, 3>>& hlc) {
  std::vector<qf_event> out;
  for (const auto& [h, l, c] : hlc) out.push_back(bar(h, l, c, static_cast<int64_t>(out.size() + 1)));
  return out;
}

// CCI the textbook way: tp = (H+L+C)/3 per bar, then at every bar from n-1 on the window's mean
// and mean absolute deviation by two loops in long double; 0 when every tp of the window is
// equal (no deviation) or the last tp is the mean.
Rows textbook(const std::vector<qf_event>& bars, size_t n) {
  std::vector<double> tp;
  for (const qf_event& b : bars) tp.push_back((b.u.bar.high + b.u.bar.low + b.u.bar.close) / 3.0);
  Rows out(bars.size());
  for (size_t i = n - 1; i < bars.size(); ++i) {
    long double mean = 0, mad = 0;
    bool flat = true;
    for (size_t j = i + 1 - n; j <= i; ++j) mean += tp[j], flat = flat && tp[j] == tp[i];
    mean /= static_cast<long double>(n);
    for (size_t j = i + 1 - n; j <= i; ++j) mad += std::fabs(tp[j] - mean);
    mad /= static_cast<long double>(n);
    const long double d = tp[i] - mean;
    out[i] = std::vector<double>{flat || d == 0 ? 0.0 : static_cast<double>(d / (0.015L * mad))};
  }
  return out;
}

// Bars around 70,000 moving by whole cents, 2-4 cents high-low: the deviations are cents
// while the window sums are near 10^6.
std::vector<qf_event> btc_level_cents(size_t count, uint64_t seed) {
  std::vector<qf_event> bars;
  double mid = 70000;
  for (size_t i = 0; i < count; ++i) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    mid += 0.01 * (static_cast<double>(seed >> 61) - 3.5);
    const double spread = 0.01 * static_cast<double>(2 + (seed >> 30) % 3);
    bars.push_back(bar(mid + spread / 2, mid - spread / 2, mid + 0.01 * static_cast<double>((seed >> 40) % 3) - 0.01,
                       static_cast<int64_t>(i + 1)));
  }
  return bars;
}

}  // namespace

TEST_CASE("indicator.cci: hand-worked values, first value at index n-1") {
  // n = 4 on (high, low, close) (2,0,1) (3,1,2) (3,3,3) (6,2,4) (9,6,9): tp = 1 2 3 4 8.
  //   index 3: tp 1 2 3 4, mean 2.5, deviations 1.5 .5 .5 1.5 -> MAD 1; CCI = 1.5/(0.015*1) = 100
  //   index 4: tp 2 3 4 8, mean 4.25, deviations 2.25 1.25 .25 3.75 -> MAD 1.875;
  //            CCI = 3.75/(0.015*1.875) = 400/3
  auto h = cci(4);
  const Rows rows = run(h, bars_of({{2, 0, 1}, {3, 1, 2}, {3, 3, 3}, {6, 2, 4}, {9, 6, 9}}), 1);
  CHECK(first_output(rows) == 3);
  CHECK((*rows[3])[0] == Approx(100.0).epsilon(1e-14));
  CHECK((*rows[4])[0] == Approx(400.0 / 3.0).epsilon(1e-14));
}

TEST_CASE("indicator.cci: the default period is 14, first value at index 13") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.cci", {}, {{"in", "bars"}});
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 40);
  const Rows rows = run(h, bars, 1);
  CHECK(first_output(rows) == 13);
  check_rows(rows, textbook(bars, 14), 1e-12);
}

TEST_CASE("indicator.cci: 0 with no deviation or at the mean, non-finite bars skipped") {
  // A flat window (tp 0.1 three times; its double mean need not be 0.1 exactly) is 0, not a
  // ratio of rounding errors. Then tp 0.1 0.1 0.4: mean 0.2, MAD 0.4/3, CCI = 0.2/(0.002) = 100.
  auto h = cci(3);
  const Rows rows = run(h, bars_of({{0.1, 0.1, 0.1}, {0.1, 0.1, 0.1}, {0.1, 0.1, 0.1}, {0.4, 0.4, 0.4}}), 1);
  CHECK((*rows[2])[0] == 0.0);
  CHECK((*rows[3])[0] == Approx(100.0).epsilon(1e-12));
  // tp 1 3 2: the last is the mean 2 -> 0.
  auto g = cci(3);
  const Rows at_mean = run(g, bars_of({{1, 1, 1}, {3, 3, 3}, {2, 2, 2}}), 1);
  CHECK((*at_mean[2])[0] == 0.0);
  // NaN and infinite bars change nothing: the window is 1 2 3 4 -> 100 as above.
  auto f = cci(4);
  const Rows skipped = run(f, bars_of({{2, 0, 1}, {NAN, 1, 2}, {3, 1, 2}, {3, 3, 3}, {3, -INFINITY, 3}, {6, 2, 4}}), 1);
  CHECK(!skipped[1]);
  CHECK(!skipped[4]);
  CHECK((*skipped[5])[0] == Approx(100.0).epsilon(1e-14));
}

TEST_CASE("indicator.cci: recovers once a value that overflows the sums has left the window") {
  auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 800);
  // Typical prices of 5e307 are finite, four of them in one window sum beyond the double range.
  for (size_t i : {50u, 51u, 52u, 53u}) bars[i].u.bar.high = bars[i].u.bar.low = bars[i].u.bar.close = 5e307;
  for (size_t n : {14u, 300u}) {  // a short and a long window (the treap takes over at 1,500: below)
    INFO("n=" << n);
    auto h = cci(static_cast<int>(n));
    const Rows rows = run(h, bars, 1);
    const Rows want = textbook(bars, n);
    CHECK(!std::isfinite((*rows[n + 40])[0]));
    for (size_t i = 54 + n - 1; i < bars.size(); ++i)
      CHECK((*rows[i])[0] == Approx((*want[i])[0]).epsilon(1e-12).margin(1e-12));
  }
}

TEST_CASE("indicator.cci: equals the textbook loops on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 14u, 100u, 300u}) {
      INFO(file << " n=" << n);
      auto h = cci(static_cast<int>(n));
      check_rows(run(h, bars, 1), textbook(bars, n), 1e-9);
    }
  }
}

TEST_CASE("indicator.cci: many equal values in the window") {
  // tp from {1, 2, 3} only: ties everywhere in the window, flat windows now and then.
  std::vector<qf_event> bars;
  uint64_t state = 3;
  for (int i = 0; i < 20'000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    const double x = static_cast<double>(1 + (state >> 33) % 3);
    bars.push_back(bar(x, x, x, i + 1));
  }
  for (int n : {2, 5, 7, 300}) {
    INFO("n=" << n);
    auto h = cci(n);
    check_rows(run(h, bars, 1), textbook(bars, static_cast<size_t>(n)), 1e-12);
  }
}

TEST_CASE("indicator.cci: BTC-level prices with cent moves match the exact computation to 1e-10") {
  // Sums near 10^6 against deviations of cents: a double running sum of |tp - mean| or of
  // S_above - k*mean would lose about 9 of its 16 digits here.
  const auto bars = btc_level_cents(100'000, 5);
  for (int n : {14, 50, 300}) {
    INFO("n=" << n);
    auto h = cci(n);
    check_rows(run(h, bars, 1), textbook(bars, static_cast<size_t>(n)), 1e-10);
  }
}

TEST_CASE("indicator.cci: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  for (size_t n : {14u, 300u}) {  // a short and a long window (the treap takes over at 1,500: below)
    INFO("n=" << n);
    // Cut inside the warm-up, around the first values (events 2(n-1) and 2(n-1)+1), and later.
    const size_t w = 2 * (n - 1);
    check_streaming([n] { return new NodeHarness(cci(static_cast<int>(n))); }, both,
                    {5, w - 1, w, w + 1, w + 2, 301, 700, 999});

    auto mixed = cci(static_cast<int>(n));
    const Rows rows = run(mixed, both, 1);
    Rows b, e;
    for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
    check_rows(b, textbook(btc, n), 1e-9);
    check_rows(e, textbook(eth, n), 1e-9);
  }
}

// From n = 1,500 the node keeps its window in a treap instead of looping over it.
TEST_CASE("indicator.cci from n = 1,500 (the treap): equals the textbook loops on BTC minutes and cents at 70,000") {
  const auto bars = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 12'000);
  for (int n : {1'500, 2'000}) {
    INFO("n=" << n);
    auto h = cci(n);
    const Rows rows = run(h, bars, 1);
    CHECK(first_output(rows) == static_cast<size_t>(n - 1));
    check_rows(rows, textbook(bars, static_cast<size_t>(n)), 1e-9);
  }
  const auto cents = btc_level_cents(8'000, 5);
  auto h = cci(1'500);
  check_rows(run(h, cents, 1), textbook(cents, 1'500), 1e-10);
}

TEST_CASE("indicator.cci from n = 1,500: recovers once an overflowing value has left, restore rebuilds the tree") {
  auto bars = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 5'000);
  for (size_t i : {100u, 101u, 102u, 103u}) bars[i].u.bar.high = bars[i].u.bar.low = bars[i].u.bar.close = 5e307;
  const size_t n = 1'500;
  auto h = cci(static_cast<int>(n));
  const Rows rows = run(h, bars, 1);
  const Rows want = textbook(bars, n);
  CHECK(!std::isfinite((*rows[n + 50])[0]));
  Rows after(rows.begin() + 104 + n, rows.end()), want_after(want.begin() + 104 + n, want.end());
  check_rows(after, want_after, 1e-9);

  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 2'200),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 2'200));
  const size_t w = 2 * (n - 1);
  check_streaming([] { return new NodeHarness(cci(1'500)); }, both, {5, w - 1, w, w + 1, w + 2, 3'500});
}
