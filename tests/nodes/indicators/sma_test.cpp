#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

using qflow::testing::HarnessSlot;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {
qf_event close_bar(double close, int64_t t) { return qflow::make_bar(1, t, close, close, close, close, 1, 60); }

// The textbook definition: the mean of the window, summed from scratch every time.
double naive_sma(const std::vector<double>& x, size_t end, size_t n) {
  double s = 0;
  for (size_t i = end + 1 - n; i <= end; ++i) s += x[i];
  return s / static_cast<double>(n);
}
}  // namespace

TEST_CASE("indicator.sma: hand-worked values and warm-up") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "3"}}, {{"in", "bars"}});
  h.start();
  CHECK(h.push(0, close_bar(1, 1)).empty());
  CHECK(h.push(0, close_bar(2, 2)).empty());
  auto out = h.push(0, close_bar(6, 3));  // (1+2+6)/3
  REQUIRE(out.size() == 1);
  CHECK(out[0].ev.kind == QF_KIND_VALUE);
  CHECK(out[0].ev.u.value.value == 3.0);
  CHECK(out[0].ev.symbol == 1);
  out = h.push(0, close_bar(10, 4));  // (2+6+10)/3
  CHECK(out.at(0).ev.u.value.value == 6.0);
}

TEST_CASE("indicator.sma: reads the chosen field and value inputs") {
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "2"}, {"field", "high"}}, {{"in", "bars"}});
  h.push(0, qflow::make_bar(1, 1, 1, 5, 0.5, 2, 1, 60));
  auto out = h.push(0, qflow::make_bar(1, 2, 1, 7, 0.5, 2, 1, 60));
  CHECK(out.at(0).ev.u.value.value == 6.0);

  NodeHarness v(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "2"}}, {{"in", "fast"}});
  v.push(0, qflow::make_value(1, 4.0, 1));
  CHECK(v.push(0, qflow::make_value(1, 8.0, 2)).at(0).ev.u.value.value == 6.0);
}

TEST_CASE("indicator.sma: matches a from-scratch mean at BTC price levels") {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> step(0.0, 15.0);
  std::vector<double> x{70000.0};
  for (int i = 0; i < 200000; ++i) x.push_back(x.back() + step(rng));
  const size_t n = 30;
  NodeHarness h(plugin_path("qflow_indicators"), "indicator.sma", {{"period", std::to_string(n)}}, {{"in", "bars"}});
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    auto out = h.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)));
    REQUIRE(out.size() == (i + 1 >= n ? 1u : 0u));
    if (!out.empty()) worst = std::max(worst, std::abs(out[0].ev.u.value.value / naive_sma(x, i, n) - 1.0));
  }
  CHECK(worst < 1e-12);
}

TEST_CASE("indicator.sma: restore then continue equals never stopping") {
  const std::vector<double> x{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7};
  NodeHarness whole(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "4"}}, {{"in", "bars"}});
  NodeHarness first(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "4"}}, {{"in", "bars"}});
  NodeHarness second(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "4"}}, {{"in", "bars"}});
  std::vector<double> a, b;
  for (size_t i = 0; i < x.size(); ++i)
    for (auto& o : whole.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)))) a.push_back(o.ev.u.value.value);
  for (size_t i = 0; i < 6; ++i)
    for (auto& o : first.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)))) b.push_back(o.ev.u.value.value);
  second.restore_state(first.save_state());
  for (size_t i = 6; i < x.size(); ++i)
    for (auto& o : second.push(0, close_bar(x[i], static_cast<int64_t>(i + 1)))) b.push_back(o.ev.u.value.value);
  CHECK(a == b);
  CHECK_THROWS_WITH(second.restore_state(std::string(3, 'x')), "node state is truncated");
}

TEST_CASE("indicator.sma: resumed before any input, mid-warm-up, after it and at the end, by event or batch") {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> px(90, 110);
  std::vector<qf_event> bars;
  for (int i = 0; i < 30; ++i) bars.push_back(close_bar(px(rng), i + 1));
  const auto make = [] {
    return NodeHarness(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "7"}}, {{"in", "bars"}});
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
  REQUIRE(want.size() == bars.size() - 6);
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

TEST_CASE("indicator.sma: on_batch answers each input with the value on_event would give, under its seq") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> px(90, 110);
  std::vector<qf_event> bars;
  for (int i = 0; i < 500; ++i) bars.push_back(close_bar(px(rng), i + 1));
  NodeHarness one(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "7"}}, {{"in", "bars"}});
  NodeHarness many(plugin_path("qflow_indicators"), "indicator.sma", {{"period", "7"}}, {{"in", "bars"}});
  std::vector<double> expected;
  for (const qf_event& b : bars)
    for (const auto& o : one.push(0, b)) expected.push_back(o.ev.u.value.value);
  // Two batches, split inside the warm-up's reach, must continue seamlessly.
  auto first = many.push_batch(0, {bars.begin(), bars.begin() + 5});
  auto second = many.push_batch(0, {bars.begin() + 5, bars.end()});
  CHECK(first.empty());
  REQUIRE(second.size() == expected.size());
  for (size_t i = 0; i < second.size(); ++i) {
    CHECK(second[i].ev.u.value.value == expected[i]);
    CHECK(second[i].ev.seq == 7 + i);  // bar i+7 (seq 7 + i) gives the (i+1)-th average
    CHECK(second[i].ev.time_ns == static_cast<int64_t>(7 + i));
  }
}
