#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

using qflow::testing::HarnessSlot;
using qflow::testing::NodeHarness;
using qflow::testing::Output;
using qflow::testing::plugin_path;

namespace {

using Params = std::map<std::string, std::string>;

// A strategy wired as bars, fast, slow (slots 0, 1, 2 unless `slots` says otherwise).
struct Cross {
  explicit Cross(const Params& params = {},
                 std::vector<HarnessSlot> slots = {{"bars", "bars"}, {"fast", "fast"}, {"slow", "slow"}})
      : h(plugin_path("qflow_strategies"), "strategy.sma_cross", params, slots) {
    sym = h.intern("ORCL");
    for (uint32_t i = 0; i < slots.size(); ++i) slot[slots[i].port] = i;
    h.start();
  }
  // One bar; fast and slow only when given (still warming up otherwise). Returns the orders.
  std::vector<qf_event> bar(std::optional<double> fast, std::optional<double> slow) {
    ++t;
    std::vector<std::pair<uint32_t, qf_event>> d{{slot["bars"], qflow::make_bar(sym, t, 10, 11, 9, 10, 1, 1)}};
    if (fast) d.push_back({slot["fast"], qflow::make_value(sym, *fast, t)});
    if (slow) d.push_back({slot["slow"], qflow::make_value(sym, *slow, t)});
    std::vector<qf_event> orders;
    for (const Output& o : h.cycle(d)) {
      REQUIRE(o.port_name == "orders");
      orders.push_back(o.ev);
    }
    return orders;
  }
  // The executor's answer to `order`: fills of the given quantities, then an update.
  void answer(const qf_event& order, int32_t status, std::vector<double> fills = {}) {
    for (double q : fills) {
      qf_event f = qflow::make_event(qflow::Kind::fill, order.symbol, t);
      f.origin = order.origin;
      f.u.fill.order_id = order.u.order.order_id;
      f.u.fill.quantity = q;
      f.u.fill.price = 10;
      f.u.fill.side = order.u.order.side;
      CHECK(h.feedback(f).empty());
    }
    qf_event u = qflow::make_event(qflow::Kind::order_update, order.symbol, t);
    u.origin = order.origin;
    u.u.order_update.order_id = order.u.order.order_id;
    u.u.order_update.status = status;
    CHECK(h.feedback(u).empty());
  }
  void fill(const qf_event& order) { answer(order, QF_ORDER_FILLED, {order.u.order.quantity}); }

  NodeHarness h;
  uint32_t sym = 0;
  std::map<std::string, uint32_t> slot;
  int64_t t = 0;
};

void check_order(const qf_event& o, uint64_t id, int32_t side, double qty) {
  CHECK(o.kind == QF_KIND_ORDER);
  CHECK(o.u.order.order_id == id);
  CHECK(o.u.order.side == side);
  CHECK(o.u.order.quantity == qty);
  CHECK(o.u.order.type == QF_ORDER_MARKET);
}

}  // namespace

TEST_CASE("strategy.sma_cross: spec") {
  Cross c;
  const qf_node_spec& s = c.h.spec();
  CHECK(std::string(s.role) == "strategy");
  REQUIRE(s.input_count == 3);
  CHECK(std::string(s.inputs[0].name) == "bars");
  CHECK(std::string(s.inputs[1].name) == "fast");
  CHECK(std::string(s.inputs[2].name) == "slow");
  REQUIRE(s.output_count == 1);
  CHECK(std::string(s.outputs[0].name) == "orders");
  REQUIRE(s.param_count == 1);
  CHECK(std::string(s.params[0].name) == "size");
  CHECK(std::string(s.params[0].default_value) == "100");
  CHECK((s.params[0].flags & QF_PARAM_RELOADABLE) != 0);
  CHECK_THROWS_AS(Cross(Params{{"size", "0"}}), qflow::testing::NodeError);
  CHECK_THROWS_AS(Cross(Params{}, {{"bars", "bars"}, {"fast", "fast"}}), qflow::testing::NodeError);
}

TEST_CASE("strategy.sma_cross: orders exactly at the cross bars") {
  Cross c;
  CHECK(c.bar(std::nullopt, std::nullopt).empty());  // both warming up
  CHECK(c.bar(9.0, std::nullopt).empty());            // slow still warming up
  CHECK(c.bar(9.0, 10.0).empty());                    // first diff: nothing to cross from
  CHECK(c.bar(9.5, 10.0).empty());
  auto o = c.bar(10.5, 10.0);  // bar 5: cross up
  REQUIRE(o.size() == 1);
  check_order(o[0], 1, QF_SIDE_BUY, 100);
  CHECK(o[0].symbol == c.sym);
  CHECK(o[0].time_ns == 5);
  c.fill(o[0]);
  CHECK(c.bar(11.0, 10.0).empty());
  o = c.bar(9.0, 10.0);  // bar 7: cross down
  REQUIRE(o.size() == 1);
  check_order(o[0], 2, QF_SIDE_SELL, 100);
  c.fill(o[0]);
  CHECK(c.bar(8.0, 10.0).empty());
  o = c.bar(10.5, 10.0);  // bar 9: cross up again
  REQUIRE(o.size() == 1);
  check_order(o[0], 3, QF_SIDE_BUY, 100);
}

TEST_CASE("strategy.sma_cross: slots are found by port, whatever their order") {
  Cross c(Params{{"size", "2.5"}}, {{"slow", "sma30"}, {"bars", "bars"}, {"fast", "sma10"}});
  CHECK(c.bar(1.0, 2.0).empty());
  const auto o = c.bar(3.0, 2.0);
  REQUIRE(o.size() == 1);
  check_order(o[0], 1, QF_SIDE_BUY, 2.5);
}

TEST_CASE("strategy.sma_cross: a cross down while flat does nothing") {
  Cross c;
  CHECK(c.bar(11.0, 10.0).empty());  // above from the start: no cross
  CHECK(c.bar(9.0, 10.0).empty());   // cross down, but flat
  CHECK(c.bar(8.0, 10.0).empty());
  const auto o = c.bar(10.5, 10.0);
  REQUIRE(o.size() == 1);
  CHECK(o[0].u.order.side == QF_SIDE_BUY);
}

TEST_CASE("strategy.sma_cross: equal values are no cross and keep the last non-zero diff") {
  SECTION("below, equal, equal, above: the cross is on the bar that goes above") {
    Cross c;
    CHECK(c.bar(9.0, 10.0).empty());
    CHECK(c.bar(10.0, 10.0).empty());
    CHECK(c.bar(10.0, 10.0).empty());
    const auto o = c.bar(11.0, 10.0);
    REQUIRE(o.size() == 1);
    CHECK(o[0].u.order.side == QF_SIDE_BUY);
  }
  SECTION("above, equal, above again: no cross even though flat") {
    Cross c;
    CHECK(c.bar(9.0, 10.0).empty());
    const auto o = c.bar(11.0, 10.0);
    REQUIRE(o.size() == 1);
    c.answer(o[0], QF_ORDER_REJECTED);  // still flat, nothing pending
    CHECK(c.bar(10.0, 10.0).empty());
    CHECK(c.bar(11.0, 10.0).empty());
  }
  SECTION("long, touching from above and going back up: no sell") {
    Cross c;
    c.bar(9.0, 10.0);
    c.fill(c.bar(11.0, 10.0).at(0));
    CHECK(c.bar(10.0, 10.0).empty());
    CHECK(c.bar(12.0, 10.0).empty());
    const auto o = c.bar(9.0, 10.0);
    REQUIRE(o.size() == 1);
    CHECK(o[0].u.order.side == QF_SIDE_SELL);
  }
  SECTION("a bar without both values is skipped") {
    Cross c;
    CHECK(c.bar(9.0, 10.0).empty());
    CHECK(c.bar(11.0, std::nullopt).empty());
    CHECK(c.bar(std::nullopt, 10.0).empty());
    CHECK(c.bar(11.0, 10.0).size() == 1);  // still a cross: the last diff seen was negative
  }
}

TEST_CASE("strategy.sma_cross: fills and order updates fed back drive it") {
  SECTION("no second order while one is pending, and no re-entry while long") {
    Cross c;
    c.bar(9.0, 10.0);
    const auto buy = c.bar(11.0, 10.0);
    REQUIRE(buy.size() == 1);
    CHECK(c.bar(9.0, 10.0).empty());   // cross down, but the buy is pending and nothing is held
    CHECK(c.bar(11.0, 10.0).empty());  // cross up, still pending
    c.answer(buy[0], QF_ORDER_ACCEPTED);
    CHECK(c.bar(9.0, 10.0).empty());  // ACCEPTED does not end pending
    c.answer(buy[0], QF_ORDER_FILLED, {60, 40});  // filled in two parts
    CHECK(c.bar(11.0, 10.0).empty());  // cross up while long: no re-entry
    const auto sell = c.bar(9.0, 10.0);
    REQUIRE(sell.size() == 1);
    check_order(sell[0], 2, QF_SIDE_SELL, 100);  // the whole position, from the fills
  }
  SECTION("a rejected sell leaves it long: the next cross up does not buy, the next cross down sells") {
    Cross c;
    c.bar(9.0, 10.0);
    c.fill(c.bar(11.0, 10.0).at(0));
    const auto sell = c.bar(9.0, 10.0);
    REQUIRE(sell.size() == 1);
    c.answer(sell[0], QF_ORDER_REJECTED);
    CHECK(c.bar(11.0, 10.0).empty());
    const auto again = c.bar(9.0, 10.0);
    REQUIRE(again.size() == 1);
    check_order(again[0], 3, QF_SIDE_SELL, 100);
  }
  SECTION("an update for another order id does not end pending; expiry and cancel do") {
    Cross c;
    c.bar(9.0, 10.0);
    const auto buy = c.bar(11.0, 10.0).at(0);
    qf_event other = buy;
    other.u.order.order_id = 99;
    c.answer(other, QF_ORDER_FILLED);
    c.bar(9.0, 10.0);
    CHECK(c.bar(11.0, 10.0).empty());
    c.answer(buy, QF_ORDER_EXPIRED);
    c.bar(9.0, 10.0);
    const auto buy2 = c.bar(11.0, 10.0).at(0);
    check_order(buy2, 2, QF_SIDE_BUY, 100);
    c.answer(buy2, QF_ORDER_CANCELLED);
    c.bar(9.0, 10.0);
    check_order(c.bar(11.0, 10.0).at(0), 3, QF_SIDE_BUY, 100);
  }
}

TEST_CASE("strategy.sma_cross: restore then continue equals never stopping") {
  // fast - slow per bar. The executor's answers: order 2 is rejected, order 3 is filled only after
  // bar 10, every other order fills at once.
  const std::vector<double> diffs{-1, 1, 0, 1, -2, -1, 0, 2, -1, 1, -1, 1, -3};
  std::vector<qf_event> held;
  const auto run = [&](Cross& c, size_t from, size_t to, std::vector<std::pair<size_t, qf_event>>& orders) {
    for (size_t i = from; i < to; ++i) {
      c.t = static_cast<int64_t>(i);
      for (const qf_event& o : c.bar(10.0 + diffs[i], 10.0)) {
        orders.push_back({i, o});
        if (o.u.order.order_id == 2) c.answer(o, QF_ORDER_REJECTED);
        else if (o.u.order.order_id == 3) held.push_back(o);
        else c.fill(o);
      }
      if (i == 10) c.fill(held.at(0));  // held by this run or, after a cut, by the first one
    }
  };
  std::vector<std::pair<size_t, qf_event>> whole_orders;
  {
    Cross whole;
    run(whole, 0, diffs.size(), whole_orders);
  }
  // Every cut: flat or long, with or without a pending order, before and after zero diffs.
  for (size_t cut = 0; cut <= diffs.size(); ++cut) {
    held.clear();
    std::vector<std::pair<size_t, qf_event>> split_orders;
    std::string saved;
    {
      Cross first;
      run(first, 0, cut, split_orders);
      saved = first.h.save_state();
    }
    Cross second;
    second.h.restore_state(saved);
    run(second, cut, diffs.size(), split_orders);
    INFO("cut before bar " << cut);
    REQUIRE(whole_orders.size() == split_orders.size());
    for (size_t i = 0; i < whole_orders.size(); ++i) {
      CHECK(whole_orders[i].first == split_orders[i].first);
      CHECK(std::memcmp(&whole_orders[i].second.u, &split_orders[i].second.u, sizeof(qf_order)) == 0);
    }
  }
  // Hand-worked: buy at 1; sell at 4 (rejected, still long); the cross up at 7 is ignored while
  // long; sell at 8 stays pending through the crosses at 9 and 10; flat after its fill, buy at 11
  // and sell at 12.
  std::vector<std::pair<size_t, int32_t>> seen;
  for (const auto& [bar, o] : whole_orders) seen.push_back({bar, o.u.order.side});
  CHECK(seen == std::vector<std::pair<size_t, int32_t>>{
                    {1, QF_SIDE_BUY}, {4, QF_SIDE_SELL}, {8, QF_SIDE_SELL}, {11, QF_SIDE_BUY}, {12, QF_SIDE_SELL}});
  Cross bad;
  CHECK_THROWS_WITH(bad.h.restore_state(std::string(4, 'x')), "node state is truncated");
}

TEST_CASE("strategy.sma_cross: a reloaded size changes new entries, the exit sells what is held") {
  Cross before(Params{{"size", "100"}});
  before.bar(9.0, 10.0);
  before.fill(before.bar(11.0, 10.0).at(0));
  Cross after(Params{{"size", "50"}});
  after.h.restore_state(before.h.save_state());
  const auto sell = after.bar(9.0, 10.0);
  REQUIRE(sell.size() == 1);
  check_order(sell[0], 2, QF_SIDE_SELL, 100);
  after.fill(sell[0]);
  const auto buy = after.bar(11.0, 10.0);
  REQUIRE(buy.size() == 1);
  check_order(buy[0], 3, QF_SIDE_BUY, 50);
}
