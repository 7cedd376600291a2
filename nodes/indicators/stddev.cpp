// indicator.stddev — rolling population standard deviation.
//
// TA-Lib (0.4) STDDEV(timeperiod = 5, nbdev = 1): sqrt(sum((x - mean)^2) / n) over the last n
// inputs (population: divide by n, not n - 1), times `deviations`. The first value is at input
// index n - 1; nothing is emitted before. A window of equal values gives 0; TA-Lib also reports 0
// for any variance below 1e-8, which would erase the real deviation of low-priced series, so
// here only a true zero is 0. A NaN or infinite input makes the output NaN while it is in the
// window.
//
// O(1) amortised per update and exact at any price level: WindowSums (window_sums.hpp) keeps
// plain sums of the inputs relative to an anchor inside the window with a bound on their
// rounding, and recounts the window when the bound exceeds 1e-12 of the variance (a spike
// leaving, a drift, accumulated error), so the result stays within 1e-12 of a two-pass
// computation even for cent-sized moves of a 70,000 price, where sum(x^2) - n*mean^2 keeps no
// digit.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <cmath>

namespace qflow::nodes {

class StddevCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.stddev", "indicator")
        .summary("Rolling population standard deviation of the last n inputs")
        .doc("TA-Lib STDDEV: sqrt(sum((x - mean)^2)/n) over the last `period` inputs (population, "
             "divide by n), times `deviations`. Exact at any price level (anchored sums, recounted "
             "when their rounding bound nears 1e-12 of the variance). NaN while a NaN or infinite input is in the window. Bars contribute "
             "their `field` column.")
        .warmup("input n, index n-1 counting from 0 (4 for n = 5)")
        .param(ParamSpec::integer("period").default_value("5").min(2).max(100'000).doc("window length n"))
        .param(ParamSpec::number("deviations").default_value("1").min(0).max(1e6).doc("multiplier of the deviation (TA-Lib nbdev)"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "deviations * the standard deviation of the window");
  }

  explicit StddevCore(const ParamView& p)
      : window_(static_cast<size_t>(p.integer("period"))),
        k_(p.number("deviations")),
        field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    window_.push(indicator_input(ev, field_));
    return window_.full();
  }
  bool ready() const { return window_.full(); }
  double value(int) const { return k_ * window_.stddev(); }  // NaN while a bad input is in the window

  void save(StateWriter& w) const { window_.save(w); }
  void restore(StateReader& r) { window_.restore(r); }

 private:
  WindowSums window_;
  double k_;
  int field_;
};

void register_stddev(Registrar& r) { r.add<IndicatorNode<StddevCore>>(); }

}  // namespace qflow::nodes
