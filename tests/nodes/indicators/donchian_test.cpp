// indicator.donchian against hand-worked values and a textbook implementation (the highest high
// and lowest low by a loop over the whole window at every bar) on real daily and minute data.
#include "indicator_stream_checks.hpp"

#include <algorithm>
#include <array>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness donchian(int n) {
  return NodeHarness(plugin_path("qflow_indicators"), "indicator.donchian", {{"period", std::to_string(n)}},
                     {{"in", "bars"}});
}

qf_event bar(double high, double low, int64_t t, uint32_t symbol = 1) {
  return qflow::make_bar(symbol, t, low, high, low, high, 1, 60);
}

std::vector<qf_event> bars_of(const std::vector<std::array<double, 2>>& hl) {
  std::vector<qf_event> out;
  for (const auto& [h, l] : hl) out.push_back(bar(h, l, static_cast<int64_t>(out.size() + 1)));
  return out;
}

// The channel the textbook way: scan the last n bars at every bar from n-1 on.
Rows textbook(const std::vector<qf_event>& bars, size_t n) {
  Rows out(bars.size());
  for (size_t i = n - 1; i < bars.size(); ++i) {
    double hh = -INFINITY, ll = INFINITY;
    for (size_t j = i + 1 - n; j <= i; ++j) {
      hh = std::max(hh, bars[j].u.bar.high);
      ll = std::min(ll, bars[j].u.bar.low);
    }
    out[i] = std::vector<double>{hh, ll, (hh + ll) / 2};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.donchian: hand-worked values, first value at index n-1") {
  // n = 3 on (high, low): (10,8) (12,9) (11,7) (13,10) (12,11) (12,10) (9,8)
  //   index 2: upper 12, lower 7, middle 9.5     index 3: 13, 7, 10
  //   index 4: 13, 7, 10                         index 5: 13, 10, 11.5 (the 7 has left)
  //   index 6: 12, 8, 10 (the 13 has left; 12 appears twice in the window)
  auto h = donchian(3);
  const Rows rows = run(h, bars_of({{10, 8}, {12, 9}, {11, 7}, {13, 10}, {12, 11}, {12, 10}, {9, 8}}), 3);
  CHECK(first_output(rows) == 2);
  CHECK(*rows[2] == std::vector<double>{12, 7, 9.5});
  CHECK(*rows[3] == std::vector<double>{13, 7, 10});
  CHECK(*rows[4] == std::vector<double>{13, 7, 10});
  CHECK(*rows[5] == std::vector<double>{13, 10, 11.5});
  CHECK(*rows[6] == std::vector<double>{12, 8, 10});
}

TEST_CASE("indicator.donchian: the default period is 20, first value at index 19, ports by name") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.donchian", {}, {{"in", "bars"}});
  CHECK(h.output_port("upper") == 0);
  CHECK(h.output_port("lower") == 1);
  CHECK(h.output_port("middle") == 2);
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 60);
  const Rows rows = run(h, bars, 3);
  CHECK(first_output(rows) == 19);
  check_rows(rows, textbook(bars, 20), 0);
}

TEST_CASE("indicator.donchian: a period of 1 is the bar itself, non-finite bars are skipped") {
  auto one = donchian(1);
  const Rows rows = run(one, bars_of({{5, 4}, {7, 7}}), 3);
  CHECK(*rows[0] == std::vector<double>{5, 4, 4.5});
  CHECK(*rows[1] == std::vector<double>{7, 7, 7});
  auto h = donchian(2);
  const Rows skipped = run(h, bars_of({{5, 4}, {NAN, 1}, {6, -INFINITY}, {7, 5}}), 3);
  CHECK(!skipped[1]);
  CHECK(!skipped[2]);
  CHECK(*skipped[3] == std::vector<double>{7, 4, 5.5});
}

TEST_CASE("indicator.donchian: equals the textbook scan exactly on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 20u, 55u, 500u}) {
      INFO(file << " n=" << n);
      auto h = donchian(static_cast<int>(n));
      check_rows(run(h, bars, 3), textbook(bars, n), 0);
    }
  }
}

TEST_CASE("indicator.donchian: monotone runs, plateaus and ties keep the right extreme") {
  // Rising then falling then flat: the deque empties at each new high (rising), fills to n while
  // falling, and holds equal values on the plateau; each checked against the scan.
  std::vector<qf_event> bars;
  for (int i = 0; i < 30; ++i) bars.push_back(bar(100 + i, 90 + i, i + 1));
  for (int i = 0; i < 30; ++i) bars.push_back(bar(130 - i, 120 - i, 31 + i));
  for (int i = 0; i < 30; ++i) bars.push_back(bar(105, 95, 61 + i));
  for (int i = 0; i < 30; ++i) bars.push_back(bar(105 + (i % 2), 95 - (i % 3), 91 + i));
  for (int n : {1, 4, 7}) {
    INFO("n=" << n);
    auto h = donchian(n);
    check_rows(run(h, bars, 3), textbook(bars, static_cast<size_t>(n)), 0);
  }
}

TEST_CASE("indicator.donchian: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  // Cut inside the warm-up, around the first values (BTC's is event 38, ETH's 39), and later.
  check_streaming([] { return new NodeHarness(donchian(20)); }, both, {5, 37, 38, 39, 40, 301, 999});

  auto mixed = donchian(20);
  const Rows rows = run(mixed, both, 3);
  Rows b, e;
  for (size_t i = 0; i < rows.size(); ++i) (i % 2 ? e : b).push_back(rows[i]);
  check_rows(b, textbook(btc, 20), 0);
  check_rows(e, textbook(eth, 20), 0);

  // Each bar's lines come out in port order: upper, lower, middle (batches emit what cycles do).
  auto batched = donchian(20);
  const auto out = batched.push_batch(0, both);
  for (size_t i = 0; i < out.size(); ++i) CHECK(out[i].port == i % 3);
}
