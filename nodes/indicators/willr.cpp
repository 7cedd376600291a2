// indicator.willr — Williams %R.
//
// TA-Lib (0.4) WILLR(n), default n = 14: with HH the highest high and LL the lowest low of the
// last n bars (the current one included), %R = -100 * (HH - close) / (HH - LL), from -100 (close
// at the low) to 0 (close at the high); 0 when HH = LL, as TA-Lib does. First value at bar n-1.
// HH and LL come from monotonic deques (RollingMax / RollingMin), amortised O(1) per bar; the
// differences are of nearby prices, so they carry no cancellation worth the name. A bar with a
// non-finite high, low or close is skipped: it changes nothing and emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class WillrCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.willr", "indicator")
        .summary("Williams %R, -100..0")
        .doc("TA-Lib WILLR: -100*(HH - close)/(HH - LL) with HH the highest high and LL the lowest "
             "low of the last n bars; 0 when HH = LL. Bars with a non-finite high, low or close are skipped.")
        .warmup("the n-th bar, index n-1 counting from 0")
        .param(ParamSpec::integer("period").default_value("14").min(2).max(100'000).doc("bars in the window n"))
        .input("in", Kind::bar, "bars (high, low, close)")
        .output("value", Kind::value, "%R, -100..0");
  }

  explicit WillrCore(const ParamView& p)
      : high_(static_cast<size_t>(p.integer("period"))), low_(static_cast<size_t>(p.integer("period"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    if (!std::isfinite(b.high) || !std::isfinite(b.low) || !std::isfinite(b.close)) return false;
    high_.push(b.high);
    low_.push(b.low);
    if (!ready()) return false;
    const double hh = high_.value(), ll = low_.value();
    value_ = hh != ll ? -100.0 * (hh - b.close) / (hh - ll) : 0.0;
    return true;
  }
  bool ready() const { return high_.full(); }
  double value(int) const { return value_; }

  void save(StateWriter& w) const {
    high_.save(w);
    low_.save(w);
    w.put<double>(value_);
  }
  void restore(StateReader& r) {
    high_.restore(r);
    low_.restore(r);
    value_ = r.get<double>();
  }

 private:
  RollingMax high_;
  RollingMin low_;
  double value_ = 0;  // of the last bar
};

void register_willr(Registrar& r) { r.add<IndicatorNode<WillrCore>>(); }

}  // namespace qflow::nodes
