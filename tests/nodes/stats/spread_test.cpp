// stats.spread against hand-worked spreads and z-scores and a textbook loop (two-pass OLS of
// each hedge window, then the two-pass mean and population std of each z window).
#include "stats_test_support.hpp"

using namespace stats_test;

namespace {

// Per pair-completing event: {spread} or {spread, zscore}; nothing before the warm-up.
Rows spread_rows(NodeHarness& h, const std::vector<qf_event>& stream) {
  Rows rows;
  for (size_t i = 0; i < stream.size(); ++i) {
    const auto out = h.push(0, stream[i]);
    if (i % 2 == 0) {
      CHECK(out.empty());  // the first leg of each instant completes nothing
      continue;
    }
    if (out.empty()) {
      rows.emplace_back();
      continue;
    }
    std::vector<double> r;
    for (const auto& o : out) {
      REQUIRE(o.port == r.size());
      CHECK(o.ev.symbol == stream[i].symbol);
      r.push_back(o.ev.u.value.value);
    }
    rows.push_back(r);
  }
  return rows;
}

Rows textbook(std::vector<double> y, std::vector<double> x, size_t hedge, size_t window, bool log) {
  if (log)
    for (size_t i = 0; i < y.size(); ++i) y[i] = std::log(y[i]), x[i] = std::log(x[i]);
  Rows out(y.size());
  std::vector<long double> s;
  for (size_t end = hedge; end <= y.size(); ++end) {
    const Moments m = two_pass(x, y, end, hedge);
    const long double beta = m.sxx == 0 ? 0 : m.sxy / m.sxx;
    s.push_back(y[end - 1] - beta * x[end - 1]);
    std::vector<double> row{static_cast<double>(s.back())};
    if (s.size() >= window) {
      long double mean = 0, var = 0;
      for (size_t i = s.size() - window; i < s.size(); ++i) mean += s[i];
      mean /= static_cast<long double>(window);
      for (size_t i = s.size() - window; i < s.size(); ++i) var += (s[i] - mean) * (s[i] - mean);
      var /= static_cast<long double>(window);
      row.push_back(var == 0 ? 0.0 : static_cast<double>((s.back() - mean) / std::sqrt(var)));
    }
    out[end - 1] = row;
  }
  return out;
}

}  // namespace

TEST_CASE("stats.spread: hand-worked spread and z-score with a fixed beta") {
  // beta = 2, y = 10, 12, 11, 13, x = 4, 5, 4, 6: s = 2, 2, 3, 1 from the first pair.
  // window 3: at pair 3, s = 2, 2, 3: mean 7/3, population variance (1/9 + 1/9 + 4/9)/3 = 2/9,
  //   z = (3 - 7/3) / (sqrt(2)/3) = sqrt(2);
  // at pair 4, s = 2, 3, 1: mean 2, variance 2/3, z = (1 - 2) / sqrt(2/3) = -sqrt(3/2).
  auto h = node("stats.spread", {{"y", "A"}, {"x", "B"}, {"beta", "2"}, {"window", "3"}});
  const uint32_t a = h->intern("A"), b = h->intern("B");
  const Rows rows = spread_rows(*h, interleave(values(a, {10, 12, 11, 13}), values(b, {4, 5, 4, 6})));
  REQUIRE(rows.size() == 4);
  CHECK(*rows[0] == std::vector<double>{2});
  CHECK(*rows[1] == std::vector<double>{2});
  REQUIRE(rows[2]->size() == 2);
  CHECK((*rows[2])[0] == 3);
  CHECK((*rows[2])[1] == Approx(std::sqrt(2.0)).epsilon(1e-14));
  CHECK((*rows[3])[0] == 1);
  CHECK((*rows[3])[1] == Approx(-std::sqrt(1.5)).epsilon(1e-14));
}

TEST_CASE("stats.spread: a spread that does not move has z-score 0") {
  auto h = node("stats.spread", {{"y", "A"}, {"x", "B"}, {"beta", "0.5"}, {"window", "4"}});
  const uint32_t a = h->intern("A"), b = h->intern("B");
  std::vector<double> ys, xs;
  for (int i = 0; i < 10; ++i) xs.push_back(100 + 2 * i), ys.push_back(7 + (100 + 2 * i) * 0.5);
  const Rows rows = spread_rows(*h, interleave(values(a, ys), values(b, xs)));
  for (size_t i = 3; i < rows.size(); ++i) {
    REQUIRE(rows[i]->size() == 2);
    CHECK((*rows[i])[0] == 7);
    CHECK((*rows[i])[1] == 0.0);
  }
}

TEST_CASE("stats.spread: equals the textbook rolling-beta spread and z-score on BTC vs ETH") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 50000);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 50000);
  for (bool log : {false, true}) {
    INFO("log=" << log);
    auto h = node("stats.spread", {{"y", "BTC"}, {"x", "ETH"}, {"hedge_window", "60"}, {"window", "20"}, {"log", log ? "true" : "false"}});
    REQUIRE(h->intern("BTC") == 1);
    REQUIRE(h->intern("ETH") == 2);
    const Rows rows = spread_rows(*h, interleave(btc, eth));
    CHECK(first_output(rows) == 59);
    CHECK(rows[59]->size() == 1);   // spread only
    CHECK(rows[78]->size() == 2);   // window - 1 pairs later, the z-score too
    check_rows(rows, textbook(closes(btc), closes(eth), 60, 20, log), 1e-9);
  }
}

TEST_CASE("stats.spread: batches equal cycles, save and restore continue identically") {
  const auto stream = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 300),
                                 load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 300));
  auto make = [] {
    auto h = node("stats.spread", {{"y", "BTC"}, {"x", "ETH"}, {"hedge_window", "50"}, {"window", "30"}});
    REQUIRE(h->intern("BTC") == 1);
    REQUIRE(h->intern("ETH") == 2);
    return h;
  };
  const auto all = run_all(make, stream);
  REQUIRE(all.size() == 251 + 222);
  CHECK(flat(make()->push_batch(0, stream)) == all);
  for (size_t cut : {9u, 120u, 333u, 550u})
    CHECK(run_with_restore(make, stream, cut) == all);
}
