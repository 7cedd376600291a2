// Streaming indicators: the computation in a small "core" class, the node around it generic.
//
// A core takes one input event at a time, in constant (or amortised logarithmic) time, never
// recomputing its window, and says when its warm-up is complete:
//
//   class RsiCore {
//    public:
//     static constexpr int kOutputs = 1;         // how many numbers it outputs per update
//     explicit RsiCore(const qflow::ParamView&); // reads its parameters
//     bool update(const qf_event& in);           // one input; true when the outputs are to be
//                                                 //   emitted for this input (then ready() holds)
//     bool ready() const;                        // the warm-up is complete
//     double value(int output) const;            // output k of the last update, when ready()
//     void save(qflow::StateWriter&) const;      // everything update() depends on
//     void restore(qflow::StateReader&);
//     bool has(int output) const;                // optional: outputs that start later than
//                                                 //   others (ADX after +DI and -DI) say so
//   };
//
// IndicatorNode<Core> is the node: its spec comes from the core's `spec()`, it keeps one core
// per symbol (a stream of several symbols gives each its own series), emits output k on output
// port k attached to the input event, works a batch at a time (so the planner may run it in a
// batch stage ahead of the strategy), and checkpoints every symbol's core under its name.
#pragma once

#include <qflow/node.hpp>
#include <qflow/symbol_states.hpp>

#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace qflow {

template <class C>
concept IndicatorCore = requires(C& c, const C& cc, const qf_event& e, StateWriter& w, StateReader& r) {
  { C::kOutputs } -> std::convertible_to<int>;
  { c.update(e) } -> std::same_as<bool>;
  { cc.ready() } -> std::same_as<bool>;
  { cc.value(0) } -> std::convertible_to<double>;
  cc.save(w);
  c.restore(r);
};

template <class C>
concept HasPerOutputWarmup = requires(const C& c) { { c.has(0) } -> std::same_as<bool>; };

template <IndicatorCore Core>
class IndicatorNode {
 public:
  static NodeSpec spec() { return Core::spec(); }

  explicit IndicatorNode(const NodeConfig& cfg) : cores_(Core(cfg.params())) {}

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    Core& c = cores_.of(ctx, ev.symbol);
    if (!c.update(ev)) return;
    for (int k = 0; k < Core::kOutputs; ++k)
      if (defined(c, k)) ctx.emit_value(static_cast<uint32_t>(k), ev.symbol, c.value(k));
  }
  // Answers are gathered and handed to the host a few hundred at a time (Context::emit_values).
  void on_batch(Context& ctx, uint32_t, std::span<const qf_event> events) {
    size_t n = 0;
    // A batch is mostly runs of one symbol: its core is looked up when the symbol changes.
    uint32_t symbol = 0;
    Core* core = nullptr;
    for (const qf_event& ev : events) {
      if (!core || ev.symbol != symbol) {
        symbol = ev.symbol;
        core = &cores_.of(ctx, symbol);
      }
      Core& c = *core;
      if (!c.update(ev)) continue;
      for (int k = 0; k < Core::kOutputs; ++k) {
        if (!defined(c, k)) continue;
        answers_[n] = qf_value_answer{ev.seq, ev.time_ns, c.value(k), ev.symbol, static_cast<uint32_t>(k)};
        if (++n == kGather) {
          ctx.emit_values(answers_, static_cast<uint32_t>(n));
          n = 0;
        }
      }
    }
    if (n) ctx.emit_values(answers_, static_cast<uint32_t>(n));
  }

  // Every symbol's core under its name (qflow/symbol_states.hpp).
  void save_state(StateWriter& w) const {
    cores_.save(w, [](StateWriter& out, const Core& c) { c.save(out); });
  }
  void restore_state(StateReader& r) {
    cores_.restore(r, [](StateReader& in, Core& c) { c.restore(in); });
  }

 private:
  static constexpr size_t kGather = 256;  // answers per emit_values: 8 KB, stays in L1
  qf_value_answer answers_[kGather] = {};
  static bool defined(const Core& c, int k) {
    if constexpr (HasPerOutputWarmup<Core>)
      return c.has(k);
    else
      return true;
  }
  SymbolStates<Core> cores_;  // fresh ones copy the core as constructed from the parameters
};

// The number an indicator reads from a bar (its `field` column: 0 open, 1 high, 2 low, 3 close,
// 4 volume) or a value event.
inline double indicator_input(const qf_event& ev, int field) {
  if (ev.kind == QF_KIND_BAR) return bar_field(ev.u.bar, field);
  if (ev.kind == QF_KIND_VALUE) return ev.u.value.value;
  if (ev.kind == QF_KIND_TICK) return ev.u.tick.price;
  throw std::invalid_argument(std::string("an indicator cannot read a ") + kind_name(ev.kind) + " event");
}

// A bar's columns, for indicators of the whole bar (ATR, ADX, stochastics...).
inline const qf_bar& indicator_bar(const qf_event& ev) {
  if (ev.kind != QF_KIND_BAR) throw std::invalid_argument(std::string("this indicator reads bars, not ") + kind_name(ev.kind) + " events");
  return ev.u.bar;
}

}  // namespace qflow
