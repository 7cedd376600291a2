#include "lua_value.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace qflow::lua {
namespace {

bool is_identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

int type_rank(const LuaValue& v) {
  switch (v.type) {
    case LuaValue::Type::boolean: return 0;
    case LuaValue::Type::integer:
    case LuaValue::Type::number: return 1;
    default: return 2;
  }
}

bool key_less(const LuaValue& a, const LuaValue& b) {
  const int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb;
  switch (ra) {
    case 0: return a.boolean < b.boolean;
    case 1:
      if (a.type == LuaValue::Type::integer && b.type == LuaValue::Type::integer) return a.integer < b.integer;
      {
        const double x = a.type == LuaValue::Type::integer ? static_cast<double>(a.integer) : a.number;
        const double y = b.type == LuaValue::Type::integer ? static_cast<double>(b.integer) : b.number;
        if (x != y) return x < y;
        return a.type < b.type;  // 2^53 + 1 vs 2^53 as a float: any fixed order will do
      }
    default: return a.string < b.string;
  }
}

class Reader {
 public:
  explicit Reader(lua_State* L) : L_(L) {}

  LuaValue read(int index, const std::string& path) {
    index = lua_absindex(L_, index);
    LuaValue v;
    switch (lua_type(L_, index)) {
      case LUA_TBOOLEAN:
        v.type = LuaValue::Type::boolean;
        v.boolean = lua_toboolean(L_, index) != 0;
        return v;
      case LUA_TNUMBER:
        if (lua_isinteger(L_, index)) {
          v.type = LuaValue::Type::integer;
          v.integer = lua_tointeger(L_, index);
        } else {
          v.type = LuaValue::Type::number;
          v.number = lua_tonumber(L_, index);
        }
        return v;
      case LUA_TSTRING: {
        size_t n = 0;
        const char* s = lua_tolstring(L_, index, &n);  // a string already: no conversion
        v.type = LuaValue::Type::string;
        v.string.assign(s, n);
        return v;
      }
      case LUA_TTABLE: return read_table(index, path);
      case LUA_TNIL: throw std::invalid_argument(path + " is nil");
      case LUA_TFUNCTION: throw not_data(path, "a function");
      case LUA_TTHREAD: throw not_data(path, "a coroutine");
      default: throw not_data(path, "a userdata (copy the fields you need into a table)");
    }
  }

 private:
  static std::invalid_argument not_data(const std::string& path, const char* what) {
    return std::invalid_argument(path + " holds " + what +
                                 ", which is not data (numbers, strings, booleans and tables only)");
  }

  LuaValue read_table(int index, const std::string& path) {
    const void* id = lua_topointer(L_, index);
    for (const auto& [seen, seen_path] : open_)
      if (seen == id) throw std::invalid_argument(path + " refers back to " + seen_path + " (a cycle)");
    if (open_.size() >= static_cast<size_t>(kMaxDepth))
      throw std::invalid_argument(path + " is nested deeper than " + std::to_string(kMaxDepth) + " tables");
    if (!lua_checkstack(L_, 4)) throw std::invalid_argument(path + ": out of Lua stack space");
    open_.emplace_back(id, path);
    LuaValue v;
    v.type = LuaValue::Type::table;
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      LuaEntry e;
      const int key_type = lua_type(L_, -2);
      if (key_type != LUA_TBOOLEAN && key_type != LUA_TNUMBER && key_type != LUA_TSTRING) {
        lua_pop(L_, 2);
        throw std::invalid_argument(path + " has a key that is " + lua_typename(L_, key_type) +
                                    " (keys must be numbers, strings or booleans)");
      }
      e.key = read(-2, path);
      try {
        e.value = read(-1, path + key_path(e.key));
      } catch (...) {
        lua_pop(L_, 2);
        throw;
      }
      lua_pop(L_, 1);
      v.entries.push_back(std::move(e));
    }
    open_.pop_back();
    std::sort(v.entries.begin(), v.entries.end(), [](const LuaEntry& a, const LuaEntry& b) { return key_less(a.key, b.key); });
    return v;
  }

  lua_State* L_;
  std::vector<std::pair<const void*, std::string>> open_;  // tables on the current path
};

void push_value(lua_State* L, const LuaValue& v, int depth) {
  luaL_checkstack(L, 3, "state nested too deeply");
  switch (v.type) {
    case LuaValue::Type::boolean: lua_pushboolean(L, v.boolean); return;
    case LuaValue::Type::integer: lua_pushinteger(L, v.integer); return;
    case LuaValue::Type::number: lua_pushnumber(L, v.number); return;
    case LuaValue::Type::string: lua_pushlstring(L, v.string.data(), v.string.size()); return;
    case LuaValue::Type::table:
      if (depth >= kMaxDepth) luaL_error(L, "state nested deeper than %d tables", kMaxDepth);
      lua_createtable(L, 0, static_cast<int>(std::min<size_t>(v.entries.size(), 1u << 20)));
      for (const LuaEntry& e : v.entries) {
        push_value(L, e.key, depth + 1);
        push_value(L, e.value, depth + 1);
        lua_rawset(L, -3);
      }
      return;
  }
}

LuaValue read_tree(StateReader& r, int depth) {
  LuaValue v;
  const auto tag = r.get<uint8_t>();
  switch (tag) {
    case static_cast<uint8_t>(LuaValue::Type::boolean):
      v.type = LuaValue::Type::boolean;
      v.boolean = r.get<uint8_t>() != 0;
      return v;
    case static_cast<uint8_t>(LuaValue::Type::integer):
      v.type = LuaValue::Type::integer;
      v.integer = r.get<int64_t>();
      return v;
    case static_cast<uint8_t>(LuaValue::Type::number):
      v.type = LuaValue::Type::number;
      v.number = r.get<double>();
      return v;
    case static_cast<uint8_t>(LuaValue::Type::string):
      v.type = LuaValue::Type::string;
      v.string = r.get_string();
      return v;
    case static_cast<uint8_t>(LuaValue::Type::table): {
      if (depth >= kMaxDepth) throw std::runtime_error("saved Lua state nested too deeply");
      v.type = LuaValue::Type::table;
      const auto n = r.get<uint64_t>();
      for (uint64_t i = 0; i < n; ++i) {
        LuaEntry e;
        e.key = read_tree(r, depth + 1);
        if (e.key.type == LuaValue::Type::table) throw std::runtime_error("saved Lua state has a table key");
        if (e.key.type == LuaValue::Type::number && e.key.number != e.key.number)
          throw std::runtime_error("saved Lua state has a NaN key");
        e.value = read_tree(r, depth + 1);
        v.entries.push_back(std::move(e));
      }
      return v;
    }
    default: throw std::runtime_error("saved Lua state is corrupt (unknown tag " + std::to_string(tag) + ")");
  }
}

}  // namespace

const LuaValue* LuaValue::field(std::string_view key) const {
  for (const LuaEntry& e : entries)
    if (e.key.type == Type::string && e.key.string == key) return &e.value;
  return nullptr;
}

LuaValue read_lua_value(lua_State* L, int index, const std::string& root) { return Reader(L).read(index, root); }

void push_lua_value(lua_State* L, const LuaValue& value) { push_value(L, value, 0); }

void write_lua_value(StateWriter& w, const LuaValue& v) {
  w.put<uint8_t>(static_cast<uint8_t>(v.type));
  switch (v.type) {
    case LuaValue::Type::boolean: w.put<uint8_t>(v.boolean ? 1 : 0); return;
    case LuaValue::Type::integer: w.put<int64_t>(v.integer); return;
    case LuaValue::Type::number: w.put<double>(v.number); return;
    case LuaValue::Type::string: w.put_string(v.string); return;
    case LuaValue::Type::table:
      w.put<uint64_t>(v.entries.size());
      for (const LuaEntry& e : v.entries) {
        write_lua_value(w, e.key);
        write_lua_value(w, e.value);
      }
      return;
  }
}

LuaValue read_lua_value(StateReader& r) { return read_tree(r, 0); }

std::string number_text(double d) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, res.ptr);
}

std::string key_path(const LuaValue& key) {
  switch (key.type) {
    case LuaValue::Type::string:
      if (is_identifier(key.string)) return "." + key.string;
      {
        std::string out = "[\"";
        for (char c : key.string) {
          if (c == '"' || c == '\\') out += '\\';
          out += c;
        }
        return out + "\"]";
      }
    case LuaValue::Type::integer: return "[" + std::to_string(key.integer) + "]";
    case LuaValue::Type::number: return "[" + number_text(key.number) + "]";
    case LuaValue::Type::boolean: return key.boolean ? "[true]" : "[false]";
    default: return "[?]";
  }
}

}  // namespace qflow::lua
