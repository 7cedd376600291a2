// How the lua node hands its inputs to on_bar: every bar of a cycle, also when one input gets
// several (the legs of a transform.align instant).
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

using namespace qflow::testing;
using namespace qflow::testing::lua;

namespace {
// Each on_bar logs the call's number, the bar's symbol and close, and what value() reads.
const char* const kCounting = R"(
calls = 0
function on_bar(bar)
  calls = calls + 1
  log(calls, bar.symbol, bar.close, value("legs"), value("z") or "-")
end
)";
}  // namespace

TEST_CASE("lua node: two bars on one input in one cycle call on_bar twice, in arrival order") {
  NodeHarness h = lua_node(write_script("node_two_legs", kCounting), {}, {bar_slot("legs"), value_slot("z")});
  const uint32_t btc = h.intern("BTCUSDT"), eth = h.intern("ETHUSDT");
  h.start();
  // value() still reads an input's last event of the cycle (ETH's close), whichever bar is handled.
  h.cycle({{0, bar(btc, 60, 70000)}, {1, qflow::make_value(btc, 1.5, 60)}, {0, bar(eth, 60, 3500)}});
  REQUIRE(h.logs().size() == 2);
  CHECK(h.logs()[0] == "2: 1\tBTCUSDT\t70000.0\t3500.0\t1.5");
  CHECK(h.logs()[1] == "2: 2\tETHUSDT\t3500.0\t3500.0\t1.5");
  // The other order of arrival, then a cycle of one bar: nothing of the earlier cycles is left over.
  h.cycle({{0, bar(eth, 120, 3501)}, {0, bar(btc, 120, 70001)}});
  h.push(0, bar(btc, 180, 70002));
  REQUIRE(h.logs().size() == 5);
  CHECK(h.logs()[2] == "2: 3\tETHUSDT\t3501.0\t70001.0\t-");
  CHECK(h.logs()[3] == "2: 4\tBTCUSDT\t70001.0\t70001.0\t-");
  CHECK(h.logs()[4] == "2: 5\tBTCUSDT\t70002.0\t70002.0\t-");
}

TEST_CASE("lua node: one bar per input keeps one call per input, in input order") {
  const std::string script = write_script("node_two_inputs", R"(
function on_bar(bar)
  log(bar.symbol, bar.close)
end
)");
  NodeHarness h = lua_node(script, {}, {bar_slot("a"), value_slot("x"), bar_slot("b")});
  const uint32_t s1 = h.intern("S1"), s2 = h.intern("S2");
  h.start();
  // Input b's bar arrives first, yet input a's is handled first, as always; the value calls nothing.
  h.cycle({{2, bar(s2, 60, 2)}, {1, qflow::make_value(s1, 9, 60)}, {0, bar(s1, 60, 1)}});
  CHECK(h.logs() == std::vector<std::string>{"2: S1\t1.0", "2: S2\t2.0"});
  CHECK(h.cycle({{1, qflow::make_value(s1, 9, 120)}}).empty());
  CHECK(h.logs().size() == 2);
}

TEST_CASE("lua node: a failing on_bar drops the rest of its cycle's bars, not the next cycle's") {
  const std::string script = write_script("node_failing_leg", R"(
function on_bar(bar)
  if bar.close == 13 then error("bad leg") end
  log(bar.symbol, bar.close)
end
)");
  NodeHarness h = lua_node(script, {}, {bar_slot("legs")});
  const uint32_t btc = h.intern("BTCUSDT"), eth = h.intern("ETHUSDT");
  h.start();
  CHECK_THROWS_WITH(h.cycle({{0, bar(btc, 60, 13)}, {0, bar(eth, 60, 14)}}), Catch::Contains("bad leg"));
  CHECK(h.logs().empty());
  h.cycle({{0, bar(btc, 120, 15)}});
  CHECK(h.logs() == std::vector<std::string>{"2: BTCUSDT\t15.0"});
}
