// indicator.obv — on-balance volume.
//
// TA-Lib (0.4) OBV: the running total starts at the first bar's volume; after that a bar whose
// price (the `field` column, close by default) is above the previous bar's adds its volume, one
// below subtracts it, and an equal price leaves the total unchanged. No warm-up: the first value
// is at bar 0. One comparison and one addition per bar; the total is a Neumaier-compensated sum,
// so it stays within a few ulps of the exact total over any number of bars. A bar whose price or
// volume is not finite is skipped: it changes nothing and emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class ObvCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.obv", "indicator")
        .summary("On-balance volume: running total of volume signed by the price change")
        .doc("TA-Lib OBV: starts at the first bar's volume; a price above the previous bar's adds the "
             "bar's volume, below subtracts it, equal adds nothing. The price is the bar's `field` "
             "column. Bars with a non-finite price or volume are skipped.")
        .warmup("none: the first bar (index 0) gives its own volume")
        .param(field_param().doc("bar column compared with the previous bar's"))
        .input("in", Kind::bar, "bars (the price column and the volume)")
        .output("value", Kind::value, "the running on-balance volume");
  }

  explicit ObvCore(const ParamView& p) : field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    const double price = bar_field(b, field_);
    if (!std::isfinite(price) || !std::isfinite(b.volume)) return false;
    if (!started_)
      total_.add(b.volume), started_ = true;
    else if (price > prev_)
      total_.add(b.volume);
    else if (price < prev_)
      total_.add(-b.volume);
    prev_ = price;
    return true;
  }
  bool ready() const { return started_; }
  double value(int) const { return total_.value(); }

  void save(StateWriter& w) const {
    w.put<uint8_t>(started_);
    w.put<double>(prev_);
    total_.save(w);
  }
  void restore(StateReader& r) {
    started_ = r.get<uint8_t>() != 0;
    prev_ = r.get<double>();
    total_.restore(r);
  }

 private:
  int field_;
  bool started_ = false;  // a bar has been seen
  double prev_ = 0;       // the previous bar's price
  CompensatedSum total_;
};

void register_obv(Registrar& r) { r.add<IndicatorNode<ObvCore>>(); }

}  // namespace qflow::nodes
