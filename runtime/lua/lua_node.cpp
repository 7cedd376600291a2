// lua — a strategy written in Lua 5.4.
//
//   - id: strategy
//     type: lua
//     inputs: [bars, fast, slow]       # each input is read by its label: value("fast")
//     params:
//       script: ../scripts/strategies/sma_cross.lua
//       size: 200                      # a parameter the script declares
//
// Node parameters: `script` (the file), `instruction_budget` (VM instructions allowed per
// callback, default 1,000,000, 0 = unlimited) and `memory_limit` (bytes for the whole script,
// default 64 MiB). Outputs: `orders` and `signals`. Fills, order updates and account snapshots
// for this node's orders come back through on_feedback, before the next bar.
//
// ======================================= Script API =======================================
//
// Callbacks — define the ones you need as global functions; all are optional:
//   on_start()        once, before the first event
//   on_bar(bar)       for each bar received (once per bar input that got one this cycle),
//                     when every input of the cycle has arrived
//   on_fill(fill)     a fill of one of your orders; position() already includes it
//   on_order(update)  a status change of one of your orders
//   on_stop()         once, at the end of the stream (orders placed here are still delivered)
//
// bar (read-only; one object reused for every bar: copy fields you want to keep, not `bar`):
//   bar.time (ns since the epoch, UTC, integer; the bar's open time), bar.open, bar.high,
//   bar.low, bar.close, bar.volume, bar.interval (ns), bar.symbol ("BTCUSDT")
// fill (a fresh table): side ("buy"/"sell"), quantity, price, commission, order_id, fill_id,
//   time, symbol
// update (a fresh table): order_id, status ("accepted", "partially_filled", "filled",
//   "cancelled", "rejected", "expired"), reason ("none", "insufficient_cash",
//   "insufficient_position", "invalid", "risk", "halted"), filled_quantity,
//   remaining_quantity, average_price, time, symbol
//
// Functions:
//   value(label)      the number the input labelled `label` received this cycle, or nil (an
//                     indicator warming up, or nothing this cycle). Values and signals give
//                     their value, bars their close, ticks their price, quotes their mid.
//   params.<name>     the value of a parameter the script declares (see below); read-only
//   position([sym])   signed quantity held in the current symbol (or `sym`), from the fills
//                     received; whole quantities are integers
//   cash(), equity()  from the latest account snapshot (nil before the first one)
//   buy(qty), sell(qty)
//                     a market order for the current symbol; returns the order id
//   order{side="buy"|"sell", quantity=q, type="market"|"limit"|"stop"|"stop_limit",
//         limit=price, stop=price, tif="gtc"|"day"|"ioc", symbol="..."}
//                     any order; returns its id. limit= is required by (and only allowed
//                     for) limit and stop_limit orders, stop= likewise for stop orders.
//   cancel(id)        asks to cancel an open order: true if sent, false if the order is no
//                     longer open (filled, cancelled, rejected, expired) or unknown
//   signal(value [, confidence])
//                     emits a signal for the current symbol; confidence in [0, 1], default 1
//   log(...), print(...)
//                     a line to the run's log (arguments joined by tabs)
//   now()             the current time in ns: the cycle's event time in a backtest
// The current symbol is the one of the bar being handled (of the fill or update in on_fill
// and on_order); in on_start and on_stop it is the latest bar's.
//
// Declared parameters — a global `params` table, read when the pipeline is validated:
//   params = {
//     size = { default = 100, min = 1, doc = "shares per entry" },
//     mode = { default = "fast", choices = { "fast", "slow" } },
//     threshold = { type = "number" },   -- no default: required in the pipeline
//   }
// Fields: type ("integer", "number", "boolean", "string"; else taken from the default),
// default, min, max, choices, doc, reloadable. After the top-level code has run, `params`
// holds the values instead (so top-level code still sees the declaration).
//
// State — a global table `state` (created empty if the script does not make one). Put in it
// everything that must survive a checkpoint: it is saved with the host's side (positions,
// cash, equity, open orders, next order id) and restored into a fresh node. It may hold
// numbers (integers stay integers), strings, booleans and nested tables; functions, userdata
// (such as `bar`) and cycles are refused, naming the key. Give `state` its initial contents at
// the top level of the script: a restore replaces the whole table after the top-level code
// has run and before the next callback; on_start still runs if the host starts the node.
//
// Sandbox — the libraries are base, table, string, math, utf8 and coroutine: no io, os,
// package, debug, require, load, loadfile, dofile, collectgarbage or string.dump, and
// setmetatable refuses __gc (finalizers would run outside the budget). math.random is seeded
// from the pipeline seed. pairs() order is not reproducible across runs: sort keys when order
// matters. Each callback may run `instruction_budget` instructions (to within a
// thousand), pcall and coroutines included, and the whole state may use `memory_limit` bytes.
// Any error stops the callback and is reported as "<script>:<line>: in <callback>: <message>";
// the pipeline's error policy decides what happens next. A memory error has no line.
#include "lua_value.hpp"
#include "sandbox.hpp"
#include "script_api.hpp"
#include "script_spec.hpp"

#include <qflow/sdk.hpp>

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace qflow::lua {
namespace {

const std::vector<std::string> kNodeParams = {"script", "instruction_budget", "memory_limit"};

SandboxLimits limits_of(const ParamView& p) {
  return SandboxLimits{p.integer("instruction_budget"), static_cast<size_t>(p.integer("memory_limit"))};
}

}  // namespace

class LuaNode {
 public:
  static NodeSpec spec() {
    return NodeSpec("lua", "strategy")
        .summary("A strategy written in Lua: callbacks, declared parameters, orders and signals")
        .doc("Runs a Lua 5.4 script in a sandbox. The script defines callbacks (on_start, on_bar, "
             "on_fill, on_order, on_stop), reads its inputs by label with value(label), trades with "
             "buy/sell/order/cancel, emits signals, declares its own parameters in a `params` table "
             "and keeps checkpointed data in a `state` table. Each callback runs under an "
             "instruction budget and the state under a memory limit.")
        .param(ParamSpec::path("script").required().doc("the Lua script"))
        .param(ParamSpec::integer("instruction_budget")
                   .default_value("1000000")
                   .min(0)
                   .doc("VM instructions allowed per callback; 0 = unlimited"))
        .param(ParamSpec::integer("memory_limit")
                   .default_value("67108864")
                   .min(1048576)
                   .doc("bytes the script's Lua state may use"))
        .input("in", Kinds::any(), "inputs, read by their label with value(label); bars also call on_bar",
               QF_PORT_MULTIPLE)
        .output("orders", Kind::order, "orders placed by the script")
        .output("signals", Kind::signal, "signals emitted by the script");
  }

  // The script's own parameters, read from its `params` table. Runs the top-level code in a
  // sandbox of its own; no callback runs.
  static std::vector<ParamSpec> describe(const ParamView& fixed) {
    ScriptSession session;  // no callback in progress: the API refuses to act
    LuaSandbox sandbox(fixed.string("script"), limits_of(fixed), 0);
    sandbox.protect("setup", [&](lua_State* L) { install_script_api(sandbox, L, &session); });
    sandbox.run_script();
    std::vector<ParamSpec> out;
    for (const DeclaredParam& p : read_declared_params(sandbox, kNodeParams)) out.push_back(to_param_spec(p));
    return out;
  }

  explicit LuaNode(const NodeConfig& cfg)
      : session_(std::make_unique<ScriptSession>()),
        sandbox_(std::make_unique<LuaSandbox>(cfg.params().string("script"), limits_of(cfg.params()), cfg.seed())) {
    std::set<std::string> labels;
    for (uint32_t i = 0; i < cfg.slots().size(); ++i) {
      const qf_slot_info& slot = cfg.slots()[i];
      const std::string label = slot.label ? slot.label : "";
      if (!labels.insert(label).second)
        throw ScriptError(path() + ": two inputs are labelled '" + label + "'; value() could not tell them apart");
      session_->inputs.push_back(InputSlot{label, i, nullptr});
      if (slot.kinds & QF_KIND_BIT(QF_KIND_BAR)) bar_slots_.push_back(i);
    }
    sandbox_->protect("setup", [&](lua_State* L) {
      install_script_api(*sandbox_, L, session_.get());
      for (InputSlot& in : session_->inputs) {
        lua_pushlstring(L, in.label.data(), in.label.size());
        in.interned = lua_tostring(L, -1);
        sandbox_->anchor();  // keeps the string, and so its address, alive
      }
      bar_ = push_bar_object(L);
      bar_ref_ = sandbox_->anchor();
      for (auto [key, name] : {std::pair{&keys_.on_start, "on_start"}, {&keys_.on_bar, "on_bar"},
                               {&keys_.on_fill, "on_fill"}, {&keys_.on_order, "on_order"},
                               {&keys_.on_stop, "on_stop"}, {&keys_.state, "state"}}) {
        lua_pushstring(L, name);
        *key = sandbox_->anchor();
      }
    });
    sandbox_->run_script();
    const std::vector<DeclaredParam> declared = read_declared_params(*sandbox_, kNodeParams);
    try {
      sandbox_->protect("setup", [&](lua_State* L) {
        push_param_values(L, declared, cfg.params());
        lua_setglobal(L, "params");
        sandbox_->push_global(keys_.state);
        if (lua_isnil(L, -1)) {
          lua_newtable(L);
          lua_setglobal(L, "state");
        } else if (!lua_istable(L, -1)) {
          throw std::invalid_argument(std::string("state must be a table, not a ") + luaL_typename(L, -1));
        }
      });
    } catch (const std::invalid_argument& e) {
      throw ScriptError(path() + ": " + e.what());
    }
  }

  void start(Context& ctx) {
    CallbackScope scope(*session_, ctx);
    for (const std::string& line : session_->early_logs) ctx.log(LogLevel::info, line);
    session_->early_logs.clear();
    if (sandbox_->push_global_function(keys_.on_start, "on_start")) sandbox_->call(0, "on_start");
  }

  // Regular inputs are read together in on_cycle; only feedback arrives one event at a time.
  void on_feedback(Context& ctx, const qf_event& ev) {
    TradingBook& book = session_->book;
    switch (ev.kind) {
      case QF_KIND_FILL: {
        CallbackScope scope(*session_, ctx);
        SymbolScope symbol(book, ev.symbol);
        const std::string_view name = ctx.lookup(ev.symbol);
        book.apply_fill(ev, name);
        notify(keys_.on_fill, "on_fill", [&](lua_State* L) { push_fill(L, ev, name); });
        break;
      }
      case QF_KIND_ORDER_UPDATE: {
        CallbackScope scope(*session_, ctx);
        SymbolScope symbol(book, ev.symbol);
        book.apply_update(ev);
        notify(keys_.on_order, "on_order", [&](lua_State* L) { push_order_update(L, ev, ctx.lookup(ev.symbol)); });
        break;
      }
      case QF_KIND_ACCOUNT: book.apply_account(ev); break;
      default: break;
    }
  }

  void on_cycle(Context& ctx) {
    CallbackScope scope(*session_, ctx);
    for (uint32_t slot : bar_slots_) {
      const qf_event* ev = ctx.input(slot);
      if (!ev || ev->kind != QF_KIND_BAR) continue;
      session_->book.set_bar_symbol(ctx, ev->symbol);
      bar_->ev = *ev;
      // The hot path: no allocation, so no protected trampoline is needed around it.
      if (!sandbox_->push_global_function(keys_.on_bar, "on_bar")) continue;
      lua_rawgeti(sandbox_->state(), LUA_REGISTRYINDEX, bar_ref_);
      sandbox_->call(1, "on_bar");
    }
  }

  void stop(Context& ctx) {
    CallbackScope scope(*session_, ctx);
    if (sandbox_->push_global_function(keys_.on_stop, "on_stop")) sandbox_->call(0, "on_stop");
  }

  void save_state(StateWriter& w) const {
    lua_State* L = sandbox_->state();
    sandbox_->push_global(keys_.state);
    LuaValue state;
    try {
      if (!lua_istable(L, -1))
        throw std::invalid_argument(std::string("state must be a table, not a ") + luaL_typename(L, -1));
      state = read_lua_value(L, -1, "state");
    } catch (const std::invalid_argument& e) {
      lua_pop(L, 1);
      throw ScriptError(path() + ": cannot save state: " + e.what());
    }
    lua_pop(L, 1);
    session_->book.save(w);
    write_lua_value(w, state);
  }

  void restore_state(StateReader& r) {
    TradingBook book = TradingBook::restore(r);
    const LuaValue state = read_lua_value(r);
    if (state.type != LuaValue::Type::table) throw std::runtime_error("saved Lua state is not a table");
    sandbox_->protect("restore_state", [&](lua_State* L) {
      push_lua_value(L, state);
      lua_setglobal(L, "state");
    });
    session_->book = std::move(book);
  }

 private:
  // Marks the callback in progress for the script API and clears it however the callback ends.
  class CallbackScope {
   public:
    CallbackScope(ScriptSession& s, Context& ctx) : s_(s) {
      s_.ctx = &ctx;
      if (s_.book.needs_resolve) s_.book.resolve_symbols(ctx);
    }
    ~CallbackScope() { s_.ctx = nullptr; }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

   private:
    ScriptSession& s_;
  };

  // In on_fill and on_order the current symbol is the one of the fill or update.
  class SymbolScope {
   public:
    SymbolScope(TradingBook& book, uint32_t symbol) : book_(book), saved_(book.symbol) { book_.symbol = symbol; }
    ~SymbolScope() { book_.symbol = saved_; }
    SymbolScope(const SymbolScope&) = delete;
    SymbolScope& operator=(const SymbolScope&) = delete;

   private:
    TradingBook& book_;
    uint32_t saved_;
  };

  // Calls a feedback callback with a fresh table built by `push`, if the script defines it.
  template <class Push>
  void notify(int key, const char* name, Push&& push) {
    sandbox_->protect(name, [&](lua_State* L) {
      sandbox_->push_global(key);
      if (lua_isnil(L, -1)) return;
      push(L);
      lua_call(L, 1, 0);
    });
  }

  const std::string& path() const { return sandbox_->script_path(); }

  // The session outlives the Lua state: finalizers run by lua_close may still call the API.
  std::unique_ptr<ScriptSession> session_;
  std::unique_ptr<LuaSandbox> sandbox_;
  std::vector<uint32_t> bar_slots_;  // slots whose producer may send bars
  BarObject* bar_ = nullptr;         // lives in the Lua state, anchored by bar_ref_
  int bar_ref_ = LUA_NOREF;
  struct {
    int on_start = LUA_NOREF, on_bar = LUA_NOREF, on_fill = LUA_NOREF, on_order = LUA_NOREF, on_stop = LUA_NOREF,
        state = LUA_NOREF;
  } keys_;  // global names, anchored so that looking them up never allocates
};

void register_lua_node(Registrar& r) { r.add<LuaNode>(); }

}  // namespace qflow::lua
