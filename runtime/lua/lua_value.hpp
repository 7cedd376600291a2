// Lua data as plain C++ values: what a script's `state` table and `params` declaration are made
// of. Reading copies a Lua value into a tree (refusing anything that is not data), writing pushes
// a tree back, and the tree has a compact binary form for node state.
//
// Data is: booleans, integers and floats (kept apart: 3 and 3.0 survive as they were), strings
// (any bytes) and tables whose keys are booleans, numbers or strings, nested up to kMaxDepth.
// Functions, userdata, coroutines and cycles are refused with the path of the offending value
// ("state.orders[2].callback"). A table reached twice without a cycle is copied twice, and
// metatables are not kept. Table entries are ordered by key (booleans, numbers, strings), so the
// same data always gives the same bytes whatever Lua's hash order.
#pragma once

#include <lua.hpp>

#include <qflow/state.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::lua {

struct LuaEntry;

struct LuaValue {
  enum class Type : uint8_t { boolean = 1, integer = 2, number = 3, string = 4, table = 5 };

  Type type = Type::boolean;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;
  std::vector<LuaEntry> entries;  // tables, ordered by key

  // The value under a string key of a table, or nullptr.
  const LuaValue* field(std::string_view key) const;
};

struct LuaEntry {
  LuaValue key;
  LuaValue value;
};

inline constexpr int kMaxDepth = 100;

// Copies the value at `index`. `root` names it in errors ("state", "params"). Uses only Lua calls
// that neither allocate nor raise, so it may run outside protected mode. Throws
// std::invalid_argument for values that are not data.
LuaValue read_lua_value(lua_State* L, int index, const std::string& root);

// Pushes a copy of the value. Allocates: call in protected mode.
void push_lua_value(lua_State* L, const LuaValue& value);

void write_lua_value(StateWriter& w, const LuaValue& value);
LuaValue read_lua_value(StateReader& r);

// The shortest text that reads back as the same double: "0.25", "-1", "1e+20".
std::string number_text(double d);

// How a key appears in a path: ".name", "[3]", "[\"two words\"]".
std::string key_path(const LuaValue& key);

}  // namespace qflow::lua
