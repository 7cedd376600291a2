// The Lua state a script runs in, with the limits DESIGN.md asks for.
//
// - Libraries: only base, table, string, math, utf8 and coroutine are opened; dofile, loadfile,
//   load, require, collectgarbage, warn and string.dump are removed (so is print; the node API
//   puts its own back). Only text chunks are loaded: a binary chunk can crash the interpreter.
//   Lua runs two kinds of script code with hooks off: finalizers, and an xpcall handler for an
//   error raised by a hook. So setmetatable refuses __gc, and xpcall runs its handler after
//   unwinding (indistinguishable without the debug library).
// - Memory: every allocation goes through a lua_Alloc that refuses to grow past `memory_limit`,
//   so a runaway script gets a clean "not enough memory" error, never the process's memory.
// - Instructions: `arm()` grants each callback `instruction_budget` VM instructions, counted by
//   a count hook shared by the main thread and every coroutine. Once the budget is spent the
//   hook re-arms itself to fire on *every* instruction of every thread, so a `pcall` in the
//   script catches the error only to hit it again on its next instruction. A budget of 0
//   installs no hook at all (the hook costs the interpreter ~60% speed).
//   Known hole: a single long C call (a pathological string.find) runs to completion.
//
// Protected mode. With the C++ build of Lua (lua5.4-c++) a Lua error is a C++ exception that
// only a protected call may catch; outside one, Lua aborts the process. So everything that can
// raise (anything that allocates, calls a metamethod or runs script code) goes through `call`
// or `protect`; the few calls made outside them (rawget with anchored keys, pushvalue, sethook)
// can neither allocate nor raise.
//
// Failures surface as ScriptError whose message names the script, the line and the callback:
//   /path/strategy.lua:12: in on_bar: attempt to index a nil value (local 'x')
// The line comes from a message handler that inspects the stack where the error was raised.
#pragma once

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace qflow::lua {

struct SandboxLimits {
  int64_t instruction_budget = 1'000'000;  // per callback; 0 = unlimited
  size_t memory_limit = size_t{64} << 20;  // bytes
};

// A failure of the script: syntax, runtime error, broken limit. what() is the full report.
struct ScriptError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class LuaSandbox {
 public:
  // The message handler stays in the main thread's first stack slot for the state's life.
  static constexpr int kMessageHandler = 1;

  LuaSandbox(std::string script_path, SandboxLimits limits, uint64_t seed);
  ~LuaSandbox();
  LuaSandbox(const LuaSandbox&) = delete;
  LuaSandbox& operator=(const LuaSandbox&) = delete;

  lua_State* state() const { return L_; }
  const std::string& script_path() const { return path_; }
  const SandboxLimits& limits() const { return limits_; }
  size_t memory_used() const { return used_; }

  // Reads the script file and runs its main chunk (top-level code) under the limits.
  void run_script();
  // The text run_script() read.
  const std::string& source() const { return source_; }

  // Calls the function lying under the `nargs` arguments on top of the stack, under a fresh
  // instruction budget. Throws ScriptError naming `callback` when it fails.
  void call(int nargs, const char* callback);

  // Runs f(lua_State*) in protected mode under a fresh budget. A Lua error raised inside
  // (by f itself or by script code it calls) becomes a ScriptError naming `what`; a C++
  // exception thrown by f is rethrown unchanged. f must leave nothing it needs on the stack.
  template <class F>
  void protect(const char* what, F&& f);

  // Pushes the global `key_ref` (a string anchored with `anchor`) by raw lookup and returns
  // true when it is a function; pushes nothing and returns false when it is nil. Raw access
  // with an anchored key cannot allocate, raise or run metamethods, so it is safe outside
  // protected mode.
  bool push_global_function(int key_ref, const char* name);
  // Pushes a global by raw lookup (anchored key), whatever its type.
  void push_global(int key_ref) const;

  // Anchors the value on top of the stack in the registry (pops it) and returns its reference.
  // Allocates: call inside `protect`.
  int anchor();

  // Grants the next callback a full instruction budget.
  void arm();

  // A pointer the embedding code attaches to the state, reachable from any lua_CFunction
  // without a call into Lua (cheaper than an upvalue on the hot path).
  void set_host_data(void* data) { host_data_ = data; }
  static void* host_data(lua_State* L) { return of(L)->host_data_; }

 private:
  static LuaSandbox* of(lua_State* L);
  static void* allocate(void* ud, void* ptr, size_t old_size, size_t new_size) noexcept;
  static void budget_hook(lua_State* L, lua_Debug* ar);
  static int message_handler(lua_State* L);
  static int panic(lua_State* L);
  template <class F>
  static int trampoline(lua_State* L);

  void open_libraries(uint64_t seed);
  int protected_call(int nargs);
  [[noreturn]] void fail(int status, const char* callback);
  std::string syntax_error(const std::string& message) const;

  std::string path_;
  std::string chunk_name_;  // "@" + path
  std::string source_;      // what run_script() read
  std::string short_src_;   // how Lua abbreviates the chunk name in its messages
  SandboxLimits limits_;
  lua_State* L_ = nullptr;

  size_t used_ = 0;  // bytes currently allocated by the state

  int hook_step_ = 0;       // instructions between two budget checks of one thread
  int64_t remaining_ = 0;   // instructions left to the current callback
  bool tripped_ = false;    // the current callback has spent its budget

  int error_line_ = 0;                   // set by the message handler: line of the failure
  std::exception_ptr cxx_exception_;     // a C++ exception caught inside `protect`
  void* host_data_ = nullptr;
};

template <class F>
int LuaSandbox::trampoline(lua_State* L) {
  auto& f = *static_cast<std::remove_reference_t<F>*>(lua_touserdata(L, 1));
  try {
    f(L);
    return 0;
  } catch (const std::exception&) {  // never catch (...): Lua's own errors are exceptions too
    of(L)->cxx_exception_ = std::current_exception();
  }
  lua_pushliteral(L, "C++ exception");
  return lua_error(L);
}

template <class F>
void LuaSandbox::protect(const char* what, F&& f) {
  lua_pushcfunction(L_, &trampoline<F>);
  lua_pushlightuserdata(L_, const_cast<void*>(static_cast<const void*>(&f)));
  arm();
  const int status = protected_call(1);
  if (status != LUA_OK) fail(status, what);
}

}  // namespace qflow::lua
