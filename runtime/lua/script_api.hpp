// What a script sees of the host: the global functions (value, position, buy, order, ...), the
// bar object handed to on_bar and the tables handed to on_fill and on_order, plus the C++ side
// of a strategy's state they work on. The API is documented for script authors in lua_node.cpp.
#pragma once

#include <lua.hpp>

#include <qflow/sdk.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::lua {

class LuaSandbox;

struct InputSlot {
  std::string label;              // the reference written in the pipeline: "fast", "macd.signal"
  uint32_t slot = 0;
  const char* interned = nullptr;  // the label as a Lua string anchored in the state
};

struct Position {
  uint32_t symbol = 0;  // 0 until resolved after a restore
  std::string name;
  double quantity = 0;  // signed
};

struct OpenOrder {
  uint64_t id = 0;
  uint32_t symbol = 0;
  std::string name;
};

// The strategy's book as the host keeps it for the script: current symbol, positions from
// fills, the latest account snapshot, orders still open. Saved with the script's `state`.
struct TradingBook {
  uint32_t symbol = 0;      // symbol of the bar, fill or update being handled (0: none yet)
  std::string symbol_name;  // of the latest bar, kept for saving
  uint64_t next_order_id = 1;
  bool has_account = false;
  double cash = 0, equity = 0;
  std::vector<Position> positions;
  std::vector<OpenOrder> open_orders;
  bool needs_resolve = false;  // symbol ids are per process: found again from names after a restore

  double position(uint32_t symbol_id) const;
  void set_bar_symbol(const Context& c, uint32_t symbol_id);
  void apply_fill(const qf_event& fill, std::string_view symbol_name);
  void apply_update(const qf_event& update);
  void apply_account(const qf_event& account);
  void resolve_symbols(const Context& c);

  void save(StateWriter& w) const;
  static TradingBook restore(StateReader& r);
};

// Per node instance; the Lua functions reach it through an upvalue.
struct ScriptSession {
  Context* ctx = nullptr;  // the callback in progress, null between callbacks
  std::vector<InputSlot> inputs;
  TradingBook book;
  std::vector<std::string> early_logs;  // logged by top-level code, before any callback ran
  std::string version;                  // the script version running ("sma_cross.lua@3f2a9c1b0d4e")
  uint32_t order_tag = 0;               // `version`, interned: the tag of every order placed

  const InputSlot* find_input(const char* label, size_t n) const;
  std::string input_names() const;
};

// The object on_bar receives: one per node, refilled for every bar, read-only.
struct BarObject {
  qf_event ev;
};

// Installs the global functions, which reach `session` through the sandbox's host data.
// Allocates: call in protected mode.
void install_script_api(LuaSandbox& sandbox, lua_State* L, ScriptSession* session);
// Pushes a new bar object and returns it.
BarObject* push_bar_object(lua_State* L);
// Push fresh tables describing a fill or an order update.
void push_fill(lua_State* L, const qf_event& fill, std::string_view symbol_name);
void push_order_update(lua_State* L, const qf_event& update, std::string_view symbol_name);

}  // namespace qflow::lua
