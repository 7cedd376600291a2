// indicator.ema — exponential moving average.
//
// EMA_t = EMA_{t-1} + k * (x_t - EMA_{t-1}) with k = 2 / (n + 1), TA-Lib's convention: the
// average is seeded with the SMA of the first n inputs, so the first value is emitted on the
// n-th input (index n-1) and nothing is emitted while warming up. The input is a bar stream (the
// `field` column, close by default) or a value stream, one series per symbol. `period` is fixed
// for the node's life: the seed depends on it, so a different period is a different indicator,
// not a reload.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class EmaCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.ema", "indicator")
        .summary("Exponential moving average, seeded with the SMA of the first n inputs")
        .doc("EMA with k = 2/(period+1) (TA-Lib EMA): seeded with the mean of the first `period` "
             "inputs, then ema += k*(x - ema). First value at the period-th input; no value during "
             "warm-up. Bars contribute their `field` column.")
        .warmup("the n-th input (index n-1)")
        .param(ParamSpec::integer("period").required().min(1).max(1'000'000).doc("smoothing length n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the average, from the n-th input on");
  }

  explicit EmaCore(const ParamView& p)
      : period_(static_cast<uint64_t>(p.integer("period"))),
        k_(2.0 / (static_cast<double>(period_) + 1.0)),
        field_(field_index(p.string("field"))) {}

  // Adds one input; true when ema_ holds a value to emit.
  bool update(const qf_event& ev) {
    const double x = indicator_input(ev, field_);
    if (seen_ < period_) {
      seed_.add(x);
      if (++seen_ < period_) return false;
      ema_ = seed_.value() / static_cast<double>(period_);
    } else {
      ema_ += k_ * (x - ema_);
    }
    return true;
  }
  bool ready() const { return seen_ >= period_; }
  double value(int) const { return ema_; }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    seed_.save(w);
    w.put<double>(ema_);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    if (seen_ > period_) throw std::runtime_error("ema state counts more inputs than the period");
    seed_.restore(r);
    ema_ = r.get<double>();
  }

 private:
  uint64_t period_;
  double k_;
  int field_;
  uint64_t seen_ = 0;     // inputs counted towards the seed, at most period_
  CompensatedSum seed_;   // sum of the first period_ inputs
  double ema_ = 0;
};

void register_ema(Registrar& r) { r.add<IndicatorNode<EmaCore>>(); }

}  // namespace qflow::nodes
