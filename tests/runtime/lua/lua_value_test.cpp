// Node state: the script's `state` table and the host's book survive save/restore exactly, and
// values that are not data are refused with the path of the offending key.
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

using namespace qflow::testing;
using namespace qflow::testing::lua;
using Catch::Matchers::Contains;

namespace {

const char* kStateScript = R"(
state = { count = 0 }
local function check(ok) signal(ok and 1 or 0) end
function on_bar(bar)
  if state.count == 0 then
    state.f = 2.0
    state.i = 2
    state.big = math.maxinteger
    state.s = "a\0b\255"
    state.flag = true
    state.off = false
    state.nested = { list = { 1, 2.5, "x" }, deep = { deeper = { v = -7 } } }
    state[1] = "one"
    state[2.5] = "two and a half"
    state[true] = "yes"
    state["two words"] = {}
    state.order = buy(10)
  else
    check(math.type(state.f) == "float" and state.f == 2.0)
    check(math.type(state.i) == "integer" and state.i == 2)
    check(state.big == math.maxinteger)
    check(state.s == "a\0b\255" and #state.s == 4)
    check(state.flag == true and state.off == false)
    check(#state.nested.list == 3 and state.nested.list[2] == 2.5 and state.nested.list[3] == "x")
    check(state.nested.deep.deeper.v == -7)
    check(state[1] == "one" and state[2.5] == "two and a half" and state[true] == "yes")
    check(type(state["two words"]) == "table" and next(state["two words"]) == nil)
    check(position() == 10 and cash() == 900 and equity() == 1000)
    check(buy(1) == state.order + 1)
  end
  state.count = state.count + 1
  signal(state.count)
end
)";

}  // namespace

TEST_CASE("lua state: save then restore into a fresh node continues where it stopped") {
  const std::string script = write_script("state_round_trip", kStateScript);
  NodeHarness first = lua_node(script);
  const uint32_t aapl = first.intern("AAPL");
  CHECK(signal_values(first.push(0, bar(aapl, 1, 10))) == std::vector<double>{1});
  first.feedback(fill(aapl, 1, QF_SIDE_BUY, 10, 10));
  first.feedback(account(900, 1000));
  const std::string saved = first.save_state();

  NodeHarness second = lua_node(script);
  second.intern("MSFT");  // symbol ids differ between processes: AAPL is no longer 1 here
  const uint32_t aapl2 = second.intern("AAPL");
  REQUIRE(aapl2 != aapl);
  second.restore_state(saved);
  CHECK(second.save_state() == saved);  // same data, same bytes
  const auto out = second.push(0, bar(aapl2, 2, 10));
  std::vector<double> expected(11, 1.0);  // every check passed
  expected.push_back(2);                 // the count went on from 1
  CHECK(signal_values(out) == expected);
  REQUIRE(orders(out).size() == 1);
  CHECK(orders(out)[0].order_id == 2);
  CHECK(out[0].ev.symbol == aapl2);
}

TEST_CASE("lua state: a restore replaces the table built by the top-level code") {
  const std::string script = write_script("state_replace", R"(
state = { from_top_level = true }
function on_bar(bar) signal(state.from_top_level and 1 or 0); signal(state.n or -1) end
function on_stop() state = { n = 5 } end
)");
  NodeHarness a = lua_node(script);
  a.stop();
  const std::string saved = a.save_state();
  NodeHarness b = lua_node(script);
  CHECK(signal_values(b.push(0, bar(1, 1, 10))) == std::vector<double>{1, -1});
  b.restore_state(saved);
  CHECK(signal_values(b.push(0, bar(1, 2, 10))) == std::vector<double>{0, 5});
}

TEST_CASE("lua state: values that are not data are refused, naming the key") {
  struct Case {
    const char* assignment;
    const char* message;
  };
  const Case cases[] = {
      {"state.cb = function() end", "cannot save state: state.cb holds a function, which is not data"},
      {"state.a = { b = {} }; state.a.b.c = state.a", "cannot save state: state.a.b.c refers back to state.a (a cycle)"},
      {"state.self = state", "cannot save state: state.self refers back to state (a cycle)"},
      {"state.last = bar", "cannot save state: state.last holds a userdata"},
      {"state.co = coroutine.create(function() end)", "cannot save state: state.co holds a coroutine"},
      {"state.t = { [{}] = 1 }", "cannot save state: state.t has a key that is table"},
      {"state['two words'] = { 1, { x = print } }", "cannot save state: state[\"two words\"][2].x holds a function"},
      {"state = 5", "cannot save state: state must be a table, not a number"},
  };
  int i = 0;
  for (const Case& c : cases) {
    INFO(c.assignment);
    const std::string script = write_script("state_refused_" + std::to_string(i++),
                                            "function on_bar(bar)\n  " + std::string(c.assignment) + "\nend\n");
    NodeHarness h = lua_node(script);
    h.push(0, bar(1, 1, 10));
    CHECK_THROWS_WITH(h.save_state(), Contains(script + ": " + c.message));
  }
}

TEST_CASE("lua state: shared tables are saved as copies and deep nesting is refused") {
  const std::string shared = write_script("state_shared", R"(
function on_bar(bar)
  if not state.a then
    local t = { 1 }
    state.a, state.b = t, t
  else
    state.a[1] = 2
    signal(state.b[1])
  end
end
)");
  NodeHarness a = lua_node(shared);
  a.push(0, bar(1, 1, 10));
  NodeHarness b = lua_node(shared);
  b.restore_state(a.save_state());
  CHECK(signal_values(b.push(0, bar(1, 2, 10))) == std::vector<double>{1});

  const std::string deep = write_script("state_deep", R"(
function on_bar(bar)
  local t = state
  for i = 1, 200 do t.next = {}; t = t.next end
end
)");
  NodeHarness d = lua_node(deep);
  d.push(0, bar(1, 1, 10));
  CHECK_THROWS_WITH(d.save_state(), Contains("is nested deeper than 100 tables"));
}

TEST_CASE("lua state: corrupt or truncated state is refused") {
  const std::string script = write_script("state_corrupt", "state = { x = 1 }\n");
  NodeHarness a = lua_node(script);
  const std::string saved = a.save_state();
  NodeHarness b = lua_node(script);
  CHECK_THROWS_WITH(b.restore_state(saved.substr(0, saved.size() - 3)), "node state is truncated");
  std::string bad_version = saved;
  bad_version[0] = 9;
  CHECK_THROWS_WITH(b.restore_state(bad_version), "lua node state has version 9, expected 1");
  CHECK_THROWS_WITH(b.restore_state(saved + "x"), "node state has trailing bytes");
}
