// indicator.volatility — rolling volatility: the standard deviation of the last n one-bar log
// returns times sqrt(n), the volatility over n bars.
//
// r_t = ln(x_t / x_{t-1}); vol_t = popstd(r_{t-n+1} .. r_t) * sqrt(n). The standard deviation is
// the population one (divide by n), as TA-Lib's STDDEV. No TA-Lib function; the first value is
// at input index n, when n returns exist. O(1) per input (amortised) and numerically stable:
// the window's sums of returns and squared returns, relative to a return of the window, carry a
// bound on their rounding and are recounted from the window when it nears 1e-12 of the variance
// (window_sums.hpp); returns come from the exact price difference (log_return_of), accurate to
// a few ulps even for cent moves at BTC price levels.
//
// A non-positive or non-finite price makes the returns touching it undefined: the output is NaN
// while such a return is in the window, and exact again once it has left. A flat window is 0.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class VolatilityCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.volatility", "indicator")
        .summary("Rolling volatility: population std of n one-bar log returns times sqrt(n)")
        .doc("popstd of the last `period` one-bar log returns ln(x_t/x_(t-1)) times sqrt(period). "
             "Population standard deviation (divide by n, as STDDEV). NaN while an undefined return "
             "(a non-positive or non-finite price) is in the window. Bars contribute their `field` column.")
        .warmup("input n (n returns), index n counting from 0")
        .param(ParamSpec::integer("period").default_value("20").min(2).max(100'000).doc("number of returns n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a price series")
        .output("value", Kind::value, "the n-bar volatility, from input n on");
  }

  explicit VolatilityCore(const ParamView& p)
      : vol_(static_cast<size_t>(p.integer("period"))), field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    vol_.push(indicator_input(ev, field_));
    return vol_.ready();
  }
  bool ready() const { return vol_.ready(); }
  double value(int) const { return vol_.value(); }

  void save(StateWriter& w) const { vol_.save(w); }
  void restore(StateReader& r) { vol_.restore(r); }

 private:
  RollingVolatility vol_;
  int field_;
};

void register_volatility(Registrar& r) { r.add<IndicatorNode<VolatilityCore>>(); }

}  // namespace qflow::nodes
