#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {
qf_event close_bar(double close, int64_t t) { return qflow::make_bar(1, t, close, close, close, close, 1, 60); }

// Close column of a Yahoo daily CSV (Date,Open,High,Low,Close,Adj Close,Volume).
std::vector<double> yahoo_closes(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<double> out;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    for (int i = 0; i < 5; ++i) std::getline(row, cell, ',');
    out.push_back(std::stod(cell));
  }
  return out;
}

// The textbook definition, written the other way round: seed = mean of the first n, then
// ema_t = alpha * x_t + (1 - alpha) * ema_{t-1}.
std::vector<double> textbook_ema(const std::vector<double>& x, size_t n) {
  const double alpha = 2.0 / (static_cast<double>(n) + 1.0);
  std::vector<double> out;
  double seed = 0;
  for (size_t i = 0; i < n; ++i) seed += x[i];
  double ema = seed / static_cast<double>(n);
  out.push_back(ema);
  for (size_t i = n; i < x.size(); ++i) {
    ema = alpha * x[i] + (1.0 - alpha) * ema;
    out.push_back(ema);
  }
  return out;
}
}  // namespace

TEST_CASE("indicator.ema: hand-worked values and warm-up") {
  // period 3: k = 0.5, seed = (1+2+6)/3 = 3, then 3+0.5*(10-3) = 6.5, then 6.5+0.5*(4-6.5) = 5.25
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "3"}}, {{"in", "bars"}});
  h.start();
  CHECK(h.push(0, close_bar(1, 1)).empty());
  CHECK(h.push(0, close_bar(2, 2)).empty());
  auto out = h.push(0, close_bar(6, 3));
  REQUIRE(out.size() == 1);
  CHECK(out[0].ev.kind == QF_KIND_VALUE);
  CHECK(out[0].ev.symbol == 1);
  CHECK(out[0].ev.u.value.value == 3.0);
  CHECK(h.push(0, close_bar(10, 4)).at(0).ev.u.value.value == 6.5);
  CHECK(h.push(0, close_bar(4, 5)).at(0).ev.u.value.value == 5.25);
}

TEST_CASE("indicator.ema: period 1 follows the input, field and value inputs") {
  NodeHarness one(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "1"}}, {{"in", "bars"}});
  CHECK(one.push(0, close_bar(7, 1)).at(0).ev.u.value.value == 7.0);
  CHECK(one.push(0, close_bar(-2, 2)).at(0).ev.u.value.value == -2.0);

  // period 4: k = 0.4; seed of highs (5+7+1+3)/4 = 4, then 4 + 0.4*(9-4) = 6
  NodeHarness hi(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "4"}, {"field", "high"}},
                 {{"in", "bars"}});
  const double highs[] = {5, 7, 1, 3};
  for (int i = 0; i < 4; ++i) {
    auto out = hi.push(0, qflow::make_bar(1, i + 1, 0, highs[i], 0, 100, 1, 60));
    CHECK(out.size() == (i == 3 ? 1u : 0u));
    if (i == 3) CHECK(out.at(0).ev.u.value.value == 4.0);
  }
  CHECK(hi.push(0, qflow::make_bar(1, 5, 0, 9, 0, 100, 1, 60)).at(0).ev.u.value.value == Approx(6.0).epsilon(1e-15));

  NodeHarness v(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "2"}}, {{"in", "fast"}});
  CHECK(v.push(0, qflow::make_value(1, 4.0, 1)).empty());
  CHECK(v.push(0, qflow::make_value(1, 8.0, 2)).at(0).ev.u.value.value == 6.0);
}

TEST_CASE("indicator.ema: matches the textbook recursion on ORCL daily closes") {
  const std::vector<double> x = yahoo_closes(std::string(QFLOW_SHARED_DATA_DIR) + "/orcl_1995_2014_daily_yahoo.csv");
  REQUIRE(x.size() == 5036);
  for (size_t n : {2u, 12u, 26u, 200u}) {
    NodeHarness h(plugin_path("qflow_indicators"), "indicator.ema", {{"period", std::to_string(n)}}, {{"in", "bars"}});
    const std::vector<double> want = textbook_ema(x, n);
    std::vector<double> got;
    for (size_t i = 0; i < x.size(); ++i) {
      auto out = h.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)));
      REQUIRE(out.size() == (i + 1 >= n ? 1u : 0u));  // first value at index n-1
      if (!out.empty()) got.push_back(out[0].ev.u.value.value);
    }
    REQUIRE(got.size() == want.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] / want[i] - 1.0));
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("indicator.ema: restore then continue equals never stopping") {
  const std::vector<double> x{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7};
  // Cut once inside the warm-up and once after it.
  for (size_t cut : {2u, 6u}) {
    NodeHarness whole(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "4"}}, {{"in", "bars"}});
    NodeHarness first(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "4"}}, {{"in", "bars"}});
    NodeHarness second(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "4"}}, {{"in", "bars"}});
    std::vector<double> a, b;
    for (size_t i = 0; i < x.size(); ++i)
      for (auto& o : whole.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)))) a.push_back(o.ev.u.value.value);
    for (size_t i = 0; i < cut; ++i)
      for (auto& o : first.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)))) b.push_back(o.ev.u.value.value);
    second.restore_state(first.save_state());
    for (size_t i = cut; i < x.size(); ++i)
      for (auto& o : second.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)))) b.push_back(o.ev.u.value.value);
    CHECK(a.size() == 11);
    CHECK(a == b);
  }
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "4"}}, {{"in", "bars"}});
  CHECK_THROWS_WITH(h.restore_state(std::string(3, 'x')), "node state is truncated");
}

TEST_CASE("indicator.ema: resumed before any input, mid-warm-up, after it and at the end, by event or batch") {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> px(90, 110);
  std::vector<qf_event> bars;
  for (int i = 0; i < 30; ++i) bars.push_back(close_bar(px(rng), i + 1));
  const auto make = [] {
    return NodeHarness(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "5"}}, {{"in", "bars"}});
  };
  using Seen = std::vector<std::tuple<uint32_t, int64_t, double>>;  // symbol, time, value
  const auto record = [](Seen& to, const std::vector<qflow::testing::Output>& out) {
    for (const auto& o : out) to.emplace_back(o.ev.symbol, o.ev.time_ns, o.ev.u.value.value);
  };
  Seen want;
  {
    NodeHarness whole = make();
    whole.start();
    for (const qf_event& b : bars) record(want, whole.push(0, b));
  }
  REQUIRE(want.size() == bars.size() - 4);
  for (size_t cut = 0; cut <= bars.size(); ++cut) {
    for (const bool batch : {false, true}) {
      INFO("cut before input " << cut << (batch ? ", the rest as one batch" : ""));
      Seen got;
      std::string state;
      {
        NodeHarness first = make();
        first.start();
        for (size_t i = 0; i < cut; ++i) record(got, first.push(0, bars[i]));
        state = first.save_state();
      }
      NodeHarness second = make();
      second.restore_state(state);
      second.start();
      if (batch && cut < bars.size())
        record(got, second.push_batch(0, {bars.begin() + static_cast<std::ptrdiff_t>(cut), bars.end()}));
      for (size_t i = cut; i < bars.size() && !batch; ++i) record(got, second.push(0, bars[i]));
      CHECK(got == want);
    }
  }
}

TEST_CASE("indicator.ema: on_batch answers each input with the value on_event would give, under its seq") {
  std::vector<qf_event> bars;
  double x = 100;
  for (int i = 0; i < 400; ++i) bars.push_back(close_bar(x += std::sin(i * 0.37) * 2.5, i + 1));
  NodeHarness one(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "12"}}, {{"in", "bars"}});
  NodeHarness many(plugin_path("qflow_indicators"), "indicator.ema", {{"period", "12"}}, {{"in", "bars"}});
  std::vector<qflow::testing::Output> expected;
  for (const qf_event& b : bars)
    for (const auto& o : one.push(0, b)) expected.push_back(o);
  auto got = many.push_batch(0, {bars.begin(), bars.begin() + 100});
  auto rest = many.push_batch(0, {bars.begin() + 100, bars.end()});
  got.insert(got.end(), rest.begin(), rest.end());
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].ev.u.value.value == expected[i].ev.u.value.value);
    CHECK(got[i].ev.seq == expected[i].ev.seq);  // both harnesses number cycles from 1
  }
}
