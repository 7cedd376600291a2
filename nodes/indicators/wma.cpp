// indicator.wma — linearly weighted moving average.
//
// TA-Lib (0.4) WMA(timeperiod = 30): over the last n inputs, the newest weighted n, the one
// before n - 1, ..., the oldest 1, divided by n(n+1)/2. The first value is at input index n - 1;
// nothing is emitted before. A NaN or infinite input makes the output NaN while it is in the
// window.
//
// O(1) per update: with S the plain sum and W the weighted sum of the window, a new input x
// shifts every weight down by one (dropping the oldest, whose weight was 1), so
// W' = W - S + n*x and S' = S - oldest + x. Both are Neumaier-compensated sums, and every n
// updates they are recomputed from the window (O(n) every n updates, amortised O(1)), so the
// rounding of the subtracted S never accumulates into a drift: the result stays within a few
// ulps of the direct weighted sum at any price level.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <cmath>
#include <limits>

namespace qflow::nodes {

class WmaCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.wma", "indicator")
        .summary("Weighted moving average, linear weights 1..n (newest n)")
        .doc("TA-Lib WMA: sum of i * x_i over the last `period` inputs, the oldest weighted 1 and the "
             "newest n, divided by n(n+1)/2. NaN while a NaN or infinite input is in the window. "
             "Bars contribute their `field` column.")
        .warmup("input n, index n-1 counting from 0 (29 for n = 30)")
        .param(ParamSpec::integer("period").default_value("30").min(2).max(100'000).doc("window length n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the weighted average");
  }

  explicit WmaCore(const ParamView& p)
      : window_(static_cast<size_t>(p.integer("period"))), field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    const double raw = indicator_input(ev, field_);
    const bool bad = !std::isfinite(raw);
    const double x = bad ? 0 : raw;  // a bad input adds nothing to the sums
    nonfinite_ += bad;
    const double n = static_cast<double>(window_.capacity());
    if (window_.full()) {
      double oldest = window_.front();
      if (std::isnan(oldest)) {
        --nonfinite_;
        oldest = 0;
      }
      weighted_.add(-plain_.value());
      weighted_.add(n * x);
      plain_.add(-oldest);
    } else {
      weighted_.add(static_cast<double>(window_.size() + 1) * x);
    }
    plain_.add(x);
    window_.push(bad ? std::numeric_limits<double>::quiet_NaN() : x);
    if (++since_rebuild_ >= window_.capacity()) rebuild();
    return window_.full();
  }
  bool ready() const { return window_.full(); }
  double value(int) const {
    if (nonfinite_ > 0) return std::numeric_limits<double>::quiet_NaN();
    const double n = static_cast<double>(window_.capacity());
    return weighted_.value() / (n * (n + 1) / 2);
  }

  void save(StateWriter& w) const {
    window_.save(w);
    plain_.save(w);
    weighted_.save(w);
    w.put<uint64_t>(nonfinite_);
    w.put<uint64_t>(since_rebuild_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    plain_.restore(r);
    weighted_.restore(r);
    nonfinite_ = r.get<uint64_t>();
    since_rebuild_ = r.get<uint64_t>();
    if (nonfinite_ > window_.size()) throw std::runtime_error("wma state counts more bad inputs than its window holds");
  }

 private:
  // Recomputes both sums from the window, which holds NaN for a bad input.
  void rebuild() {
    since_rebuild_ = 0;
    plain_ = {};
    weighted_ = {};
    for (size_t i = 0; i < window_.size(); ++i) {
      const double x = window_[i];
      if (std::isnan(x)) continue;
      plain_.add(x);
      weighted_.add(static_cast<double>(i + 1) * x);
    }
  }

  RingWindow window_;           // the inputs, NaN standing for any non-finite one
  int field_;
  CompensatedSum plain_;        // S: sum of the window's finite inputs
  CompensatedSum weighted_;     // W: sum of (position from the oldest, 1-based) * input
  uint64_t nonfinite_ = 0;      // non-finite inputs in the window
  uint64_t since_rebuild_ = 0;  // updates since the sums were last recomputed
};

void register_wma(Registrar& r) { r.add<IndicatorNode<WmaCore>>(); }

}  // namespace qflow::nodes
