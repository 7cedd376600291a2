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
// callback, default 1,000,000, 0 = unlimited), `memory_limit` (bytes for the whole script,
// default 64 MiB) and `on_reload_error` (see Reload). Outputs: `orders` and `signals`. Fills,
// order updates and account snapshots for this node's orders come back through on_feedback,
// before the next bar.
//
// ======================================= Script API =======================================
//
// Callbacks — define the ones you need as global functions; all are optional:
//   on_start()        once, before the first event
//   on_bar(bar)       for each bar received, when every input of the cycle has arrived:
//                     once per bar, bar inputs in pipeline order and each input's bars in
//                     arrival order. An input may get several bars in one cycle (the legs of
//                     a transform.align instant, one per symbol): on_bar sees each of them.
//   on_fill(fill)     a fill of one of your orders; position() already includes it
//   on_order(update)  a status change of one of your orders
//   on_stop()         once, at the end of the stream (orders placed here are still delivered)
//   on_reload(old)    in a reloaded version, once, as it takes over: `old` is a copy of the
//                     replaced version's `state`; return the new state (or nil to keep `old`
//                     as changed). Without on_reload the new version gets `old` as it is.
//                     It may log, not trade.
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
//                     An input that got several events this cycle gives the last one's: in
//                     on_bar, read the bar being handled from `bar`, not from value().
//                     A node of several value outputs wired by its name alone (inputs: [macd])
//                     gives one input per output, labelled `macd.macd`, `macd.signal`...;
//                     value("macd") reads the first.
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
//   now()             the current time in ns: the cycle's event time (the market's clock; in
//                     paper mode the feed's timestamps)
//   version()         this script's version: "<file>@<first 12 hex digits of a 64-bit FNV-1a
//                     hash of its text>". Every order carries it (the order's tag, an interned
//                     string), and so do the fills and updates of that order.
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
// Reload — while a pipeline runs, the host may reload the script (it changed on disk, or a
// reloadable parameter changed). The new text is compiled and its top-level code and on_start
// run in a fresh Lua state, off the pipeline's thread: there position(), cash() and equity()
// read nothing yet and orders are refused. Its declared parameters must cover what the pipeline
// sets. Then, between two events, the state is handed over (on_reload) and the new version
// takes the next event: every event is handled by exactly one version. A syntax error, a
// failing on_start or on_reload, or an undeclared parameter refuses the reload and the running
// version goes on unchanged. When a reloaded version later fails in a callback (an error, a
// broken instruction budget or memory limit), `on_reload_error: rollback` (the default) hands
// its state back to the version it replaced, which takes over from the next event (the failed
// event is not handled again), and logs the error; `fail` treats it like any node error.
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

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace qflow::lua {
namespace {

const std::vector<std::string> kNodeParams = {"script", "instruction_budget", "memory_limit", "on_reload_error"};

SandboxLimits limits_of(const ParamView& p) {
  return SandboxLimits{p.integer("instruction_budget"), static_cast<size_t>(p.integer("memory_limit"))};
}

}  // namespace

// A copy of a node's parameters that outlives the host's arrays (prepare_reload's are not kept).
class OwnedParams {
 public:
  explicit OwnedParams(const ParamView& p) {
    for (const qf_param_value& v : p.all()) {
      names_.emplace_back(v.name ? v.name : "");
      strings_.emplace_back(v.s.data ? std::string(v.s.data, v.s.size) : std::string());
      values_.push_back(v);
    }
    for (size_t i = 0; i < values_.size(); ++i) {
      values_[i].name = names_[i].c_str();
      values_[i].s = qf_str{strings_[i].data(), strings_[i].size()};
    }
  }
  OwnedParams(const OwnedParams&) = delete;
  OwnedParams& operator=(const OwnedParams&) = delete;
  ParamView view() const { return ParamView(values_.data(), static_cast<uint32_t>(values_.size())); }

 private:
  std::deque<std::string> names_, strings_;
  std::vector<qf_param_value> values_;
};

// FNV-1a, 64 bits: a script version's name ("sma_cross.lua@3f2a9c1b0d4e") from its text.
std::string version_name(const std::string& path, const std::string& source) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : source) h = (h ^ c) * 0x100000001b3ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::filesystem::path(path).filename().string() + "@" + std::string(hex, 12);
}

class LuaNode {
 public:
  static NodeSpec spec() {
    return NodeSpec("lua", "strategy")
        .summary("A strategy written in Lua: callbacks, declared parameters, orders and signals")
        .doc("Runs a Lua 5.4 script in a sandbox. The script defines callbacks (on_start, on_bar, "
             "on_fill, on_order, on_stop, on_reload), reads its inputs by label with value(label), trades "
             "with buy/sell/order/cancel, emits signals, declares its own parameters in a `params` table "
             "and keeps checkpointed data in a `state` table. Each callback runs under an instruction "
             "budget and the state under a memory limit. While a pipeline runs, an edited script is "
             "reloaded between two events with its state; a broken one is refused.")
        .param(ParamSpec::path("script").required().reloadable().doc("the Lua script"))
        .param(ParamSpec::integer("instruction_budget")
                   .default_value("1000000")
                   .min(0)
                   .reloadable()
                   .doc("VM instructions allowed per callback; 0 = unlimited"))
        .param(ParamSpec::integer("memory_limit")
                   .default_value("67108864")
                   .min(1048576)
                   .reloadable()
                   .doc("bytes the script's Lua state may use"))
        .param(ParamSpec::choice("on_reload_error", {"rollback", "fail"})
                   .default_value("rollback")
                   .reloadable()
                   .doc("when a reloaded version fails in a callback: go back to the version it replaced "
                        "(with the state as it is), or fail like any node error"))
        .input("in", Kinds::any(), "inputs, read by their label with value(label); each bar also calls on_bar",
               QF_PORT_MULTIPLE)
        .output("orders", Kind::order, "orders placed by the script, tagged with its version")
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

  explicit LuaNode(const NodeConfig& cfg) : session_(std::make_unique<ScriptSession>()), seed_(cfg.seed()) {
    std::set<std::string> labels;
    for (uint32_t i = 0; i < cfg.slots().size(); ++i) {
      const qf_slot_info& slot = cfg.slots()[i];
      const std::string label = slot.label ? slot.label : "";
      if (!labels.insert(label).second)
        throw ScriptError(cfg.params().string("script") + ": two inputs are labelled '" + label +
                          "'; value() could not tell them apart");
      session_->inputs.push_back(InputSlot{label, i, nullptr});
      is_bar_slot_.push_back((slot.kinds & QF_KIND_BIT(QF_KIND_BAR)) != 0);
      if (is_bar_slot_.back()) bar_slots_.push_back(i);
    }
    current_ = build(cfg.params(), *session_);
    rollback_ = cfg.params().string("on_reload_error") == "rollback";
    adopt(*current_);
  }

  void start(Context& ctx) {
    session_->order_tag = ctx.intern(current_->name);
    CallbackScope scope(*session_, ctx);
    for (const std::string& line : session_->early_logs) ctx.log(LogLevel::info, line);
    session_->early_logs.clear();
    if (sandbox().push_global_function(current_->keys.on_start, "on_start")) sandbox().call(0, "on_start");
  }

  // Bars are only gathered here, in arrival order, and handed to on_bar in on_cycle, once every
  // input of the cycle has arrived: input() would show only a slot's last bar, and an input
  // fed by transform.align gets one bar per leg in the same cycle. Values are read through
  // input() in on_cycle. The buffer keeps its capacity, so the hot path does not allocate.
  void on_event(Context&, uint32_t slot, const qf_event& ev) {
    if (ev.kind == QF_KIND_BAR && slot < is_bar_slot_.size() && is_bar_slot_[slot]) arrived_.push_back(ArrivedBar{slot, ev});
  }

  // Feedback arrives one event at a time, outside cycles.
  void on_feedback(Context& ctx, const qf_event& ev) {
    TradingBook& book = session_->book;
    switch (ev.kind) {
      case QF_KIND_FILL: {
        CallbackScope scope(*session_, ctx);
        SymbolScope symbol(book, ev.symbol);
        const std::string_view name = ctx.lookup(ev.symbol);
        book.apply_fill(ev, name);
        guard(ctx, [&] { notify(current_->keys.on_fill, "on_fill", [&](lua_State* L) { push_fill(L, ev, name); }); });
        break;
      }
      case QF_KIND_ORDER_UPDATE: {
        CallbackScope scope(*session_, ctx);
        SymbolScope symbol(book, ev.symbol);
        book.apply_update(ev);
        guard(ctx, [&] {
          notify(current_->keys.on_order, "on_order", [&](lua_State* L) { push_order_update(L, ev, ctx.lookup(ev.symbol)); });
        });
        break;
      }
      case QF_KIND_ACCOUNT: book.apply_account(ev); break;
      default: break;
    }
  }

  void on_cycle(Context& ctx) {
    ArrivedScope arrived(arrived_);  // this cycle's bars are gone however the callbacks end
    CallbackScope scope(*session_, ctx);
    ++current_->cycles;
    // Slot by slot, as when each slot held one bar: with one bar per slot the calls and their
    // order are what they always were.
    for (uint32_t slot : bar_slots_) {
      for (const ArrivedBar& a : arrived_) {
        if (a.slot != slot) continue;
        session_->book.set_bar_symbol(ctx, a.ev.symbol);
        current_->bar->ev = a.ev;
        // The hot path: no allocation, so no protected trampoline is needed around it.
        if (!sandbox().push_global_function(current_->keys.on_bar, "on_bar")) continue;
        lua_rawgeti(sandbox().state(), LUA_REGISTRYINDEX, current_->bar_ref);
        if (!guard(ctx, [&] { sandbox().call(1, "on_bar"); })) return;
      }
    }
  }

  void stop(Context& ctx) {
    CallbackScope scope(*session_, ctx);
    guard(ctx, [&] {
      if (sandbox().push_global_function(current_->keys.on_stop, "on_stop")) sandbox().call(0, "on_stop");
    });
    if (!history_.empty() || previous_) {
      std::string counts;
      for (const auto& [name, cycles] : history_) counts += name + " " + std::to_string(cycles) + ", ";
      ctx.log(LogLevel::info, "cycles per version: " + counts + current_->name + " " +
                                  std::to_string(current_->cycles - current_->stint_start));
    }
  }

  void save_state(StateWriter& w) const {
    const LuaValue state = read_state(*current_, "cannot save state");
    session_->book.save(w);
    write_lua_value(w, state);
  }

  void restore_state(StateReader& r) {
    TradingBook book = TradingBook::restore(r);
    const LuaValue state = read_lua_value(r);
    if (state.type != LuaValue::Type::table) throw std::runtime_error("saved Lua state is not a table");
    sandbox().protect("restore_state", [&](lua_State* L) {
      push_lua_value(L, state);
      lua_setglobal(L, "state");
    });
    session_->book = std::move(book);
  }

  // ---- live reload ----
  // Off the node's thread: compile and run the new script in a fresh state of its own, with a
  // session of its own (so its top-level code and on_start cannot touch the running version's),
  // check that it declares every parameter the pipeline sets, with matching types, and run
  // on_start. Nothing of the running version is touched.
  void prepare_reload(const ParamView& params) {
    auto detached = std::make_unique<ScriptSession>();
    for (const InputSlot& in : session_->inputs) detached->inputs.push_back(InputSlot{in.label, in.slot, nullptr});
    std::unique_ptr<Version> next = build(params, *detached);
    if (next->keys.on_start != LUA_NOREF) {
      LuaSandbox& sb = *next->sandbox;
      if (sb.push_global_function(next->keys.on_start, "on_start")) sb.call(0, "on_start");
    }
    next->detached = std::move(detached);
    next->rollback = params.string("on_reload_error") == "rollback";
    std::lock_guard lock(pending_mutex_);
    pending_ = std::move(next);
  }

  // On the node's thread, between two events: hand the state over (through on_reload when the
  // new script defines it) and swap. Any failure leaves the running version as it was.
  void commit_reload(Context& ctx) {
    std::unique_ptr<Version> next;
    {
      std::lock_guard lock(pending_mutex_);
      next = std::move(pending_);
    }
    if (!next) throw std::runtime_error("no prepared version to commit");
    const LuaValue old_state = read_state(*current_, "cannot hand the state over");
    // Not a callback: on_reload may log (lines kept for after the swap) but not trade.
    LuaSandbox& sb = *next->sandbox;
    sb.set_host_data(session_.get());
    try {
      sb.protect("on_reload", [&](lua_State* L) {
        push_lua_value(L, old_state);
        sb.push_global(next->keys.on_reload);
        if (lua_isfunction(L, -1)) {
          lua_pushvalue(L, -2);
          lua_call(L, 1, 1);  // on_reload(old_state) → the new state, or nil to keep old_state as changed
          if (lua_istable(L, -1)) {
            lua_setglobal(L, "state");
            lua_pop(L, 1);
            return;
          }
          if (!lua_isnil(L, -1))
            throw std::invalid_argument(std::string("on_reload must return a table or nil, not a ") + luaL_typename(L, -1));
          lua_pop(L, 1);
        } else {
          lua_pop(L, 1);
        }
        lua_setglobal(L, "state");
      });
    } catch (...) {
      sb.set_host_data(next->detached.get());
      throw;
    }
    for (const std::string& line : next->detached->early_logs) ctx.log(LogLevel::info, line);
    for (const std::string& line : session_->early_logs) ctx.log(LogLevel::info, line);
    session_->early_logs.clear();
    ctx.log(LogLevel::info, "reloaded " + current_->name + " -> " + next->name + " after " +
                                std::to_string(current_->cycles - current_->stint_start) + " cycles");
    history_.emplace_back(current_->name, current_->cycles - current_->stint_start);
    previous_ = std::move(current_);
    current_ = std::move(next);
    rollback_ = current_->rollback;
    adopt(*current_);
    session_->order_tag = ctx.intern(current_->name);
  }

  void abort_reload() {
    std::lock_guard lock(pending_mutex_);
    pending_.reset();
  }

  const std::string& version() const { return current_->name; }

 private:
  struct Keys {
    int on_start = LUA_NOREF, on_bar = LUA_NOREF, on_fill = LUA_NOREF, on_order = LUA_NOREF, on_stop = LUA_NOREF,
        on_reload = LUA_NOREF, state = LUA_NOREF;
  };
  // One loaded script: its Lua state and what the hot path needs of it.
  struct Version {
    std::unique_ptr<ScriptSession> detached;  // the session it was prepared with (reloads)
    std::unique_ptr<LuaSandbox> sandbox;
    BarObject* bar = nullptr;  // lives in the Lua state, anchored by bar_ref
    int bar_ref = LUA_NOREF;
    Keys keys;                          // global names, anchored so that looking them up never allocates
    std::vector<const char*> labels;    // per input slot: its label as a string of this state
    std::string name;                   // "sma_cross.lua@3f2a9c1b0d4e"
    uint64_t cycles = 0;       // handled while current, over every stint
    uint64_t stint_start = 0;  // `cycles` when it last became current
    bool rollback = true;
  };

  // Loads `params.script` into a fresh sandbox whose API reaches `session`, runs its top-level
  // code, and checks its declared parameters against `params`.
  std::unique_ptr<Version> build(const ParamView& params, ScriptSession& session) {
    auto v = std::make_unique<Version>();
    v->sandbox = std::make_unique<LuaSandbox>(params.string("script"), limits_of(params), seed_);
    LuaSandbox& sb = *v->sandbox;
    sb.protect("setup", [&](lua_State* L) {
      install_script_api(sb, L, &session);
      for (const InputSlot& in : session.inputs) {
        lua_pushlstring(L, in.label.data(), in.label.size());
        v->labels.push_back(lua_tostring(L, -1));
        sb.anchor();  // keeps the string, and so its address, alive
      }
      v->bar = push_bar_object(L);
      v->bar_ref = sb.anchor();
      for (auto [key, name] : {std::pair{&v->keys.on_start, "on_start"}, {&v->keys.on_bar, "on_bar"},
                               {&v->keys.on_fill, "on_fill"}, {&v->keys.on_order, "on_order"},
                               {&v->keys.on_stop, "on_stop"}, {&v->keys.on_reload, "on_reload"},
                               {&v->keys.state, "state"}}) {
        lua_pushstring(L, name);
        *key = sb.anchor();
      }
    });
    sb.run_script();
    v->name = version_name(sb.script_path(), sb.source());
    const std::vector<DeclaredParam> declared = read_declared_params(sb, kNodeParams);
    try {
      check_declared(declared, params);
      sb.protect("setup", [&](lua_State* L) {
        push_param_values(L, declared, params);
        lua_setglobal(L, "params");
        sb.push_global(v->keys.state);
        if (lua_isnil(L, -1)) {
          lua_newtable(L);
          lua_setglobal(L, "state");
        } else if (!lua_istable(L, -1)) {
          throw std::invalid_argument(std::string("state must be a table, not a ") + luaL_typename(L, -1));
        }
      });
    } catch (const std::invalid_argument& e) {
      throw ScriptError(sb.script_path() + ": " + e.what());
    }
    return v;
  }

  // Every parameter the pipeline sets must be one the script declares, of a compatible type:
  // what was validated against the old version's declaration must suit the new one.
  static void check_declared(const std::vector<DeclaredParam>& declared, const ParamView& params) {
    for (const qf_param_value& v : params.all()) {
      const std::string name = v.name ? v.name : "";
      if (std::find(kNodeParams.begin(), kNodeParams.end(), name) != kNodeParams.end()) continue;
      const auto it = std::find_if(declared.begin(), declared.end(), [&](const DeclaredParam& d) { return d.name == name; });
      if (it == declared.end())
        throw std::invalid_argument("the pipeline sets parameter '" + name + "', which the script does not declare");
      const bool numeric_ok = it->type == QF_PARAM_DOUBLE && (v.type == QF_PARAM_INT || v.type == QF_PARAM_DOUBLE);
      const bool text_ok = (it->type == QF_PARAM_STRING || it->type == QF_PARAM_CHOICE) &&
                           (v.type == QF_PARAM_STRING || v.type == QF_PARAM_CHOICE);
      if (v.is_set && it->type != v.type && !numeric_ok && !text_ok)
        throw std::invalid_argument("parameter '" + name + "' is declared with another type than the pipeline's value has");
    }
  }

  // Points the session at a version's strings.
  void adopt(Version& v) {
    for (size_t i = 0; i < session_->inputs.size(); ++i) session_->inputs[i].interned = v.labels[i];
    session_->version = v.name;
  }

  LuaValue read_state(const Version& v, const char* what) const {
    lua_State* L = v.sandbox->state();
    v.sandbox->push_global(v.keys.state);
    LuaValue state;
    try {
      if (!lua_istable(L, -1))
        throw std::invalid_argument(std::string("state must be a table, not a ") + luaL_typename(L, -1));
      state = read_lua_value(L, -1, "state");
    } catch (const std::invalid_argument& e) {
      lua_pop(L, 1);
      throw ScriptError(v.sandbox->script_path() + ": " + what + ": " + e.what());
    }
    lua_pop(L, 1);
    return state;
  }

  // Runs a callback of the current version. When a reloaded version fails and the node rolls
  // back, the version it replaced takes over with the state as it stands, the failure is
  // logged, and false is returned; otherwise the error propagates.
  template <class F>
  bool guard(Context& ctx, F&& f) {
    try {
      f();
      return true;
    } catch (const ScriptError& e) {
      if (!previous_ || !rollback_) throw;
      std::optional<LuaValue> state;
      try {
        state = read_state(*current_, "state");
      } catch (const ScriptError&) {  // unreadable after the failure: the previous version keeps its own
      }
      if (state) {
        try {
          previous_->sandbox->protect("rollback", [&](lua_State* L) {
            push_lua_value(L, *state);
            lua_setglobal(L, "state");
          });
        } catch (const ScriptError&) {  // too large for the previous version: it keeps its own
        }
      }
      ctx.log(LogLevel::error, std::string(e.what()) + "; rolled back from " + current_->name + " to " + previous_->name +
                                   (state ? " with the current state" : " with its own state (the current one was unreadable)"));
      history_.emplace_back(current_->name, current_->cycles - current_->stint_start);
      current_ = std::move(previous_);
      current_->stint_start = current_->cycles;
      adopt(*current_);
      session_->order_tag = ctx.intern(current_->name);
      return false;
    }
  }

  // Calls a feedback callback with a fresh table built by `push`, if the script defines it.
  template <class Push>
  void notify(int key, const char* name, Push&& push) {
    sandbox().protect(name, [&](lua_State* L) {
      sandbox().push_global(key);
      if (lua_isnil(L, -1)) return;
      push(L);
      lua_call(L, 1, 0);
    });
  }

  LuaSandbox& sandbox() const { return *current_->sandbox; }

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

  // A bar gathered by on_event for this cycle's on_cycle.
  struct ArrivedBar {
    uint32_t slot;
    qf_event ev;
  };
  // Empties the cycle's bars when on_cycle ends, even by an error.
  class ArrivedScope {
   public:
    explicit ArrivedScope(std::vector<ArrivedBar>& bars) : bars_(bars) {}
    ~ArrivedScope() { bars_.clear(); }
    ArrivedScope(const ArrivedScope&) = delete;
    ArrivedScope& operator=(const ArrivedScope&) = delete;

   private:
    std::vector<ArrivedBar>& bars_;
  };

  // The session outlives every Lua state: finalizers run by lua_close may still call the API.
  std::unique_ptr<ScriptSession> session_;
  const uint64_t seed_;
  std::vector<uint32_t> bar_slots_;  // slots whose producer may send bars
  std::vector<bool> is_bar_slot_;    // per slot: in bar_slots_
  std::vector<ArrivedBar> arrived_;  // this cycle's bars so far, in arrival order; capacity kept
  std::unique_ptr<Version> current_;
  std::unique_ptr<Version> previous_;  // the version the current one replaced (for a rollback)
  bool rollback_ = true;
  std::vector<std::pair<std::string, uint64_t>> history_;  // versions that ran before, with their cycles
  std::mutex pending_mutex_;  // guards pending_: prepared on the reload thread, committed on ours
  std::unique_ptr<Version> pending_;
};

void register_lua_node(Registrar& r) { r.add<LuaNode>(); }

}  // namespace qflow::lua
