// indicator.mfi — money flow index.
//
// TA-Lib (0.4) MFI(n), default n = 14: the typical price tp = (high + low + close) / 3 and the raw
// money flow tp * volume of each bar; a bar's flow is positive when its tp is above the previous
// bar's, negative when below, and counts in neither when equal. Over the last n bars (n changes),
// MFI = 100 * positive / (positive + negative), and 0 when the total flow is below 1, TA-Lib's
// convention. The first value is at bar n (the change from bar 0 to bar n completes the window).
// Two rings of the last n flows (one per side) with Neumaier-compensated running sums, O(1) per
// bar; a side with no flow left in the window is exactly 0 (counted, not summed), and a side
// whose sum overflowed is summed afresh until the culprit has left. A bar with a non-finite
// typical price or volume is skipped: it changes nothing and emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class MfiCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.mfi", "indicator")
        .summary("Money flow index, 0..100")
        .doc("TA-Lib MFI: typical price (H+L+C)/3, raw flow tp*volume, positive when tp rose from the "
             "previous bar, negative when it fell, neither when equal; 100*positive/(positive+negative) "
             "over the last n bars, 0 when the total flow is below 1. Bars with a non-finite high, low, "
             "close or volume are skipped.")
        .warmup("bar n (the n-th change), index n counting from 0")
        .param(ParamSpec::integer("period").default_value("14").min(2).max(100'000).doc("bars (changes) in the window n"))
        .input("in", Kind::bar, "bars (high, low, close, volume)")
        .output("value", Kind::value, "the MFI, 0..100");
  }

  explicit MfiCore(const ParamView& p)
      : positive_(static_cast<size_t>(p.integer("period"))), negative_(static_cast<size_t>(p.integer("period"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    const double tp = (b.high + b.low + b.close) / 3.0;
    if (!std::isfinite(tp) || !std::isfinite(b.volume)) return false;
    if (!started_) {
      started_ = true;
      prev_tp_ = tp;
      return false;
    }
    // The raw flow goes to the positive side when tp rose, the negative side when it fell.
    const double flow = tp * b.volume;
    const double up = tp > prev_tp_ ? flow : 0.0, down = tp < prev_tp_ ? flow : 0.0;
    prev_tp_ = tp;
    positive_.slide(up);
    negative_.slide(down);
    return positive_.full();
  }
  bool ready() const { return positive_.full(); }
  double value(int) const {
    const double pos = positive_.sum(), neg = negative_.sum();
    const double total = pos + neg;
    return total < 1.0 ? 0.0 : 100.0 * pos / total;
  }

  void save(StateWriter& w) const {
    w.put<uint8_t>(started_);
    w.put<double>(prev_tp_);
    positive_.save(w);
    negative_.save(w);
  }
  void restore(StateReader& r) {
    started_ = r.get<uint8_t>() != 0;
    prev_tp_ = r.get<double>();
    positive_.restore(r);
    negative_.restore(r);
  }

 private:
  // One side's flows of the last n bars (0 for a bar on the other side or flat) and their
  // compensated sum; the sum is exactly 0 when no flow of this side is left in the window.
  class FlowWindow {
   public:
    explicit FlowWindow(size_t n) : flows_(n) {}
    bool full() const { return flows_.full(); }
    void slide(double flow) {
      if (flows_.full() && flows_.front() != 0) {
        sum_.add(-flows_.front());
        --nonzero_;
      }
      flows_.push(flow);
      if (flow != 0) {
        sum_.add(flow);
        ++nonzero_;
      }
      if (!std::isfinite(sum_.value())) {  // an overflowed flow: recover once it has left
        sum_ = CompensatedSum();
        for (size_t i = 0; i < flows_.size(); ++i) sum_.add(flows_[i]);
      }
    }
    double sum() const { return nonzero_ ? sum_.value() : 0.0; }
    void save(StateWriter& w) const {
      flows_.save(w);
      sum_.save(w);
      w.put<uint64_t>(nonzero_);
    }
    void restore(StateReader& r) {
      flows_.restore(r);
      sum_.restore(r);
      nonzero_ = r.get<uint64_t>();
    }

   private:
    RingWindow flows_;
    CompensatedSum sum_;
    uint64_t nonzero_ = 0;  // flows in the window that are not 0
  };

  bool started_ = false;  // a bar has been seen
  double prev_tp_ = 0;    // the previous bar's typical price
  FlowWindow positive_, negative_;
};

void register_mfi(Registrar& r) { r.add<IndicatorNode<MfiCore>>(); }

}  // namespace qflow::nodes
