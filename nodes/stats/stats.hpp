// Shared pieces of the pair-statistics plugin: how its nodes read their input.
//
// Two-series nodes (correlation, OLS, spread, cointegration) take ONE input `in` carrying bars
// or values of several symbols; the params `y` and `x` name the two legs. Observations are
// paired by event time: the node keeps the latest observation of each leg, and when both legs
// of the same instant are present the pair is complete and the node updates, emitting its
// outputs attached to the event that completed the pair. A leg whose partner never comes for
// that instant is overwritten by the leg's next observation, so it is dropped
// (transform.align is how a user fills gaps). Events of other symbols are ignored.
//
// One-series nodes (ADF, half-life) read every event of `in` as one series, or only the
// events of `symbol` when that param is set. Without it they follow the output of a pair node,
// whose events carry whichever leg completed each pair.
//
// Observations that are not finite (NaN, inf) are ignored: they neither update nor emit.
#pragma once

#include <qflow/sdk.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace qflow::nodes::stats {

inline ParamSpec field_param() {
  return ParamSpec::choice("field", {"open", "high", "low", "close", "volume"})
      .default_value("close")
      .doc("bar column to use when the input is a bar stream");
}

inline int field_index(const std::string& f) {
  for (int i = 0; i < 5; ++i)
    if (f == kBarFields[i]) return i;
  throw std::invalid_argument("unknown field '" + f + "'");
}

// A bar's `field` column or a value event's value.
inline double observation(const qf_event& ev, int field) {
  if (ev.kind == QF_KIND_BAR) return bar_field(ev.u.bar, field);
  if (ev.kind == QF_KIND_VALUE) return ev.u.value.value;
  throw std::invalid_argument(std::string("a stats node cannot read a ") + kind_name(ev.kind) + " event");
}

inline constexpr uint32_t kNoSymbol = UINT32_MAX;

// Joins the y and x legs of a pair on event time.
class PairJoiner {
 public:
  struct Pair {
    double y, x;
  };

  explicit PairJoiner(const ParamView& p)
      : y_name_(p.string("y")), x_name_(p.string("x")), field_(field_index(p.string("field"))) {
    if (y_name_.empty() || x_name_.empty()) throw std::invalid_argument("y and x must name symbols");
    if (y_name_ == x_name_) throw std::invalid_argument("y and x must be different symbols (both are '" + y_name_ + "')");
  }

  void start(const Context& ctx) {
    y_id_ = ctx.intern(y_name_);
    x_id_ = ctx.intern(x_name_);
  }

  // The pair this event completes, if any.
  std::optional<Pair> take(const qf_event& ev) {
    Leg* leg = ev.symbol == y_id_ ? &y_ : ev.symbol == x_id_ ? &x_ : nullptr;
    if (!leg) return std::nullopt;
    const double v = observation(ev, field_);
    if (!std::isfinite(v)) return std::nullopt;
    *leg = Leg{ev.time_ns, v, true};
    if (!y_.set || !x_.set || y_.time_ns != x_.time_ns) return std::nullopt;
    y_.set = x_.set = false;
    return Pair{y_.value, x_.value};
  }

  // Names rather than ids: a state only restores into a node joining the same two symbols.
  void save(StateWriter& w) const {
    w.put_string(y_name_);
    w.put_string(x_name_);
    for (const Leg* l : {&y_, &x_}) {
      w.put<int64_t>(l->time_ns);
      w.put<double>(l->value);
      w.put<uint8_t>(l->set);
    }
  }
  void restore(StateReader& r) {
    const std::string y = r.get_string(), x = r.get_string();
    if (y != y_name_ || x != x_name_)
      throw std::runtime_error("the state is of the pair y=" + y + ", x=" + x + ", not y=" + y_name_ + ", x=" + x_name_);
    for (Leg* l : {&y_, &x_}) {
      l->time_ns = r.get<int64_t>();
      l->value = r.get<double>();
      l->set = r.get<uint8_t>() != 0;
    }
  }

 private:
  struct Leg {
    int64_t time_ns = 0;
    double value = 0;
    bool set = false;  // seen and not yet paired
  };
  std::string y_name_, x_name_;
  int field_;
  uint32_t y_id_ = kNoSymbol, x_id_ = kNoSymbol;  // from start()
  Leg y_, x_;
};

// The single series of a one-series node: every event, or those of `symbol` when set.
class SeriesInput {
 public:
  explicit SeriesInput(const ParamView& p)
      : symbol_(p.has("symbol") ? p.string("symbol") : std::string()), field_(field_index(p.string("field"))) {}

  void start(const Context& ctx) {
    if (!symbol_.empty()) id_ = ctx.intern(symbol_);
  }
  std::optional<double> take(const qf_event& ev) const {
    if (!symbol_.empty() && ev.symbol != id_) return std::nullopt;
    const double v = observation(ev, field_);
    if (!std::isfinite(v)) return std::nullopt;
    return v;
  }

 private:
  std::string symbol_;  // empty: every event
  int field_;
  uint32_t id_ = kNoSymbol;
};

inline ParamSpec symbol_param() {
  return ParamSpec::string("symbol").doc(
      "read only this symbol's events (unset: every event of the input is one series, as a pair node emits it)");
}
inline ParamSpec leg_param(const char* name, const char* doc) { return ParamSpec::string(name).required().doc(doc); }

// A pair node: the joiner in front of a core that takes (y, x) pairs. The core has
// kOutputs, spec(), a constructor from ParamView, bool update(double y, double x) (true: emit),
// has(k) (output k is defined now), value(k), save and restore.
template <class Core>
class PairNode {
 public:
  static NodeSpec spec() { return Core::spec(); }
  explicit PairNode(const NodeConfig& cfg) : pair_(cfg.params()), core_(cfg.params()) {}

  void start(Context& ctx) { pair_.start(ctx); }
  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    handle(ev, [&](uint32_t port, double v) { ctx.emit_value(port, ev.symbol, v); });
  }
  void on_batch(Context& ctx, uint32_t, std::span<const qf_event> events) {
    for (const qf_event& ev : events) handle(ev, [&](uint32_t port, double v) { ctx.emit_value_for(ev, port, v); });
  }
  void save_state(StateWriter& w) const {
    pair_.save(w);
    core_.save(w);
  }
  void restore_state(StateReader& r) {
    pair_.restore(r);
    core_.restore(r);
  }

 private:
  template <class Emit>
  void handle(const qf_event& ev, Emit&& emit) {
    const auto p = pair_.take(ev);
    if (!p || !core_.update(p->y, p->x)) return;
    for (int k = 0; k < Core::kOutputs; ++k)
      if (core_.has(k)) emit(static_cast<uint32_t>(k), core_.value(k));
  }

  PairJoiner pair_;
  Core core_;
};

// A one-series node: SeriesInput in front of a core with bool update(double).
template <class Core>
class SeriesNode {
 public:
  static NodeSpec spec() { return Core::spec(); }
  explicit SeriesNode(const NodeConfig& cfg) : input_(cfg.params()), core_(cfg.params()) {}

  void start(Context& ctx) { input_.start(ctx); }
  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    handle(ev, [&](uint32_t port, double v) { ctx.emit_value(port, ev.symbol, v); });
  }
  void on_batch(Context& ctx, uint32_t, std::span<const qf_event> events) {
    for (const qf_event& ev : events) handle(ev, [&](uint32_t port, double v) { ctx.emit_value_for(ev, port, v); });
  }
  void save_state(StateWriter& w) const { core_.save(w); }
  void restore_state(StateReader& r) { core_.restore(r); }

 private:
  template <class Emit>
  void handle(const qf_event& ev, Emit&& emit) {
    const auto v = input_.take(ev);
    if (!v || !core_.update(*v)) return;
    for (int k = 0; k < Core::kOutputs; ++k) emit(static_cast<uint32_t>(k), core_.value(k));
  }

  SeriesInput input_;
  Core core_;
};

void register_correlation(Registrar& r);
void register_ols(Registrar& r);
void register_spread(Registrar& r);
void register_adf(Registrar& r);
void register_half_life(Registrar& r);
void register_cointegration(Registrar& r);

}  // namespace qflow::nodes::stats
