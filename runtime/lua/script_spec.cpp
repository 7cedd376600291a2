#include "script_spec.hpp"

#include "sandbox.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace qflow::lua {
namespace {

constexpr const char* kFields[] = {"type", "default", "min", "max", "choices", "doc", "reloadable"};
constexpr size_t kMaxChoices = 32;

bool is_identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string describe(const LuaValue& v) {
  switch (v.type) {
    case LuaValue::Type::boolean: return v.boolean ? "true" : "false";
    case LuaValue::Type::integer: return std::to_string(v.integer);
    case LuaValue::Type::number: return number_text(v.number);
    case LuaValue::Type::string: return "\"" + v.string + "\"";
    default: return "a table";
  }
}

bool is_number(const LuaValue& v) { return v.type == LuaValue::Type::integer || v.type == LuaValue::Type::number; }
double as_double(const LuaValue& v) { return v.type == LuaValue::Type::integer ? static_cast<double>(v.integer) : v.number; }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// ParamSpec::choice takes an initializer_list only; a runtime list goes through a table of
// fixed-size expansions until the SDK grows a vector overload.
template <size_t... I>
ParamSpec choice_of(std::string name, const std::vector<std::string>& c, std::index_sequence<I...>) {
  return ParamSpec::choice(std::move(name), {c[I]...});
}
template <size_t N>
ParamSpec choice_n(std::string name, const std::vector<std::string>& c) {
  return choice_of(std::move(name), c, std::make_index_sequence<N>{});
}
template <size_t... N>
ParamSpec choice_spec(std::string name, const std::vector<std::string>& c, std::index_sequence<N...>) {
  using Make = ParamSpec (*)(std::string, const std::vector<std::string>&);
  static constexpr Make kMake[] = {&choice_n<N>...};
  return kMake[c.size()](std::move(name), c);
}

class DeclarationParser {
 public:
  DeclarationParser(std::string name, const std::vector<std::string>& reserved) : reserved_(reserved) {
    p_.name = std::move(name);
  }

  DeclaredParam parse(const LuaValue& v) {
    if (std::find(reserved_.begin(), reserved_.end(), p_.name) != reserved_.end())
      throw error("clashes with the lua node's own parameter of that name");
    if (v.type == LuaValue::Type::table) {
      read_fields(v);
    } else {
      default_ = &v;  // shorthand: `size = 100`
    }
    resolve_type();
    check_default();
    check_range();
    return std::move(p_);
  }

 private:
  std::invalid_argument error(const std::string& what) const {
    return std::invalid_argument("param '" + p_.name + "': " + what);
  }

  void read_fields(const LuaValue& v) {
    for (const LuaEntry& e : v.entries) {
      const std::string field = e.key.type == LuaValue::Type::string ? e.key.string : describe(e.key);
      if (field == "type") {
        if (e.value.type != LuaValue::Type::string) throw error("type must be a string");
        type_ = &e.value.string;
      } else if (field == "default") {
        default_ = &e.value;
      } else if (field == "min" || field == "max") {
        if (!is_number(e.value) || std::isnan(as_double(e.value)))
          throw error(field + " must be a number, not " + describe(e.value));
        (field == "min" ? p_.min : p_.max) = as_double(e.value);
      } else if (field == "choices") {
        read_choices(e.value);
      } else if (field == "doc") {
        if (e.value.type != LuaValue::Type::string) throw error("doc must be a string");
        p_.doc = e.value.string;
      } else if (field == "reloadable") {
        if (e.value.type != LuaValue::Type::boolean) throw error("reloadable must be true or false");
        p_.reloadable = e.value.boolean;
      } else {
        std::vector<std::string> known(std::begin(kFields), std::end(kFields));
        throw error("unknown field '" + field + "' (fields: " + join(known) + ")");
      }
    }
  }

  void read_choices(const LuaValue& v) {
    if (v.type != LuaValue::Type::table || v.entries.empty()) throw error("choices must be a list of strings");
    int64_t expected = 1;
    for (const LuaEntry& e : v.entries) {
      if (e.key.type != LuaValue::Type::integer || e.key.integer != expected++ || e.value.type != LuaValue::Type::string)
        throw error("choices must be a list of strings");
      if (std::find(p_.choices.begin(), p_.choices.end(), e.value.string) != p_.choices.end())
        throw error("choice \"" + e.value.string + "\" is listed twice");
      p_.choices.push_back(e.value.string);
    }
    if (p_.choices.size() > kMaxChoices) throw error("at most " + std::to_string(kMaxChoices) + " choices");
  }

  void resolve_type() {
    if (type_) {
      if (*type_ == "integer") p_.type = QF_PARAM_INT;
      else if (*type_ == "number") p_.type = QF_PARAM_DOUBLE;
      else if (*type_ == "boolean") p_.type = QF_PARAM_BOOL;
      else if (*type_ == "string") p_.type = QF_PARAM_STRING;
      else throw error("unknown type \"" + *type_ + "\" (types: integer, number, boolean, string)");
    } else if (default_) {
      switch (default_->type) {
        case LuaValue::Type::integer: p_.type = QF_PARAM_INT; break;
        case LuaValue::Type::number: p_.type = QF_PARAM_DOUBLE; break;
        case LuaValue::Type::boolean: p_.type = QF_PARAM_BOOL; break;
        case LuaValue::Type::string: p_.type = QF_PARAM_STRING; break;
        default: throw error("default must be a number, a string or a boolean");
      }
    } else if (!p_.choices.empty()) {
      p_.type = QF_PARAM_STRING;
    } else {
      throw error("needs a type or a default");
    }
    if (!p_.choices.empty()) {
      if (p_.type != QF_PARAM_STRING) throw error("choices apply to string parameters only");
      p_.type = QF_PARAM_CHOICE;
    }
    if ((p_.min || p_.max) && p_.type != QF_PARAM_INT && p_.type != QF_PARAM_DOUBLE)
      throw error("min and max apply to integer and number parameters only");
  }

  void check_default() {
    if (!default_) return;
    LuaValue d = *default_;
    const std::string seen = describe(d);
    switch (p_.type) {
      case QF_PARAM_INT:
        if (d.type == LuaValue::Type::number && std::trunc(d.number) == d.number && std::abs(d.number) < 0x1p63) {
          d.type = LuaValue::Type::integer;
          d.integer = static_cast<int64_t>(d.number);
        }
        if (d.type != LuaValue::Type::integer) throw error("default " + seen + " is not an integer");
        break;
      case QF_PARAM_DOUBLE:
        if (!is_number(d) || !std::isfinite(as_double(d))) throw error("default " + seen + " is not a finite number");
        d.number = as_double(d);
        d.type = LuaValue::Type::number;
        break;
      case QF_PARAM_BOOL:
        if (d.type != LuaValue::Type::boolean) throw error("default " + seen + " is not a boolean");
        break;
      default:
        if (d.type != LuaValue::Type::string) throw error("default " + seen + " is not a string");
        if (p_.type == QF_PARAM_CHOICE && std::find(p_.choices.begin(), p_.choices.end(), d.string) == p_.choices.end())
          throw error("default " + seen + " is not one of the choices (" + join(p_.choices) + ")");
        break;
    }
    p_.default_value = std::move(d);
  }

  void check_range() {
    if (p_.min && p_.max && *p_.min > *p_.max) throw error("min is greater than max");
    if (!p_.default_value || !is_number(*p_.default_value)) return;
    const double d = as_double(*p_.default_value);
    if (p_.min && d < *p_.min) throw error("default " + describe(*p_.default_value) + " is below min " + number_text(*p_.min));
    if (p_.max && d > *p_.max) throw error("default " + describe(*p_.default_value) + " is above max " + number_text(*p_.max));
  }

  const std::vector<std::string>& reserved_;
  DeclaredParam p_;
  const std::string* type_ = nullptr;
  const LuaValue* default_ = nullptr;
};

int params_are_read_only(lua_State* L) {
  return luaL_error(L, "params are read-only (assigning params.%s)", luaL_tolstring(L, 2, nullptr));
}

int params_next(lua_State* L) {
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

// pairs(params) walks the values.
int params_pairs(lua_State* L) {
  lua_pushcfunction(L, &params_next);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  return 3;
}

// The validated value of one declared parameter, checked again against the declaration: the
// host validates against the spec, but a script edited since then must not slip through.
void push_value(lua_State* L, const DeclaredParam& p, const ParamView& values) {
  const qf_param_value* v = nullptr;
  for (const qf_param_value& candidate : values.all())
    if (p.name == candidate.name) v = &candidate;
  if (!v || !v->is_set)
    throw std::invalid_argument("param '" + p.name + "' declared by the script has no value");
  const auto out_of_range = [&](double x) {
    if ((p.min && x < *p.min) || (p.max && x > *p.max))
      throw std::invalid_argument("param '" + p.name + "': " + number_text(x) + " is outside [" +
                                  (p.min ? number_text(*p.min) : "-inf") + ", " + (p.max ? number_text(*p.max) : "inf") + "]");
  };
  switch (p.type) {
    case QF_PARAM_INT:
      out_of_range(static_cast<double>(v->i));
      lua_pushinteger(L, v->i);
      break;
    case QF_PARAM_DOUBLE:
      out_of_range(v->d);
      lua_pushnumber(L, v->d);
      break;
    case QF_PARAM_BOOL: lua_pushboolean(L, v->i != 0); break;
    default: {
      const std::string s(v->s.data, v->s.size);
      if (p.type == QF_PARAM_CHOICE && std::find(p.choices.begin(), p.choices.end(), s) == p.choices.end())
        throw std::invalid_argument("param '" + p.name + "': \"" + s + "\" is not one of " + join(p.choices));
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
  }
}

}  // namespace

std::vector<DeclaredParam> parse_declared_params(const LuaValue* declaration, const std::vector<std::string>& reserved) {
  std::vector<DeclaredParam> out;
  if (!declaration) return out;
  if (declaration->type != LuaValue::Type::table)
    throw std::invalid_argument("params must be a table of parameter declarations, not " + describe(*declaration));
  for (const LuaEntry& e : declaration->entries) {
    if (e.key.type != LuaValue::Type::string || !is_identifier(e.key.string))
      throw std::invalid_argument("params: parameter names must be identifiers, not params" + key_path(e.key));
    out.push_back(DeclarationParser(e.key.string, reserved).parse(e.value));
  }
  return out;  // ordered by name
}

std::vector<DeclaredParam> read_declared_params(LuaSandbox& sandbox, const std::vector<std::string>& reserved) {
  std::optional<LuaValue> declaration;
  try {
    sandbox.protect("params", [&](lua_State* L) {
      lua_getglobal(L, "params");
      if (!lua_isnil(L, -1)) declaration = read_lua_value(L, -1, "params");
    });
    return parse_declared_params(declaration ? &*declaration : nullptr, reserved);
  } catch (const std::invalid_argument& e) {
    throw ScriptError(sandbox.script_path() + ": " + e.what());
  }
}

ParamSpec to_param_spec(const DeclaredParam& p) {
  ParamSpec spec = p.type == QF_PARAM_INT      ? ParamSpec::integer(p.name)
                   : p.type == QF_PARAM_DOUBLE ? ParamSpec::number(p.name)
                   : p.type == QF_PARAM_BOOL   ? ParamSpec::boolean(p.name)
                   : p.type == QF_PARAM_CHOICE ? choice_spec(p.name, p.choices, std::make_index_sequence<kMaxChoices + 1>{})
                                               : ParamSpec::string(p.name);
  if (p.default_value) {
    const LuaValue& d = *p.default_value;
    switch (d.type) {
      case LuaValue::Type::integer: spec.default_value(std::to_string(d.integer)); break;
      case LuaValue::Type::number: spec.default_value(number_text(d.number)); break;
      case LuaValue::Type::boolean: spec.default_value(d.boolean ? "true" : "false"); break;
      default: spec.default_value(d.string); break;
    }
  } else {
    spec.required();
  }
  if (p.min) spec.min(*p.min);
  if (p.max) spec.max(*p.max);
  if (!p.doc.empty()) spec.doc(p.doc);
  if (p.reloadable) spec.reloadable();
  return spec;
}

void push_param_values(lua_State* L, const std::vector<DeclaredParam>& declared, const ParamView& values) {
  lua_createtable(L, 0, 0);  // the proxy the script sees
  lua_createtable(L, 0, 4);  // its metatable
  lua_createtable(L, 0, static_cast<int>(declared.size()));
  for (const DeclaredParam& p : declared) {
    push_value(L, p, values);
    lua_setfield(L, -2, p.name.c_str());
  }
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, &params_pairs, 1);
  lua_setfield(L, -3, "__pairs");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, &params_are_read_only);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");  // getmetatable(params) cannot reach the values table
  lua_setmetatable(L, -2);
}

}  // namespace qflow::lua
