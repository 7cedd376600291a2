// indicator.bbands — Bollinger bands.
//
// TA-Lib (0.4) BBANDS(timeperiod = 5, nbdevup = 2, nbdevdn = 2, matype = SMA): over the last n
// inputs, middle = SMA(n), upper = middle + up * sigma, lower = middle - down * sigma, with sigma
// the population standard deviation (divide by n) of the same window. Output 0 is the middle
// band (the main line), then upper and lower (TA-Lib's order is upper, middle, lower). The first
// values are at input index n - 1; nothing is emitted before. A flat window gives three equal
// bands (TA-Lib zeroes any variance below 1e-8; here only a true zero is 0). A NaN or infinite
// input makes the bands NaN while it is in the window.
//
// O(1) amortised per update and exact at any price level: WindowSums (window_sums.hpp) keeps
// plain sums of the inputs relative to an anchor inside the window with a bound on their
// rounding, recounted when the bound nears 1e-12 of the variance, so the mean and sigma stay
// within 1e-12 of a two-pass computation even for cent-sized moves of a 70,000 price. Each
// update reads the mean and sigma once (one division, one square root); the three outputs are
// formed from them.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <cmath>

namespace qflow::nodes {

class BbandsCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("indicator.bbands", "indicator")
        .summary("Bollinger bands: SMA(n) and SMA +/- k population standard deviations")
        .doc("TA-Lib BBANDS with an SMA: middle = mean of the last `period` inputs, upper = middle + "
             "deviations_up * sigma, lower = middle - deviations_down * sigma, sigma the population "
             "standard deviation of the window. Exact at any price level. NaN while a NaN or infinite "
             "input is in the window. Bars contribute their `field` column.")
        .warmup("input n, index n-1 counting from 0 (4 for n = 5)")
        .param(ParamSpec::integer("period").default_value("5").min(2).max(100'000).doc("window length n"))
        .param(ParamSpec::number("deviations_up").default_value("2").min(0).max(1e6).doc("upper band distance in standard deviations (TA-Lib nbdevup)"))
        .param(ParamSpec::number("deviations_down").default_value("2").min(0).max(1e6).doc("lower band distance in standard deviations (TA-Lib nbdevdn)"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("middle", Kind::value, "the SMA of the window")
        .output("upper", Kind::value, "middle + deviations_up * sigma")
        .output("lower", Kind::value, "middle - deviations_down * sigma");
  }

  explicit BbandsCore(const ParamView& p)
      : window_(static_cast<size_t>(p.integer("period"))),
        up_(p.number("deviations_up")),
        down_(p.number("deviations_down")),
        field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    window_.push(indicator_input(ev, field_));
    if (!window_.full()) return false;
    middle_ = window_.mean();  // both NaN while a bad input is in the window
    sigma_ = window_.stddev();
    return true;
  }
  bool ready() const { return window_.full(); }
  double value(int k) const {
    if (k == 1) return middle_ + up_ * sigma_;
    if (k == 2) return middle_ - down_ * sigma_;
    return middle_;
  }

  void save(StateWriter& w) const {
    window_.save(w);
    w.put<double>(middle_);
    w.put<double>(sigma_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    middle_ = r.get<double>();
    sigma_ = r.get<double>();
  }

 private:
  WindowSums window_;
  double up_, down_;
  int field_;
  double middle_ = 0, sigma_ = 0;  // of the last full window
};

void register_bbands(Registrar& r) { r.add<IndicatorNode<BbandsCore>>(); }

}  // namespace qflow::nodes
