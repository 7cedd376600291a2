// example.momentum (examples/plugin_momentum/momentum.cpp), built in this tree: values against
// the textbook formula, warm-up, field and value inputs, the zero base, and state round trips.
#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using qflow::testing::NodeHarness;

namespace {
const std::string kPlugin = QFLOW_EXAMPLE_MOMENTUM_PLUGIN;

qf_event close_bar(double close, int64_t t) { return qflow::make_bar(1, t, close, close, close, close, 1, 60); }

NodeHarness momentum(int period, const std::string& field = "close") {
  return NodeHarness(kPlugin, "example.momentum", {{"period", std::to_string(period)}, {"field", field}}, {{"in", "bars"}});
}

// Pushes closes[from, to) and returns what was emitted, one entry per input (NaN = nothing).
std::vector<double> feed(NodeHarness& h, const std::vector<double>& closes, size_t from, size_t to) {
  std::vector<double> out;
  for (size_t i = from; i < to; ++i) {
    const auto o = h.push(0, close_bar(closes[i], static_cast<int64_t>(i + 1)));
    REQUIRE(o.size() <= 1);
    out.push_back(o.empty() ? std::nan("") : o[0].ev.u.value.value);
  }
  return out;
}

std::vector<double> orcl_closes() {
  std::ifstream f(std::string(QFLOW_SOURCE_DIR) + "/pipelines/data/orcl_1995_2014_daily_yahoo.csv");
  REQUIRE(f);
  std::string line;
  std::getline(f, line);  // Date,Open,High,Low,Close,Adj Close,Volume
  std::vector<double> closes;
  while (std::getline(f, line)) {
    std::stringstream cells(line);
    std::string cell;
    for (int i = 0; i < 5; ++i) std::getline(cells, cell, ',');
    closes.push_back(std::stod(cell));
  }
  return closes;
}

bool same(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}
}  // namespace

TEST_CASE("example.momentum: hand-worked values and warm-up") {
  NodeHarness h = momentum(2);
  CHECK(h.push(0, close_bar(100, 1)).empty());
  CHECK(h.push(0, close_bar(80, 2)).empty());
  auto out = h.push(0, close_bar(110, 3));  // 110 / 100 - 1
  REQUIRE(out.size() == 1);
  CHECK(out[0].ev.kind == QF_KIND_VALUE);
  CHECK(out[0].ev.symbol == 1);
  CHECK(out[0].ev.u.value.value == 110.0 / 100.0 - 1.0);
  CHECK(h.push(0, close_bar(60, 4)).at(0).ev.u.value.value == -0.25);  // 60 / 80 - 1

  NodeHarness one = momentum(1);
  CHECK(one.push(0, close_bar(4, 1)).empty());
  CHECK(one.push(0, close_bar(5, 2)).at(0).ev.u.value.value == 0.25);
}

TEST_CASE("example.momentum: reads the chosen field and value inputs") {
  NodeHarness h = momentum(1, "high");
  h.push(0, qflow::make_bar(1, 1, 1, 4, 0.5, 2, 1, 60));
  CHECK(h.push(0, qflow::make_bar(1, 2, 1, 6, 0.5, 2, 1, 60)).at(0).ev.u.value.value == 0.5);

  NodeHarness v(kPlugin, "example.momentum", {{"period", "1"}}, {{"in", "spread"}});
  v.push(0, qflow::make_value(1, 2.0, 1));
  CHECK(v.push(0, qflow::make_value(1, 3.0, 2)).at(0).ev.u.value.value == 0.5);
}

TEST_CASE("example.momentum: nothing is emitted over a zero base") {
  NodeHarness h(kPlugin, "example.momentum", {{"period", "1"}}, {{"in", "spread"}});
  h.push(0, qflow::make_value(1, 0.0, 1));
  CHECK(h.push(0, qflow::make_value(1, 3.0, 2)).empty());
  CHECK(h.push(0, qflow::make_value(1, 6.0, 3)).at(0).ev.u.value.value == 1.0);
}

TEST_CASE("example.momentum: equals close_t / close_{t-n} - 1 on ORCL daily closes") {
  const std::vector<double> c = orcl_closes();
  REQUIRE(c.size() == 5036);
  for (int n : {1, 20, 250}) {
    NodeHarness h = momentum(n);
    const std::vector<double> got = feed(h, c, 0, c.size());
    for (size_t i = 0; i < c.size(); ++i) {
      if (i < static_cast<size_t>(n)) {
        REQUIRE(std::isnan(got[i]));
      } else {
        REQUIRE(got[i] == c[i] / c[i - static_cast<size_t>(n)] - 1.0);
      }
    }
  }
}

TEST_CASE("example.momentum: restore then continue equals never stopping") {
  const std::vector<double> c{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4};
  NodeHarness whole = momentum(4);
  const std::vector<double> expected = feed(whole, c, 0, c.size());
  for (size_t cut : {0u, 2u, 4u, 5u, 11u, 19u}) {  // inside the warm-up, at its end, after it
    NodeHarness first = momentum(4);
    NodeHarness second = momentum(4);
    std::vector<double> got = feed(first, c, 0, cut);
    second.restore_state(first.save_state());
    const std::vector<double> rest = feed(second, c, cut, c.size());
    got.insert(got.end(), rest.begin(), rest.end());
    INFO("cut at " << cut);
    CHECK(same(got, expected));
  }
}

TEST_CASE("example.momentum: refuses a damaged or foreign state") {
  NodeHarness h = momentum(4);
  CHECK_THROWS_WITH(h.restore_state(std::string(3, 'x')), "node state is truncated");

  NodeHarness longer = momentum(6);
  feed(longer, {1, 2, 3, 4, 5, 6, 7}, 0, 7);
  CHECK_THROWS_WITH(h.restore_state(longer.save_state()),
                    "momentum state holds 6 inputs, more than period 4");
}
