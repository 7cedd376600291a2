// indicator.ema — exponential moving average.
//
// EMA_t = EMA_{t-1} + k * (x_t - EMA_{t-1}) with k = 2 / (n + 1), TA-Lib's convention: the
// average is seeded with the SMA of the first n inputs, so the first value is emitted on the
// n-th input (index n-1) and nothing is emitted while warming up. The input is a bar stream (the
// `field` column, close by default) or a value stream. `period` is fixed for the node's life: the
// seed depends on it, so a different period is a different indicator, not a reload.
#include "indicators.hpp"

namespace qflow::nodes {

class EmaIndicator {
 public:
  static NodeSpec spec() {
    return NodeSpec("indicator.ema", "indicator")
        .summary("Exponential moving average, seeded with the SMA of the first n inputs")
        .doc("EMA with k = 2/(period+1) (TA-Lib EMA): seeded with the mean of the first `period` "
             "inputs, then ema += k*(x - ema). First value at the period-th input; no value during "
             "warm-up. Bars contribute their `field` column.")
        .param(ParamSpec::integer("period").required().min(1).max(1'000'000).doc("smoothing length n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the average, from the n-th input on");
  }

  explicit EmaIndicator(const NodeConfig& cfg)
      : period_(static_cast<uint64_t>(cfg.params().integer("period"))),
        k_(2.0 / (static_cast<double>(period_) + 1.0)),
        field_(field_index(cfg)) {}

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    if (update(input_number(ev, field_))) ctx.emit_value(0, ev.symbol, ema_);
  }
  void on_batch(Context& ctx, uint32_t, std::span<const qf_event> events) {
    for (const qf_event& ev : events)
      if (update(input_number(ev, field_))) ctx.emit_value_for(ev, 0, ema_);
  }

  void save_state(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    seed_.save(w);
    w.put<double>(ema_);
  }
  void restore_state(StateReader& r) {
    seen_ = r.get<uint64_t>();
    if (seen_ > period_) throw std::runtime_error("ema state counts more inputs than the period");
    seed_.restore(r);
    ema_ = r.get<double>();
  }

 private:
  // Adds one input; true when ema_ holds a value to emit.
  bool update(double x) {
    if (seen_ < period_) {
      seed_.add(x);
      if (++seen_ < period_) return false;
      ema_ = seed_.value() / static_cast<double>(period_);
    } else {
      ema_ += k_ * (x - ema_);
    }
    return true;
  }

  uint64_t period_;
  double k_;
  int field_;
  uint64_t seen_ = 0;     // inputs counted towards the seed, at most period_
  CompensatedSum seed_;   // sum of the first period_ inputs
  double ema_ = 0;
};

void register_ema(Registrar& r) { r.add<EmaIndicator>(); }

}  // namespace qflow::nodes
