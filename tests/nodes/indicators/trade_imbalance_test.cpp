// indicator.trade_imbalance against hand-worked values and a textbook implementation (for every
// tick, its window classified afresh: the aggressor when known, else the tick rule by scanning
// back through the whole history for the last different price) on the backtrader futures tick
// sample and on synthetic ticks with a mix of known and unknown aggressors.
#include "indicator_stream_checks.hpp"

#include <random>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* imbalance(int n) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.trade_imbalance", {{"window", std::to_string(n)}}, {{"in", "ticks"}});
}

qf_event tick(double price, double size, int32_t aggressor, int64_t t, uint32_t symbol = 1) {
  qf_event e = qflow::make_event(qflow::Kind::tick, symbol, t);
  e.u.tick.price = price;
  e.u.tick.size = size;
  e.u.tick.aggressor = aggressor;
  return e;
}

Rows textbook(const std::vector<qf_event>& ticks, size_t n) {
  auto side = [&](size_t j) {
    const qf_tick& t = ticks[j].u.tick;
    if (t.aggressor != 0) return t.aggressor;
    for (size_t i = j; i-- > 0;)
      if (ticks[i].u.tick.price != t.price) return ticks[i].u.tick.price < t.price ? QF_SIDE_BUY : QF_SIDE_SELL;
    return 0;
  };
  Rows out(ticks.size());
  for (size_t i = n - 1; i < ticks.size(); ++i) {
    long double buy = 0, sell = 0;
    for (size_t j = i + 1 - n; j <= i; ++j) {
      const int s = side(j);
      if (s == QF_SIDE_BUY) buy += ticks[j].u.tick.size;
      if (s == QF_SIDE_SELL) sell += ticks[j].u.tick.size;
    }
    out[i] = std::vector<double>{buy + sell == 0 ? 0.0 : static_cast<double>((buy - sell) / (buy + sell))};
  }
  return out;
}

// The backtrader tick sample (trade prices and sizes, no aggressor) as ticks.
std::vector<qf_event> sample_ticks(uint32_t symbol = 1) {
  std::ifstream in(data("backtrader_ticksample.csv"));
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<qf_event> out;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    std::vector<std::string> cells;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    REQUIRE(cells.size() == 7);
    const auto t = qflow::parse_time(cells[0]);
    REQUIRE(t.has_value());
    out.push_back(tick(std::stod(cells[4]), std::stod(cells[5]), 0, *t, symbol));
  }
  return out;
}

// Prices on a 0.5 grid moving by -1..+1 ticks, fractional sizes (some 0), a third of the
// aggressors unknown.
std::vector<qf_event> synthetic_ticks(size_t count, uint32_t seed, uint32_t symbol = 1) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> move(-1, 1), side(0, 2), zero(0, 19);
  std::uniform_real_distribution<double> size(0.001, 2.0);
  std::vector<qf_event> out;
  double price = 3000;
  for (size_t i = 0; i < count; ++i) {
    price += 0.5 * move(rng);
    const int s = side(rng);
    out.push_back(tick(price, zero(rng) == 0 ? 0.0 : size(rng), s == 0 ? 0 : s == 1 ? QF_SIDE_BUY : QF_SIDE_SELL,
                       static_cast<int64_t>(i + 1), symbol));
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.trade_imbalance: hand-worked values, first value at the n-th tick") {
  // window 3; ticks (price, size, aggressor):
  //   (100, 1, buy) (101, 2, ?) -> uptick: buy (101, 3, ?) -> unchanged: still buy
  //   index 2: buy 1+2+3 = 6, sell 0: 1.
  //   (100, 4, sell): window buy 2+3, sell 4: (5-4)/9 = 1/9.
  //   (99, 5, ?) -> downtick: sell: window buy 3, sell 4+5: (3-9)/12 = -1/2.
  //   (99, 6, buy) -> the aggressor wins over the tick rule: buy 6, sell 9: -3/15 = -1/5.
  //   (99, 7, ?) -> unchanged after the last change (down): sell: buy 6, sell 5+7: -6/18 = -1/3.
  std::unique_ptr<NodeHarness> h(imbalance(3));
  const Rows rows = run(*h, {tick(100, 1, QF_SIDE_BUY, 1), tick(101, 2, 0, 2), tick(101, 3, 0, 3), tick(100, 4, QF_SIDE_SELL, 4),
                             tick(99, 5, 0, 5), tick(99, 6, QF_SIDE_BUY, 6), tick(99, 7, 0, 7)}, 1);
  CHECK(first_output(rows) == 2);
  CHECK((*rows[2])[0] == 1.0);
  CHECK((*rows[3])[0] == Approx(1.0 / 9).epsilon(1e-15));
  CHECK((*rows[4])[0] == -0.5);
  CHECK((*rows[5])[0] == Approx(-0.2).epsilon(1e-15));
  CHECK((*rows[6])[0] == Approx(-1.0 / 3).epsilon(1e-15));
}

TEST_CASE("indicator.trade_imbalance: no side before the first price change, no volume is 0, a bad size is NaN while inside") {
  std::unique_ptr<NodeHarness> h(imbalance(2));
  const Rows rows = run(*h, {tick(100, 1, 0, 1), tick(100, 1, 0, 2), tick(100, 0, QF_SIDE_BUY, 3), tick(101, 2, 0, 4),
                             tick(101, NAN, 0, 5), tick(101, 1, QF_SIDE_SELL, 6), tick(101, 3, 0, 7)}, 1);
  CHECK((*rows[1])[0] == 0.0);  // two ticks without a side
  CHECK((*rows[2])[0] == 0.0);  // a sideless tick and a buy of size 0
  CHECK((*rows[3])[0] == 1.0);  // uptick: buy 2
  CHECK(std::isnan((*rows[4])[0]));
  CHECK(std::isnan((*rows[5])[0]));
  CHECK((*rows[6])[0] == Approx(0.5).epsilon(1e-15));  // sell 1, buy 3 (still the uptick's side)
}

TEST_CASE("indicator.trade_imbalance: equals the textbook classification on the tick sample and synthetic ticks") {
  const auto sample = sample_ticks();
  REQUIRE(sample.size() == 135);
  for (int n : {1, 10, 50}) {
    INFO("sample n=" << n);
    std::unique_ptr<NodeHarness> h(imbalance(n));
    check_rows(run(*h, sample, 1), textbook(sample, static_cast<size_t>(n)), 1e-12);
  }
  const auto synthetic = synthetic_ticks(20'000, 5);
  for (int n : {1, 7, 100, 1000}) {
    INFO("synthetic n=" << n);
    std::unique_ptr<NodeHarness> h(imbalance(n));
    check_rows(run(*h, synthetic, 1), textbook(synthetic, static_cast<size_t>(n)), 1e-12);
  }
}

TEST_CASE("indicator.trade_imbalance: symbols keep their own series, batches equal cycles, restore continues") {
  const auto both = interleave(synthetic_ticks(600, 1, 1), synthetic_ticks(600, 2, 2));
  check_streaming([] { return imbalance(100); }, both, {3, 199, 1001});
}
