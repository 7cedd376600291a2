// indicator.log_return — the log return over k inputs, ln(x_t / x_{t-k}).
//
// No TA-Lib function (it is ln of TA-Lib's ROCR with period k). The first value is at input
// index k, when x_{t-k} exists; nothing is emitted before. Computed from the difference
// x_t - x_{t-k}, exact for nearby prices (log_return_of in indicators.hpp: 2 atanh of
// (x_t - x_{t-k}) / (x_t + x_{t-k}) by its series for moves under ~0.2%, log1p of the relative
// change beyond), so a return of a cent on 70,000 keeps full relative precision, where ln of
// the rounded ratio is good to about 9 digits. O(1) per input: a ring of the last k inputs.
//
// Undefined returns: when x_t or x_{t-k} is not a positive finite number the logarithm does not
// exist and the output is NaN (no substitute value pretends to be a return).
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class LogReturnCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.log_return", "indicator")
        .summary("Log return over k inputs, ln(x_t / x_(t-k))")
        .doc("ln(x_t / x_(t-k)), computed from the exact price difference so that tiny moves at high "
             "price levels keep full precision. NaN when either price is not a positive finite "
             "number. Bars contribute their `field` column.")
        .warmup("input k (the first with an input k before it), index k counting from 0")
        .param(ParamSpec::integer("k").default_value("1").min(1).max(100'000).doc("how many inputs back the return reaches"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the log return, from input k on");
  }

  explicit LogReturnCore(const ParamView& p)
      : past_(static_cast<size_t>(p.integer("k"))), field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    const double x = indicator_input(ev, field_);
    const bool ready = past_.full();
    if (ready) value_ = log_return_of(x, past_.front());
    past_.push(x);
    return ready;
  }
  bool ready() const { return past_.full(); }
  double value(int) const { return value_; }

  void save(StateWriter& w) const {
    past_.save(w);
    w.put<double>(value_);
  }
  void restore(StateReader& r) {
    past_.restore(r);
    value_ = r.get<double>();
  }

 private:
  RingWindow past_;  // the last k inputs, x_{t-k} first
  int field_;
  double value_ = 0;  // the last return
};

void register_log_return(Registrar& r) { r.add<IndicatorNode<LogReturnCore>>(); }

}  // namespace qflow::nodes
