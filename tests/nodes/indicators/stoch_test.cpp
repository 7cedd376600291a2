// indicator.stoch against hand-worked values and a textbook implementation (highest high, lowest
// low and both averages by loops over their whole windows at every bar) on real daily and minute
// data.
#include "indicator_stream_checks.hpp"

#include <algorithm>
#include <array>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness stoch(int fastk, int slowk, int slowd) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.stoch",
                     {{"fastk_period", std::to_string(fastk)}, {"slowk_period", std::to_string(slowk)},
                      {"slowd_period", std::to_string(slowd)}},
                     {{"in", "bars"}});
}

qf_event bar(double high, double low, double close, int64_t t, uint32_t symbol = 1) {
  return qflow::make_bar(symbol, t, close, high, low, close, 1, 60);
}

std::vector<qf_event> bars_of(const std::vector<std::array<double, 3>>& hlc) {
  std::vector<qf_event> out;
  for (const auto& [h, l, c] : hlc) out.push_back(bar(h, l, c, static_cast<int64_t>(out.size() + 1)));
  return out;
}

// The slow stochastic the textbook way: fast %K at every bar from fk-1 on by scanning its
// window; slow %K the mean of the last sk fast %K; slow %D the mean of the last sd slow %K;
// both reported from bar (fk-1)+(sk-1)+(sd-1) on.
Rows textbook(const std::vector<qf_event>& bars, size_t fk, size_t sk, size_t sd) {
  const size_t m = bars.size();
  std::vector<double> fast(m, NAN), slowk(m, NAN);
  for (size_t i = fk - 1; i < m; ++i) {
    double hh = -INFINITY, ll = INFINITY;
    for (size_t j = i + 1 - fk; j <= i; ++j) hh = std::max(hh, bars[j].u.bar.high), ll = std::min(ll, bars[j].u.bar.low);
    fast[i] = hh == ll ? 0.0 : 100.0 * (bars[i].u.bar.close - ll) / (hh - ll);
  }
  for (size_t i = fk + sk - 2; i < m; ++i) {
    long double s = 0;
    for (size_t j = i + 1 - sk; j <= i; ++j) s += fast[j];
    slowk[i] = static_cast<double>(s / static_cast<long double>(sk));
  }
  Rows out(m);
  for (size_t i = fk + sk + sd - 3; i < m; ++i) {
    long double s = 0;
    for (size_t j = i + 1 - sd; j <= i; ++j) s += slowk[j];
    out[i] = std::vector<double>{slowk[i], static_cast<double>(s / static_cast<long double>(sd))};
  }
  return out;
}

// Bar 50 of ORCL gets a range beyond the largest double: slow %K is NaN at `nan_row`, inside the
// windows that hold it, and equals the textbook loops once bar 50 has left all three windows.
void check_overflow_recovery(int fk, int sk, int sd, size_t count, size_t nan_row) {
  auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, count);
  bars[50].u.bar.high = 1e308;
  bars[50].u.bar.low = -1e308;
  auto h = stoch(fk, sk, sd);
  const Rows rows = run(h, bars, 2);
  const Rows want = textbook(bars, static_cast<size_t>(fk), static_cast<size_t>(sk), static_cast<size_t>(sd));
  CHECK(std::isnan((*rows[nan_row])[0]));
  for (size_t i = 50 + static_cast<size_t>(fk + sk + sd - 3) + 1; i < bars.size(); ++i)
    for (size_t k = 0; k < 2; ++k) CHECK((*rows[i])[k] == Approx((*want[i])[k]).epsilon(1e-12).margin(1e-12));
}

}  // namespace

TEST_CASE("indicator.stoch: hand-worked values, first value at index (fk-1)+(sk-1)+(sd-1)") {
  // fastk 3, slowk 2, slowd 2 on (high, low, close):
  //   (10,8,9) (12,9,11) (11,7,8) (13,10,13) (12,11,11) (12,10,10)
  //   fast %K: index 2: HH 12 LL 7 -> 100*(8-7)/5 = 20;  3: HH 13 LL 7 -> 100*6/6 = 100;
  //            4: HH 13 LL 7 -> 100*4/6 = 200/3;         5: HH 13 LL 10 -> 100*0/3 = 0
  //   slow %K: index 3: (20+100)/2 = 60;  4: (100+200/3)/2 = 250/3;  5: (200/3+0)/2 = 100/3
  //   slow %D: index 4: (60+250/3)/2 = 215/3;  5: (250/3+100/3)/2 = 175/3
  //   first output at 2+1+1 = 4, both lines together.
  auto h = stoch(3, 2, 2);
  const Rows rows = run(h, bars_of({{10, 8, 9}, {12, 9, 11}, {11, 7, 8}, {13, 10, 13}, {12, 11, 11}, {12, 10, 10}}), 2);
  CHECK(first_output(rows) == 4);
  CHECK((*rows[4])[0] == Approx(250.0 / 3.0).epsilon(1e-14));
  CHECK((*rows[4])[1] == Approx(215.0 / 3.0).epsilon(1e-14));
  CHECK((*rows[5])[0] == Approx(100.0 / 3.0).epsilon(1e-14));
  CHECK((*rows[5])[1] == Approx(175.0 / 3.0).epsilon(1e-14));
}

TEST_CASE("indicator.stoch: the defaults are 14/3/3, first value at index 17") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.stoch", {}, {{"in", "bars"}});
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 60);
  const Rows rows = run(h, bars, 2);
  CHECK(first_output(rows) == 17);
  check_rows(rows, textbook(bars, 14, 3, 3), 1e-12);
}

TEST_CASE("indicator.stoch: a window with no range gives fast %K 0, non-finite bars are skipped") {
  // fastk 2, slowk 1, slowd 1 (slow lines = fast %K): flat bars are 0, then (6,4,6) after (5,5,5)
  // has HH 6 LL 4 -> 100.
  auto h = stoch(2, 1, 1);
  const Rows rows = run(h, bars_of({{5, 5, 5}, {5, 5, 5}, {5, 5, 5}, {6, 4, 6}}), 2);
  CHECK(first_output(rows) == 1);
  CHECK(*rows[1] == std::vector<double>{0.0, 0.0});
  CHECK(*rows[2] == std::vector<double>{0.0, 0.0});
  CHECK(*rows[3] == std::vector<double>{100.0, 100.0});
  auto g = stoch(2, 1, 1);
  const Rows skipped = run(g, bars_of({{5, 5, 5}, {5, NAN, 5}, {6, 4, 6}, {6, 4, INFINITY}}), 2);
  CHECK(!skipped[1]);
  CHECK(*skipped[2] == std::vector<double>{100.0, 100.0});
  CHECK(!skipped[3]);
}

TEST_CASE("indicator.stoch: recovers once a bar whose range overflows has left the windows") {
  // HH - LL beyond the largest double makes one fast %K NaN; the running sums must not keep it.
  check_overflow_recovery(14, 3, 3, 200, 55);
}

TEST_CASE("indicator.stoch: equals the textbook loops on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (const auto& [fk, sk, sd] : {std::array<size_t, 3>{14, 3, 3}, {5, 1, 1}, {30, 7, 4}}) {
      INFO(file << " " << fk << "/" << sk << "/" << sd);
      auto h = stoch(static_cast<int>(fk), static_cast<int>(sk), static_cast<int>(sd));
      check_rows(run(h, bars, 2), textbook(bars, fk, sk, sd), 1e-9);
    }
  }
}

TEST_CASE("indicator.stoch: 200,000 BTC-level bars with cent moves, the averages do not drift") {
  // The running sums of %K add and remove values for 200,000 bars; they must still equal a fresh
  // sum of the window (to 1e-12 of 100).
  std::vector<qf_event> bars;
  uint64_t state = 9;
  double mid = 70000;
  for (int i = 0; i < 200'000; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    mid += 0.01 * (static_cast<double>(state >> 61) - 3.5);
    bars.push_back(bar(mid + 0.02, mid - 0.01, mid + 0.01 * static_cast<double>((state >> 40) % 3) - 0.01, i + 1));
  }
  auto h = stoch(14, 3, 3);
  check_rows(run(h, bars, 2), textbook(bars, 14, 3, 3), 1e-12);
}

TEST_CASE("indicator.stoch: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut while %K warms up, while %D warms up, around the first values (events 34 and 35), and later.
  check_streaming([] { return new NodeHarness(stoch(14, 3, 3)); }, both, {5, 27, 31, 33, 34, 35, 36, 301, 999});

  auto mixed = stoch(14, 3, 3);
  const Rows rows = run(mixed, both, 2);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(btc, 14, 3, 3), 1e-12);
  check_rows(e, textbook(eth, 14, 3, 3), 1e-12);

  // Each bar's lines come out in port order, %K then %D (batches emit what cycles do).
  auto batched = stoch(14, 3, 3);
  const auto out = batched.push_batch(0, both);
  for (size_t i = 0; i < out.size(); ++i) CHECK(out[i].port == i % 2);
}

// Averages of more than 8 values are kept as running sums instead of summed afresh.
TEST_CASE("indicator.stoch with averages over more than 8 values (running sums): equals the textbook, recovers") {
  const auto bars = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 30'000);
  for (const auto& [fk, sk, sd] : {std::array<int, 3>{14, 9, 3}, {14, 3, 12}, {5, 30, 20}}) {
    INFO(fk << "/" << sk << "/" << sd);
    auto h = stoch(fk, sk, sd);
    const Rows rows = run(h, bars, 2);
    CHECK(first_output(rows) == static_cast<size_t>(fk + sk + sd - 3));
    check_rows(rows, textbook(bars, static_cast<size_t>(fk), static_cast<size_t>(sk), static_cast<size_t>(sd)), 1e-9);
  }
  // A range beyond the largest double makes one fast %K NaN: the running sums recover.
  check_overflow_recovery(14, 10, 12, 400, 70);

  const auto both = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 400),
                               load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 400));
  check_streaming([] { return new NodeHarness(stoch(14, 10, 12)); }, both, {5, 40, 69, 70, 71, 301});
}
