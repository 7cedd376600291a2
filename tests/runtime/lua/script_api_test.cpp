// The functions a script calls: value(), orders, position/cash/equity from feedback, the
// objects handed to callbacks, log/print and now().
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

using namespace qflow::testing;
using namespace qflow::testing::lua;
using Catch::Matchers::Contains;

TEST_CASE("lua api: value() sees this cycle's inputs and nil while they warm up") {
  const std::string script = write_script("api_value", R"(
function on_bar(bar)
  signal(value("fast") or -1)
  signal(value("macd.signal") or -1)
  signal(value("bars"))
end
)");
  NodeHarness h = lua_node(script, {}, {bar_slot("bars"), value_slot("fast"), value_slot("macd.signal")});
  const uint32_t sym = h.intern("AAPL");
  CHECK(signal_values(h.push(0, bar(sym, 1, 10))) == std::vector<double>{-1, -1, 10});
  CHECK(signal_values(h.cycle({{0, bar(sym, 2, 11)}, {1, qflow::make_value(sym, 10.5, 2)}})) ==
        std::vector<double>{10.5, -1, 11});
  CHECK(signal_values(h.cycle({{0, bar(sym, 3, 12)}, {1, qflow::make_value(sym, 11.5, 3)},
                               {2, qflow::make_value(sym, -0.25, 3)}})) == std::vector<double>{11.5, -0.25, 12});
  // The next cycle: a value from the previous one is not carried over.
  CHECK(signal_values(h.cycle({{0, bar(sym, 4, 13)}, {2, qflow::make_value(sym, 0.5, 4)}})) ==
        std::vector<double>{-1, 0.5, 13});
  // A cycle without a bar does not call on_bar.
  CHECK(h.cycle({{1, qflow::make_value(sym, 1, 5)}}).empty());
}

TEST_CASE("lua api: value() of an unknown label lists the inputs") {
  const std::string script = write_script("api_value_unknown", "function on_bar(bar)\n  return value('slwo')\nend\n");
  NodeHarness h = lua_node(script, {}, {bar_slot("bars"), value_slot("fast"), value_slot("slow")});
  CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)),
                    script + ":2: in on_bar: value: no input labelled 'slwo' (inputs: bars, fast, slow)");
}

TEST_CASE("lua api: the bar object") {
  const std::string script = write_script("api_bar", R"(
function on_bar(bar)
  log(bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.interval, bar.symbol)
  if bar.close == 11 then local x = bar.nope end
  if bar.close == 12 then bar.close = 1 end
end
)");
  NodeHarness h = lua_node(script);
  const uint32_t sym = h.intern("BTCUSDT");
  h.push(0, qflow::make_bar(sym, 1700000000000000000, 1.5, 2.25, 1, 2, 300, 60000000000));
  REQUIRE(h.logs().size() == 1);
  CHECK(h.logs()[0] == "2: 1700000000000000000\t1.5\t2.25\t1.0\t2.0\t300.0\t60000000000\tBTCUSDT");
  CHECK_THROWS_WITH(h.push(0, bar(sym, 2, 11)), Contains(":4: in on_bar: bar has no field 'nope'"));
  CHECK_THROWS_WITH(h.push(0, bar(sym, 3, 12)), Contains(":5: in on_bar: bar is read-only (assigning bar.close)"));
}

TEST_CASE("lua api: buy, sell, order and cancel emit orders for the bar's symbol") {
  const std::string script = write_script("api_orders", R"(
function on_bar(bar)
  if bar.close == 10 then signal(buy(5)) end
  if bar.close == 11 then signal(sell(2.5)) end
  if bar.close == 12 then
    signal(order{ side = "buy", quantity = 3, type = "limit", limit = 11.5, tif = "day" })
    signal(order{ side = "sell", quantity = 1, type = "stop", stop = 9 })
  end
  if bar.close == 13 then
    signal(cancel(3) and 1 or 0)
    signal(cancel(999) and 1 or 0)
  end
end
)");
  NodeHarness h = lua_node(script);
  const uint32_t aapl = h.intern("AAPL"), msft = h.intern("MSFT");

  auto out = h.push(0, bar(aapl, 1, 10));
  REQUIRE(orders(out).size() == 1);
  const qf_order b = orders(out)[0];
  CHECK(b.side == QF_SIDE_BUY);
  CHECK(b.quantity == 5);
  CHECK(b.type == QF_ORDER_MARKET);
  CHECK(b.order_id == 1);
  CHECK(out[0].ev.kind == QF_KIND_ORDER);
  CHECK(out[0].ev.symbol == aapl);
  CHECK(signal_values(out) == std::vector<double>{1});

  out = h.push(0, bar(msft, 2, 11));
  REQUIRE(orders(out).size() == 1);
  CHECK(orders(out)[0].side == QF_SIDE_SELL);
  CHECK(orders(out)[0].quantity == 2.5);
  CHECK(orders(out)[0].order_id == 2);
  CHECK(out[0].ev.symbol == msft);

  out = h.push(0, bar(aapl, 3, 12));
  REQUIRE(orders(out).size() == 2);
  CHECK(orders(out)[0].type == QF_ORDER_LIMIT);
  CHECK(orders(out)[0].limit_price == 11.5);
  CHECK(orders(out)[0].time_in_force == QF_TIF_DAY);
  CHECK(orders(out)[0].order_id == 3);
  CHECK(orders(out)[1].type == QF_ORDER_STOP);
  CHECK(orders(out)[1].stop_price == 9);
  CHECK(orders(out)[1].side == QF_SIDE_SELL);
  CHECK(signal_values(out) == std::vector<double>{3, 4});

  out = h.push(0, bar(aapl, 4, 13));
  REQUIRE(orders(out).size() == 1);
  CHECK(orders(out)[0].type == QF_ORDER_CANCEL);
  CHECK(orders(out)[0].order_id == 3);
  CHECK(signal_values(out) == std::vector<double>{1, 0});

  // Once the executor reports the order cancelled, there is nothing left to cancel.
  h.feedback(order_update(aapl, 3, QF_ORDER_CANCELLED));
  out = h.push(0, bar(aapl, 5, 13));
  CHECK(orders(out).empty());
  CHECK(signal_values(out) == std::vector<double>{0, 0});
}

TEST_CASE("lua api: malformed orders are refused with a clear message") {
  const char* calls[][2] = {
      {"buy(0)", "buy: quantity must be a positive number, got 0"},
      {"sell(0/0)", "sell: quantity must be a positive number"},
      {"order{ side = 'buy', qty = 1 }", "order: unknown field 'qty'"},
      {"order{ quantity = 1 }", "order: side is required"},
      {"order{ side = 'long', quantity = 1 }", "order: side must be one of buy, sell, got long"},
      {"order{ side = 'buy', quantity = 1, type = 'limit' }", "order: a limit order needs limit="},
      {"order{ side = 'buy', quantity = 1, limit = 5 }", "order: limit= is for limit orders, not market"},
      {"order{ side = 'buy', quantity = 1, type = 'stop_limit', limit = 5 }", "order: a stop_limit order needs stop="},
      {"buy('many')", "bad argument #1 to 'buy' (number expected, got string)"},
  };
  int i = 0;
  for (const auto& [call, message] : calls) {
    INFO(call);
    const std::string script = write_script("api_bad_order_" + std::to_string(i++), "function on_bar(bar)\n  " + std::string(call) + "\nend\n");
    NodeHarness h = lua_node(script);
    CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)), Contains(script + ":2: in on_bar: " + message));
  }
}

TEST_CASE("lua api: orders need a callback and a symbol") {
  CHECK_THROWS_WITH(lua_node(write_script("api_top_level_buy", "buy(1)\n")),
                    Contains(":1: in main chunk: buy() is only available inside a callback"));
  const std::string script = write_script("api_start_buy", "function on_start() buy(1) end\n");
  NodeHarness h = lua_node(script);
  CHECK_THROWS_WITH(h.start(), Contains(":1: in on_start: buy: no symbol"));
}

TEST_CASE("lua api: position() follows fills, cash() and equity() follow account events") {
  const std::string script = write_script("api_position", R"(
function on_bar(bar)
  signal(position()); signal(cash() or -1); signal(equity() or -1); signal(position("MSFT"))
end
function on_fill(f)
  signal(position())
end
)");
  NodeHarness h = lua_node(script);
  const uint32_t aapl = h.intern("AAPL"), msft = h.intern("MSFT");
  CHECK(signal_values(h.push(0, bar(aapl, 1, 10))) == std::vector<double>{0, -1, -1, 0});
  CHECK(h.feedback(account(1000, 1000, true)).empty());
  CHECK(signal_values(h.feedback(fill(aapl, 1, QF_SIDE_BUY, 10, 100))) == std::vector<double>{10});
  CHECK(signal_values(h.push(0, bar(aapl, 2, 10))) == std::vector<double>{10, 1000, 1000, 0});
  // A fill for another symbol: on_fill sees that symbol's position; AAPL's is unchanged.
  CHECK(signal_values(h.feedback(fill(msft, 2, QF_SIDE_BUY, 5, 50))) == std::vector<double>{5});
  CHECK(signal_values(h.feedback(fill(aapl, 3, QF_SIDE_SELL, 4, 101))) == std::vector<double>{6});
  h.feedback(account(346, 1100));
  CHECK(signal_values(h.push(0, bar(aapl, 3, 10))) == std::vector<double>{6, 346, 1100, 5});
  CHECK(signal_values(h.feedback(fill(aapl, 4, QF_SIDE_SELL, 8, 99))) == std::vector<double>{-2});
}

TEST_CASE("lua api: on_fill and on_order receive the event's fields") {
  const std::string script = write_script("api_feedback", R"(
function on_fill(f)
  log(f.side, f.quantity, f.price, f.commission, f.order_id, f.time, f.symbol)
end
function on_order(u)
  log(u.order_id, u.status, u.reason, u.filled_quantity, u.remaining_quantity)
end
)");
  NodeHarness h = lua_node(script);
  const uint32_t sym = h.intern("ETHUSDT");
  h.feedback(fill(sym, 7, QF_SIDE_SELL, 0.5, 2500.25, 1.25, 123));
  qf_event u = order_update(sym, 7, QF_ORDER_REJECTED, QF_REJECT_INSUFFICIENT_CASH);
  u.u.order_update.remaining_quantity = 3;
  h.feedback(u);
  h.feedback(order_update(sym, 8, QF_ORDER_PARTIALLY_FILLED));
  REQUIRE(h.logs().size() == 3);
  CHECK(h.logs()[0] == "2: sell\t0.5\t2500.25\t1.25\t7\t123\tETHUSDT");
  CHECK(h.logs()[1] == "2: 7\trejected\tinsufficient_cash\t0\t3");
  CHECK(h.logs()[2] == "2: 8\tpartially_filled\tnone\t0\t0");
}

TEST_CASE("lua api: log, print, now and signal") {
  const std::string script = write_script("api_log", R"(
print("loaded", 1, 2.5, true, nil)
function on_start() log("started") end
function on_bar(bar)
  log(now())
  signal(-0.5, 0.25)
  if bar.close == 11 then signal(1, 2) end
end
)");
  NodeHarness h = lua_node(script);
  h.start();
  const uint32_t sym = h.intern("AAPL");
  const auto out = h.push(0, bar(sym, 5000, 10));
  REQUIRE(h.logs().size() == 3);
  CHECK(h.logs()[0] == "2: loaded\t1\t2.5\ttrue\tnil");
  CHECK(h.logs()[1] == "2: started");
  CHECK(h.logs()[2] == "2: 5000");
  REQUIRE(out.size() == 1);
  CHECK(out[0].port_name == "signals");
  CHECK(out[0].ev.kind == QF_KIND_SIGNAL);
  CHECK(out[0].ev.symbol == sym);
  CHECK(out[0].ev.u.signal.value == -0.5);
  CHECK(out[0].ev.u.signal.confidence == 0.25);
  CHECK_THROWS_WITH(h.push(0, bar(sym, 6000, 11)), Contains("signal: confidence must be in [0, 1], got 2"));
}

TEST_CASE("lua api: two inputs with one label are refused") {
  const std::string script = write_script("api_duplicate_label", "");
  CHECK_THROWS_WITH(lua_node(script, {}, {bar_slot("bars"), value_slot("x"), value_slot("x")}),
                    Contains("two inputs are labelled 'x'"));
}

TEST_CASE("lua api: value() and now() at the top level say they need a callback") {
  CHECK_THROWS_WITH(lua_node(write_script("api_top_level_value", "local x = value('bars')\n")),
                    Contains(":1: in main chunk: value() is only available inside a callback"));
  CHECK_THROWS_WITH(lua_node(write_script("api_top_level_now", "local t = now()\n")),
                    Contains(":1: in main chunk: now() is only available inside a callback"));
}
