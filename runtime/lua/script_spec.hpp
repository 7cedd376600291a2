// The parameters a script declares in its global `params` table, and their values at run time.
//
//   params = {
//     size  = { default = 100, min = 1, doc = "shares per entry" },   -- integer (from the default)
//     ratio = { type = "number", min = 0, max = 1 },                  -- required: no default
//     mode  = { default = "fast", choices = { "fast", "slow" } },     -- a choice
//     debug = false,                                                  -- shorthand for { default = false }
//   }
//
// Fields: type ("integer", "number", "boolean", "string"; inferred from the default when
// absent: a Lua integer gives integer, a float number, ...), default, min, max (numbers only),
// choices (strings only), doc, reloadable. A parameter without default is required. Unknown
// fields, a default of the wrong type or outside min/max/choices, and names that clash with the
// node's own parameters are errors naming the parameter.
#pragma once

#include "lua_value.hpp"

#include <qflow/sdk.hpp>

#include <optional>
#include <string>
#include <vector>

namespace qflow::lua {

class LuaSandbox;

struct DeclaredParam {
  std::string name;
  int32_t type = QF_PARAM_INT;  // INT, DOUBLE, BOOL, STRING or CHOICE
  std::optional<LuaValue> default_value;
  std::optional<double> min, max;
  std::vector<std::string> choices;
  std::string doc;
  bool reloadable = false;
};

// Parses a declaration (the `params` table read as data; nil when the script declares none).
// `reserved` are the node's own parameter names. Throws std::invalid_argument naming the param.
std::vector<DeclaredParam> parse_declared_params(const LuaValue* declaration, const std::vector<std::string>& reserved);

// Reads and parses the global `params` of a script whose main chunk has run.
std::vector<DeclaredParam> read_declared_params(LuaSandbox& sandbox, const std::vector<std::string>& reserved);

// The spec the host validates pipelines against.
ParamSpec to_param_spec(const DeclaredParam& p);

// Pushes a read-only table of the declared parameters' validated values (the script's
// `params` from then on). Allocates: call in protected mode.
void push_param_values(lua_State* L, const std::vector<DeclaredParam>& declared, const ParamView& values);

}  // namespace qflow::lua
