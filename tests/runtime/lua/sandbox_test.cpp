// The sandbox: what a script cannot reach, the instruction budget (pcall and coroutines
// included), the memory cap, and how failures are reported.
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

using namespace qflow::testing;
using namespace qflow::testing::lua;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEST_CASE("lua sandbox: dangerous globals are absent, the safe libraries are present") {
  const std::string script = write_script("sandbox_globals", R"(
local gone = { "io", "os", "package", "debug", "require", "load", "loadfile", "dofile", "collectgarbage" }
function on_bar(bar)
  for _, name in ipairs(gone) do signal(_G[name] == nil and 1 or 0) end
  signal(string.dump == nil and 1 or 0)
  signal(getmetatable("").__index.dump == nil and 1 or 0)
  local present = string.format and math.floor and table.insert and utf8.char and coroutine.wrap
                  and pcall and setmetatable and tostring
  signal(present and 1 or 0)
end
)");
  NodeHarness h = lua_node(script);
  const std::vector<double> got = signal_values(h.push(0, bar(1, 1, 10)));
  CHECK(got == std::vector<double>(12, 1.0));
}

TEST_CASE("lua sandbox: using a removed library fails with the script's line") {
  const std::string script = write_script("sandbox_io", "function on_bar(bar)\n  local f = io.open('/etc/passwd')\nend\n");
  NodeHarness h = lua_node(script);
  CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)), script + ":2: in on_bar: attempt to index a nil value (global 'io')");
}

TEST_CASE("lua sandbox: an endless loop is stopped by the budget, naming on_bar and the line") {
  const std::string script = write_script("budget_loop", R"(function on_bar(bar)
  local n = 0
  while true do n = n + 1 end
end
)");
  NodeHarness h = lua_node(script, {{"instruction_budget", "10000"}});
  CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)),
                    script + ":3: in on_bar: instruction budget exceeded (10000 instructions per callback)");
}

TEST_CASE("lua sandbox: pcall, xpcall and coroutines cannot swallow the budget") {
  const char* bodies[] = {
      "pcall(function() while true do end end)\n  signal(1)",
      "for i = 1, 10 do pcall(function() while true do end end) end\n  signal(1)",
      "while true do pcall(function() while true do end end) end",
      "xpcall(function() while true do end end, function(e) return e end)\n  signal(1)",
      "xpcall(function() while true do end end, function(e) while true do end end)\n  signal(1)",
      "pcall(coroutine.wrap(function() while true do end end))\n  signal(1)",
      "coroutine.resume(coroutine.create(function() while true do end end))\n  signal(1)",
      "while true do coroutine.resume(coroutine.create(function() for i = 1, 100 do end end)) end",
      "local ok = pcall(error, 'x')\n  while true do ok = pcall(error, 'x') end",
  };
  int i = 0;
  for (const char* body : bodies) {
    INFO(body);
    const std::string script = write_script("budget_pcall_" + std::to_string(i++), "function on_bar(bar)\n  " + std::string(body) + "\nend\n");
    NodeHarness h = lua_node(script, {{"instruction_budget", "20000"}});
    CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)),
                      StartsWith(script + ":") && Contains(": in on_bar: ") &&
                          Contains("instruction budget exceeded (20000 instructions per callback)"));
  }
}

TEST_CASE("lua sandbox: the budget is per callback and is granted afresh after a failure") {
  const std::string script = write_script("budget_reset", R"(
calls = 0
function on_bar(bar)
  calls = calls + 1
  if calls == 1 then while true do end end
  for i = 1, 4000 do end
  signal(calls)
end
)");
  NodeHarness h = lua_node(script, {{"instruction_budget", "10000"}});
  CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)), Contains("instruction budget exceeded"));
  for (int k = 2; k <= 5; ++k) CHECK(signal_values(h.push(0, bar(1, k, 10))) == std::vector<double>{double(k)});
}

TEST_CASE("lua sandbox: instruction_budget 0 means unlimited") {
  const std::string script = write_script("budget_unlimited", R"(
function on_bar(bar)
  local n = 0
  for i = 1, 3000000 do n = n + 1 end
  signal(n)
end
)");
  NodeHarness unlimited = lua_node(script, {{"instruction_budget", "0"}});
  CHECK(signal_values(unlimited.push(0, bar(1, 1, 10))) == std::vector<double>{3000000});
  NodeHarness limited = lua_node(script);  // default: one million
  CHECK_THROWS_WITH(limited.push(0, bar(1, 1, 10)), Contains("in on_bar: instruction budget exceeded (1000000"));
}

TEST_CASE("lua sandbox: the budget applies to top-level code too") {
  const std::string script = write_script("budget_main", "local x = 0\nwhile true do x = x + 1 end\n");
  CHECK_THROWS_WITH(lua_node(script, {{"instruction_budget", "5000"}}),
                    Contains("in main chunk: instruction budget exceeded"));
}

TEST_CASE("lua sandbox: the memory cap fails cleanly and the node keeps working") {
  const char* hogs[] = {
      "local t = {}\n  for i = 1, 100000000 do t[i] = i end",
      "local s = 'x'\n  while true do s = s .. s end",
      "local s = string.rep('x', 1000000000)",
      "local t = {}\n  for i = 1, 100000000 do t[i] = { i } end",
  };
  int i = 0;
  for (const char* hog : hogs) {
    INFO(hog);
    const std::string script = write_script("memory_" + std::to_string(i++), R"(
calls = 0
function on_bar(bar)
  calls = calls + 1
  if calls == 1 then
  )" + std::string(hog) + R"(
  end
  signal(calls)
end
)");
    NodeHarness h = lua_node(script, {{"memory_limit", "2097152"}, {"instruction_budget", "0"}});
    CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)), script + ": in on_bar: not enough memory (memory_limit is 2097152 bytes)");
    CHECK(signal_values(h.push(0, bar(1, 2, 10))) == std::vector<double>{2});
  }
}

TEST_CASE("lua sandbox: a runtime error names script, line and callback") {
  const std::string script = write_script("runtime_error", R"(-- line 1
function on_bar(bar)
  local x = nil
  return x.field
end
function on_fill(f)
  error("boom " .. f.quantity)
end
function on_order(u)
  error({ code = 1 })
end
function on_stop()
  buy(-1)
end
)");
  NodeHarness h = lua_node(script);
  CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)), script + ":4: in on_bar: attempt to index a nil value (local 'x')");
  CHECK_THROWS_WITH(h.feedback(fill(1, 1, QF_SIDE_BUY, 5, 10)), script + ":7: in on_fill: boom 5");
  CHECK_THROWS_WITH(h.feedback(order_update(1, 1, QF_ORDER_FILLED)),
                    script + ":10: in on_order: (error object is a table value)");
  CHECK_THROWS_WITH(h.stop(), script + ":13: in on_stop: buy: quantity must be a positive number, got -1");
}

TEST_CASE("lua sandbox: errors at load time name the file and line") {
  const std::string syntax = write_script("syntax_error", "params = {\n  size = { default = 1 },\n  x = = 2\n}\n");
  CHECK_THROWS_WITH(lua_node(syntax), StartsWith(syntax + ":3: syntax error: ") && Contains("near '='"));

  const std::string top = write_script("main_error", "local a = 1\nlocal b = a + nil\n");
  CHECK_THROWS_WITH(lua_node(top), StartsWith(top + ":2: in main chunk: attempt to perform arithmetic on a nil value"));

  CHECK_THROWS_WITH(lua_node(std::string(QFLOW_TEST_WORK_DIR) + "/lua/does_not_exist.lua"),
                    Contains("cannot open script '") && Contains("does_not_exist.lua'"));
}

TEST_CASE("lua sandbox: math.random is reproducible") {
  const std::string script = write_script("random", "function on_bar(bar) signal(math.random()) end\n");
  NodeHarness a = lua_node(script), b = lua_node(script);
  const std::vector<double> x = signal_values(a.push(0, bar(1, 1, 10)));
  CHECK(x == signal_values(b.push(0, bar(1, 1, 10))));
  CHECK(x.size() == 1);
}

TEST_CASE("lua sandbox: __gc finalizers are refused (Lua runs them with hooks off)") {
  const std::string script = write_script("sandbox_gc", R"(function on_bar(bar)
  setmetatable({}, { __gc = function() while true do end end })
end
)");
  NodeHarness h = lua_node(script);
  CHECK_THROWS_WITH(h.push(0, bar(1, 1, 10)),
                    script + ":2: in on_bar: setmetatable: __gc metamethods are not available to scripts");
}

TEST_CASE("lua sandbox: xpcall still behaves like xpcall") {
  const std::string script = write_script("sandbox_xpcall", R"(
function on_bar(bar)
  local ok, a, b = xpcall(function(x, y) return x + y, x * y end, print, 3, 4)
  signal(ok and 1 or 0); signal(a); signal(b)
  local ok2, msg = xpcall(function() error({ code = 7 }) end, function(e) return e.code * 2 end)
  signal(ok2 and 1 or 0); signal(msg)
  local ok3, msg3 = xpcall(error, function(e) error("again") end, "first")
  signal(ok3 and 1 or 0); signal(type(msg3) == "string" and msg3:find("again") and 1 or 0)
end
)");
  NodeHarness h = lua_node(script);
  CHECK(signal_values(h.push(0, bar(1, 1, 10))) == std::vector<double>{1, 7, 12, 0, 14, 0, 1});
}
