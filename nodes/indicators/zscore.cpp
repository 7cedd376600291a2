// indicator.zscore — how many standard deviations the price is from its moving average.
//
// z_t = (x_t - SMA_n) / popstd_n over the last n inputs including x_t; the standard deviation is
// the population one (divide by n, as TA-Lib's STDDEV), and z is 0 when it is 0 (a flat window).
// No TA-Lib function; the first value is at input index n-1, like SMA and STDDEV. O(1) per
// input (amortised) and numerically stable: the window's sums of x - K and (x - K)^2, K a price
// of the window, carry a bound on their rounding and are recounted from the window when it nears
// 1e-12 of the variance (window_sums.hpp); the deviation is (x - K) - mean(x - K), so nothing
// carries the rounding of 70,000. A flat window has a variance of exactly 0. A non-finite
// input makes the output NaN while it is in the window.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class ZScoreCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.zscore", "indicator")
        .summary("Z-score of the price against its n-input mean and population std")
        .doc("(x - SMA_n) / popstd_n over the last `period` inputs, the current one included; 0 when "
             "the standard deviation is 0. NaN while a non-finite input is in the window. Bars "
             "contribute their `field` column.")
        .warmup("the n-th input, index n-1 counting from 0")
        .param(ParamSpec::integer("period").default_value("20").min(2).max(100'000).doc("window length n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the z-score, from the n-th input on");
  }

  explicit ZScoreCore(const ParamView& p)
      : window_(static_cast<size_t>(p.integer("period"))), field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    last_ = indicator_input(ev, field_);
    window_.push(last_);
    return window_.full();
  }
  bool ready() const { return window_.full(); }
  double value(int) const {
    const double sd = window_.stddev();  // NaN while a bad input is in the window
    return sd > 0 || std::isnan(sd) ? window_.deviation(last_) / sd : 0.0;
  }

  void save(StateWriter& w) const {
    window_.save(w);
    w.put<double>(last_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    last_ = r.get<double>();
  }

 private:
  WindowSums window_;
  int field_;
  double last_ = 0;  // the newest input
};

void register_zscore(Registrar& r) { r.add<IndicatorNode<ZScoreCore>>(); }

}  // namespace qflow::nodes
