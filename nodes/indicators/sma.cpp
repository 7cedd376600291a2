// indicator.sma — simple moving average.
//
// SMA_t = (x_t + x_{t-1} + ... + x_{t-n+1}) / n over the last `period` inputs, TA-Lib's
// convention: the first value is emitted on the n-th input (index n-1); nothing is emitted
// while warming up. The input is a bar stream (the `field` column, close by default) or a value
// stream. The running sum is Neumaier-compensated, so the result stays within a few ulps of a
// two-pass sum even at BTC price levels after millions of updates.
#include "indicators.hpp"

namespace qflow::nodes {

class SmaIndicator {
 public:
  static NodeSpec spec() {
    return NodeSpec("indicator.sma", "indicator")
        .summary("Simple moving average of the last n inputs")
        .doc("Arithmetic mean of the last `period` inputs (TA-Lib SMA). First value at the "
             "period-th input; no value during warm-up. Bars contribute their `field` column.")
        .param(ParamSpec::integer("period").required().min(1).max(1'000'000).doc("window length n").reloadable())
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the average, from the n-th input on");
  }

  explicit SmaIndicator(const NodeConfig& cfg)
      : window_(static_cast<size_t>(cfg.params().integer("period"))), field_(field_index(cfg)) {}

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    if (update(input_number(ev, field_))) ctx.emit_value(0, ev.symbol, mean());
  }
  void on_batch(Context& ctx, uint32_t, std::span<const qf_event> events) {
    for (const qf_event& ev : events)
      if (update(input_number(ev, field_))) ctx.emit_value_for(ev, 0, mean());
  }

  void save_state(StateWriter& w) const {
    window_.save(w);
    sum_.save(w);
  }
  void restore_state(StateReader& r) {
    window_.restore(r);
    sum_.restore(r);
  }

 private:
  // Adds one input; true once the window is full.
  bool update(double x) {
    sum_.add(x);
    if (window_.full()) sum_.add(-window_.front());
    window_.push(x);
    return window_.full();
  }
  double mean() const { return sum_.value() / static_cast<double>(window_.capacity()); }

  RingWindow window_;
  CompensatedSum sum_;
  int field_;
};

void register_sma(Registrar& r) { r.add<SmaIndicator>(); }

}  // namespace qflow::nodes
