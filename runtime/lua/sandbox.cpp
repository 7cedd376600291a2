#include "sandbox.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace qflow::lua {
namespace {

// A thread checks the shared budget every this many instructions: often enough to stop within
// a thousand instructions of the limit, rarely enough that the check itself costs nothing.
constexpr int64_t kMaxHookStep = 1000;

constexpr luaL_Reg kLibraries[] = {
    {LUA_GNAME, luaopen_base},         {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
    {LUA_MATHLIBNAME, luaopen_math},   {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine},
};

// Base-library functions that reach the file system, compile code at run time or let the
// script steer the collector; print is replaced by the node API.
constexpr const char* kRemovedGlobals[] = {"dofile", "loadfile", "load", "require", "collectgarbage", "warn", "print"};

// Lua runs an xpcall message handler where the error was raised; when the budget hook raised
// it, hooks are off there, and a handler that loops would never stop. Without the debug
// library a handler cannot look at the stack anyway, so it may as well run after unwinding.
constexpr char kXpcall[] = R"lua(
local pcall, pack, unpack, type, error = pcall, table.pack, table.unpack, type, error
return function(f, handler, ...)
  if type(handler) ~= "function" then error("bad argument #2 to 'xpcall' (function expected)", 2) end
  local r = pack(pcall(f, ...))
  if r[1] then return unpack(r, 1, r.n) end
  local _, v = pcall(handler, r[2])
  return false, v
end
)lua";

// Lua runs finalizers with hooks off, so a __gc metamethod could loop forever: refuse them.
// (A __gc added to a metatable after setmetatable is never called, so checking here suffices.)
int setmetatable_without_gc(lua_State* L) {
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "setmetatable: __gc metamethods are not available to scripts");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 1);
  return 1;
}

}  // namespace

LuaSandbox* LuaSandbox::of(lua_State* L) { return *static_cast<LuaSandbox**>(lua_getextraspace(L)); }

void* LuaSandbox::allocate(void* ud, void* ptr, size_t old_size, size_t new_size) noexcept {
  auto* s = static_cast<LuaSandbox*>(ud);
  const size_t held = ptr ? old_size : 0;  // without ptr, old_size is an object type tag
  if (new_size == 0) {
    std::free(ptr);
    s->used_ -= held;
    return nullptr;
  }
  // Only growth may fail: Lua relies on shrinking never failing. used_ <= limit always holds.
  if (new_size > held && new_size - held > s->limits_.memory_limit - s->used_) return nullptr;
  void* p = std::realloc(ptr, new_size);
  if (!p) return nullptr;
  s->used_ = s->used_ - held + new_size;
  return p;
}

void LuaSandbox::budget_hook(lua_State* L, lua_Debug*) {
  LuaSandbox* s = of(L);
  if (!s->tripped_) {
    s->remaining_ -= s->hook_step_;
    if (s->remaining_ > 0) return;
    s->tripped_ = true;
    // From now on every instruction of the main thread fails too, and coroutines it creates
    // inherit that, so neither pcall nor coroutine.resume can carry on past the budget.
    lua_sethook(s->L_, &budget_hook, LUA_MASKCOUNT, 1);
  }
  lua_sethook(L, &budget_hook, LUA_MASKCOUNT, 1);
  lua_pushfstring(L, "instruction budget exceeded (%I instructions per callback)",
                  static_cast<lua_Integer>(s->limits_.instruction_budget));
  lua_error(L);
}

// Runs where the error was raised, with the stack intact: records the line of the innermost
// script function and turns the error object into a string.
int LuaSandbox::message_handler(lua_State* L) {
  LuaSandbox* s = of(L);
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_pushvalue(L, 1);
  } else if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushvalue(L, 1);
    lua_tolstring(L, -1, nullptr);
  } else if (!luaL_callmeta(L, 1, "__tostring") || lua_type(L, -1) != LUA_TSTRING) {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); ++level) {
    if (lua_getinfo(L, "l", &ar) && ar.currentline > 0) {
      s->error_line_ = ar.currentline;
      break;
    }
  }
  return 1;
}

int LuaSandbox::panic(lua_State* L) {
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  std::fprintf(stderr, "qflow lua host: unprotected Lua error (a bug in the host): %s\n", msg);
  return 0;  // Lua aborts
}

LuaSandbox::LuaSandbox(std::string script_path, SandboxLimits limits, uint64_t seed)
    : path_(std::move(script_path)), chunk_name_("@" + path_), limits_(limits) {
  if (limits_.instruction_budget < 0) throw std::invalid_argument("instruction_budget must not be negative");
  hook_step_ = static_cast<int>(std::min(limits_.instruction_budget, kMaxHookStep));
  L_ = lua_newstate(&allocate, this);
  if (!L_)
    throw ScriptError(path_ + ": cannot create a Lua state within memory_limit (" +
                      std::to_string(limits_.memory_limit) + " bytes)");
  *static_cast<LuaSandbox**>(lua_getextraspace(L_)) = this;
  lua_atpanic(L_, &panic);
  lua_pushcfunction(L_, &message_handler);  // kMessageHandler
  try {
    open_libraries(seed);
  } catch (...) {
    lua_close(L_);
    throw;
  }
}

LuaSandbox::~LuaSandbox() {
  arm();  // finalizers run by lua_close get a bounded budget too
  lua_close(L_);
}

void LuaSandbox::open_libraries(uint64_t seed) {
  protect("sandbox setup", [this, seed](lua_State* L) {
    for (const luaL_Reg& lib : kLibraries) {
      luaL_requiref(L, lib.name, lib.func, 1);
      lua_pop(L, 1);
    }
    for (const char* name : kRemovedGlobals) {
      lua_pushnil(L);
      lua_setglobal(L, name);
    }
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    if (luaL_loadbufferx(L, kXpcall, sizeof kXpcall - 1, "=xpcall", "t") != LUA_OK) lua_error(L);
    lua_call(L, 0, 1);
    lua_setglobal(L, "xpcall");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, &setmetatable_without_gc, 1);
    lua_setglobal(L, "setmetatable");
    // math.random would otherwise be seeded from the clock; runs must be reproducible.
    lua_getglobal(L, LUA_MATHLIBNAME);
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, static_cast<lua_Integer>(seed));
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    // Lua abbreviates long chunk names in its messages; learn how, to recognise positions.
    if (luaL_loadbufferx(L, "", 0, chunk_name_.c_str(), "t") != LUA_OK) lua_error(L);
    lua_Debug ar;
    lua_getinfo(L, ">S", &ar);
    short_src_ = ar.short_src;
  });
}

void LuaSandbox::run_script() {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path_, ec)) throw ScriptError("cannot open script '" + path_ + "': no such file");
  std::ifstream in(path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw ScriptError("cannot read script '" + path_ + "': " + std::strerror(errno));
  source_ = text.str();
  const std::string& source = source_;
  std::string load_error;
  protect("main chunk", [&](lua_State* L) {
    // Text only: a precompiled chunk can crash the interpreter.
    if (luaL_loadbufferx(L, source.data(), source.size(), chunk_name_.c_str(), "t") != LUA_OK) {
      load_error = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "cannot load";
      return;
    }
    lua_call(L, 0, 0);
  });
  if (!load_error.empty()) throw ScriptError(syntax_error(load_error));
}

// "<short_src>:<line>: <msg>" from the compiler becomes "<path>:<line>: syntax error: <msg>".
std::string LuaSandbox::syntax_error(const std::string& message) const {
  const std::string prefix = short_src_ + ":";
  if (message.starts_with(prefix)) {
    size_t i = prefix.size();
    const size_t digits = i;
    while (i < message.size() && message[i] >= '0' && message[i] <= '9') ++i;
    if (i > digits && message.compare(i, 2, ": ") == 0)
      return path_ + ":" + message.substr(digits, i - digits) + ": syntax error: " + message.substr(i + 2);
  }
  return path_ + ": " + message;
}

void LuaSandbox::call(int nargs, const char* callback) {
  arm();
  const int status = protected_call(nargs);
  if (status != LUA_OK) fail(status, callback);
}

int LuaSandbox::protected_call(int nargs) {
  error_line_ = 0;
  cxx_exception_ = nullptr;
  return lua_pcall(L_, nargs, 0, kMessageHandler);
}

void LuaSandbox::fail(int status, const char* callback) {
  // The message handler left a string; a memory error leaves Lua's preallocated one.
  std::string message = lua_type(L_, -1) == LUA_TSTRING ? lua_tostring(L_, -1) : "unknown error";
  lua_pop(L_, 1);
  if (cxx_exception_) std::rethrow_exception(std::exchange(cxx_exception_, nullptr));
  if (status == LUA_ERRMEM) message += " (memory_limit is " + std::to_string(limits_.memory_limit) + " bytes)";
  std::string where = path_;
  if (error_line_ > 0) {
    const std::string line = std::to_string(error_line_);
    where += ":" + line;
    const std::string position = short_src_ + ":" + line + ": ";
    if (message.starts_with(position)) message.erase(0, position.size());
  }
  throw ScriptError(where + ": in " + callback + ": " + message);
}

void LuaSandbox::arm() {
  if (limits_.instruction_budget == 0) return;
  remaining_ = limits_.instruction_budget;
  tripped_ = false;
  lua_sethook(L_, &budget_hook, LUA_MASKCOUNT, hook_step_);
}

void LuaSandbox::push_global(int key_ref) const {
  lua_rawgeti(L_, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_rawgeti(L_, LUA_REGISTRYINDEX, key_ref);
  lua_rawget(L_, -2);
  lua_remove(L_, -2);
}

bool LuaSandbox::push_global_function(int key_ref, const char* name) {
  push_global(key_ref);
  const int type = lua_type(L_, -1);
  if (type == LUA_TFUNCTION) return true;
  lua_pop(L_, 1);
  if (type == LUA_TNIL) return false;
  throw ScriptError(path_ + ": " + name + " is a " + lua_typename(L_, type) + ", not a function");
}

int LuaSandbox::anchor() { return luaL_ref(L_, LUA_REGISTRYINDEX); }

}  // namespace qflow::lua
