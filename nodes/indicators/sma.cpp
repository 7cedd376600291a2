// indicator.sma — simple moving average.
//
// SMA_t = (x_t + x_{t-1} + ... + x_{t-n+1}) / n over the last `period` inputs, TA-Lib's
// convention: the first value is emitted on the n-th input (index n-1); nothing is emitted
// while warming up. The input is a bar stream (the `field` column, close by default) or a value
// stream, one series per symbol. The running sum is Neumaier-compensated, so the result stays
// within a few ulps of a two-pass sum even at BTC price levels after millions of updates.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class SmaCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.sma", "indicator")
        .summary("Simple moving average of the last n inputs")
        .doc("Arithmetic mean of the last `period` inputs (TA-Lib SMA). First value at the "
             "period-th input; no value during warm-up. Bars contribute their `field` column.")
        .warmup("the n-th input (index n-1)")
        .param(ParamSpec::integer("period").required().min(1).max(1'000'000).doc("window length n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the average, from the n-th input on");
  }

  explicit SmaCore(const ParamView& p)
      : window_(static_cast<size_t>(p.integer("period"))), field_(field_index(p.string("field"))) {}

  // Adds one input; true once the window is full.
  bool update(const qf_event& ev) {
    const double x = indicator_input(ev, field_);
    sum_.add(x);
    if (window_.full()) sum_.add(-window_.front());
    window_.push(x);
    return window_.full();
  }
  bool ready() const { return window_.full(); }
  double value(int) const { return sum_.value() / static_cast<double>(window_.capacity()); }

  void save(StateWriter& w) const {
    window_.save(w);
    sum_.save(w);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    sum_.restore(r);
  }

 private:
  RingWindow window_;
  CompensatedSum sum_;
  int field_;
};

void register_sma(Registrar& r) { r.add<IndicatorNode<SmaCore>>(); }

}  // namespace qflow::nodes
