// indicator.donchian — Donchian channel.
//
// Over the last n bars, the current one included (default n = 20): upper = the highest high,
// lower = the lowest low, middle = (upper + lower) / 2 — the MAX(high, n) and MIN(low, n) of
// TA-Lib's conventions. All three start at bar n-1. Monotonic deques (RollingMax / RollingMin)
// keep the extremes, amortised O(1) per bar and exact (no arithmetic but the middle's one sum).
// A bar with a non-finite high or low is skipped: it changes nothing and emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class DonchianCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("indicator.donchian", "indicator")
        .summary("Donchian channel: highest high, lowest low and their midpoint over n bars")
        .doc("upper = max high and lower = min low over the last n bars including the current one, "
             "middle = (upper+lower)/2. Bars with a non-finite high or low are skipped.")
        .warmup("the n-th bar, index n-1 counting from 0")
        .param(ParamSpec::integer("period").default_value("20").min(1).max(100'000).doc("bars in the window n"))
        .input("in", Kind::bar, "bars (high, low)")
        .output("upper", Kind::value, "the highest high of the window")
        .output("lower", Kind::value, "the lowest low of the window")
        .output("middle", Kind::value, "(upper + lower) / 2");
  }

  explicit DonchianCore(const ParamView& p)
      : high_(static_cast<size_t>(p.integer("period"))), low_(static_cast<size_t>(p.integer("period"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    if (!std::isfinite(b.high) || !std::isfinite(b.low)) return false;
    high_.push(b.high);
    low_.push(b.low);
    return ready();
  }
  bool ready() const { return high_.full(); }
  double value(int k) const {
    if (k == 0) return high_.value();
    if (k == 1) return low_.value();
    return 0.5 * (high_.value() + low_.value());
  }

  void save(StateWriter& w) const {
    high_.save(w);
    low_.save(w);
  }
  void restore(StateReader& r) {
    high_.restore(r);
    low_.restore(r);
  }

 private:
  RollingMax high_;
  RollingMin low_;
};

void register_donchian(Registrar& r) { r.add<IndicatorNode<DonchianCore>>(); }

}  // namespace qflow::nodes
