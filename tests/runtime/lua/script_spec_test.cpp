// Declared parameters: what `describe` hands the host (through the C ABI), the values the
// script sees at run time, and the declarations it refuses.
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

#include <optional>

using namespace qflow::testing;
using namespace qflow::testing::lua;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Described {
  std::string name;
  int32_t type = 0;
  uint32_t flags = 0;
  std::optional<std::string> default_value;
  double min = 0, max = 0;
  std::vector<std::string> choices;
  std::string doc;
};

int32_t collect(qf_spec_builder* b, const qf_param_spec* p) {
  Described d;
  d.name = p->name;
  d.type = p->type;
  d.flags = p->flags;
  if (p->default_value) d.default_value = p->default_value;
  d.min = p->min_value;
  d.max = p->max_value;
  for (uint32_t i = 0; i < p->choice_count; ++i) d.choices.emplace_back(p->choices[i]);
  d.doc = p->doc ? p->doc : "";
  static_cast<std::vector<Described>*>(b->opaque)->push_back(d);
  return QF_OK;
}

// Calls the node type's describe through the ABI, as the host's validator does.
std::vector<Described> describe(const std::string& script) {
  static const std::string trivial = write_script("describe_trivial", "");
  static NodeHarness host = lua_node(trivial);  // only for its spec
  const qf_node_spec& spec = host.spec();
  REQUIRE(spec.describe != nullptr);
  qf_param_value fixed[3]{};
  fixed[0] = qf_param_value{"script", QF_PARAM_PATH, 1, 0, 0, qf_str{script.data(), script.size()}};
  fixed[1] = qf_param_value{"instruction_budget", QF_PARAM_INT, 1, 1000000, 1e6, qf_str{nullptr, 0}};
  fixed[2] = qf_param_value{"memory_limit", QF_PARAM_INT, 1, 67108864, 67108864.0, qf_str{nullptr, 0}};
  std::vector<Described> out;
  qf_spec_builder b{&out, &collect};
  qf_error err{};
  if (spec.describe(spec.type_data, fixed, 3, &b, &err) != QF_OK) throw std::runtime_error(err.message);
  return out;
}

}  // namespace

TEST_CASE("lua params: the declaration becomes parameter specs") {
  const std::string script = write_script("params_declared", R"(
params = {
  size = { default = 100, min = 0, doc = "shares per entry" },
  ratio = { default = 0.25, max = 1 },
  enabled = { default = true, reloadable = true },
  mode = { default = "fast", choices = { "fast", "slow" } },
  label = "abc",
  threshold = { type = "number" },
  count = { type = "integer", min = 1, max = 10 },
  whole = { type = "integer", default = 3.0 },
}
)");
  const std::vector<Described> p = describe(script);
  REQUIRE(p.size() == 8);  // ordered by name
  CHECK(p[0].name == "count");
  CHECK(p[0].type == QF_PARAM_INT);
  CHECK(p[0].flags == (QF_PARAM_REQUIRED | QF_PARAM_HAS_MIN | QF_PARAM_HAS_MAX));
  CHECK(!p[0].default_value);
  CHECK(p[0].min == 1);
  CHECK(p[0].max == 10);

  CHECK(p[1].name == "enabled");
  CHECK(p[1].type == QF_PARAM_BOOL);
  CHECK(p[1].flags == QF_PARAM_RELOADABLE);
  CHECK(p[1].default_value == "true");

  CHECK(p[2].name == "label");
  CHECK(p[2].type == QF_PARAM_STRING);
  CHECK(p[2].flags == 0);
  CHECK(p[2].default_value == "abc");

  CHECK(p[3].name == "mode");
  CHECK(p[3].type == QF_PARAM_CHOICE);
  CHECK(p[3].choices == std::vector<std::string>{"fast", "slow"});
  CHECK(p[3].default_value == "fast");

  CHECK(p[4].name == "ratio");
  CHECK(p[4].type == QF_PARAM_DOUBLE);
  CHECK(p[4].flags == QF_PARAM_HAS_MAX);
  CHECK(p[4].max == 1);
  CHECK(p[4].default_value == "0.25");

  CHECK(p[5].name == "size");
  CHECK(p[5].type == QF_PARAM_INT);
  CHECK(p[5].flags == QF_PARAM_HAS_MIN);
  CHECK(p[5].min == 0);
  CHECK(p[5].default_value == "100");
  CHECK(p[5].doc == "shares per entry");

  CHECK(p[6].name == "threshold");
  CHECK(p[6].type == QF_PARAM_DOUBLE);
  CHECK(p[6].flags == QF_PARAM_REQUIRED);

  CHECK(p[7].name == "whole");
  CHECK(p[7].type == QF_PARAM_INT);
  CHECK(p[7].default_value == "3");
}

TEST_CASE("lua params: a script without params declares none") {
  CHECK(describe(write_script("params_none", "function on_bar(bar) end\n")).empty());
}

TEST_CASE("lua params: the script sees the validated values, read-only") {
  const std::string script = write_script("params_values", R"(
params = {
  size = { default = 100 },
  ratio = { default = 0.25 },
  enabled = { default = false },
  mode = { default = "fast", choices = { "fast", "slow" } },
  threshold = { type = "number" },
}
declared_size = params.size.default   -- top-level code still sees the declaration
function on_bar(bar)
  signal(params.size)
  signal(math.type(params.size) == "integer" and 1 or 0)
  signal(params.ratio)
  signal(params.threshold)
  signal(params.enabled and 1 or 0)
  signal(params.mode == "slow" and 1 or 0)
  signal(declared_size)
  local n = 0
  for k, v in pairs(params) do n = n + 1 end
  signal(n)
end
function on_stop()
  params.size = 1
end
)");
  NodeHarness h = lua_node(script, {{"size", "7"}, {"threshold", "0.5"}, {"enabled", "true"}, {"mode", "slow"}});
  CHECK(signal_values(h.push(0, bar(1, 1, 10))) == std::vector<double>{7, 1, 0.25, 0.5, 1, 1, 100, 5});
  CHECK_THROWS_WITH(h.stop(), Contains("in on_stop: params are read-only (assigning params.size)"));
  CHECK_THROWS_WITH(lua_node(script), Contains("missing required parameter threshold"));
}

TEST_CASE("lua params: bad declarations are refused, naming the parameter") {
  struct Case {
    const char* declaration;
    const char* message;
  };
  const Case cases[] = {
      {"size = { defualt = 1 }", "param 'size': unknown field 'defualt' (fields: type, default, min, max, choices, doc, reloadable)"},
      {"size = { type = \"integer\", default = 1.5 }", "param 'size': default 1.5 is not an integer"},
      {"size = { default = -1, min = 0 }", "param 'size': default -1 is below min 0"},
      {"size = { default = 11, max = 10 }", "param 'size': default 11 is above max 10"},
      {"size = { type = \"float\" }", "param 'size': unknown type \"float\" (types: integer, number, boolean, string)"},
      {"mode = { choices = { 1, 2 } }", "param 'mode': choices must be a list of strings"},
      {"mode = { default = \"medium\", choices = { \"fast\", \"slow\" } }", "param 'mode': default \"medium\" is not one of the choices (fast, slow)"},
      {"flag = { default = true, min = 0 }", "param 'flag': min and max apply to integer and number parameters only"},
      {"x = { doc = \"what am I\" }", "param 'x': needs a type or a default"},
      {"script = { default = \"other.lua\" }", "param 'script': clashes with the lua node's own parameter of that name"},
      {"x = { default = function() end }", "params.x.default holds a function"},
      {"[1] = 5", "parameter names must be identifiers, not params[1]"},
  };
  int i = 0;
  for (const Case& c : cases) {
    INFO(c.declaration);
    const std::string script = write_script("params_bad_" + std::to_string(i++), "params = { " + std::string(c.declaration) + " }\n");
    CHECK_THROWS_WITH(describe(script), StartsWith(script + ": ") && Contains(c.message));
  }
  const std::string not_table = write_script("params_not_table", "params = 5\n");
  CHECK_THROWS_WITH(describe(not_table), Contains("params must be a table of parameter declarations, not 5"));
}

TEST_CASE("lua params: describe reports syntax errors with file and line") {
  const std::string script = write_script("params_syntax", "params = {\n  size = { default = 1 }\n  mode = 2\n}\n");
  CHECK_THROWS_WITH(describe(script), StartsWith(script + ":3: syntax error: ") && Contains("'}' expected"));
}
