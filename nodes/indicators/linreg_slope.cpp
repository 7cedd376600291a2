// indicator.linreg_slope — slope of the least-squares line through the last n values.
//
// TA-Lib (0.4) LINEARREG_SLOPE(n), default n = 14: the OLS slope b of y = a + b*x over the last n
// inputs, x the bar index 0..n-1 within the window (oldest 0), in units of the input per bar.
// First value at input n-1.
//
// O(1) per update and stable at BTC price levels: b = Q / Sxx with Q = sum (x_i - xbar) * y_i and
// Sxx = n(n^2-1)/12. Since the weights x_i - xbar sum to 0, Q does not change when every y moves
// by a constant, so the node keeps the values as offsets d = y - c from a centre c near the
// prices (offsets of nearby prices are exact subtractions), never the raw products x*y whose
// difference cancels digits. Sliding the window one step turns Q into
//   Q' = Q - S + (1 + xbar) * d_oldest + xbar * d_new,   S = sum d (the old window),
// with Q and S Neumaier-compensated; every n updates both are recomputed from the window around
// the newest value as centre (O(n) every n updates, amortised O(1)), so rounding never builds up
// and the centre follows the price (a sum that overflowed is recomputed at once, so it
// recovers when the culprit leaves). A non-finite input is skipped: it changes nothing and
// emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class LinregSlopeCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.linreg_slope", "indicator")
        .summary("Slope of the least-squares line through the last n values, per bar")
        .doc("TA-Lib LINEARREG_SLOPE: OLS slope of the last n inputs on the bar index 0..n-1, in input "
             "units per bar. Bars contribute their `field` column; non-finite inputs are skipped.")
        .warmup("the n-th input, index n-1 counting from 0")
        .param(ParamSpec::integer("period").default_value("14").min(2).max(100'000).doc("inputs in the window n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the slope, input units per bar");
  }

  explicit LinregSlopeCore(const ParamView& p)
      : window_(static_cast<size_t>(p.integer("period"))), field_(field_index(p.string("field"))) {
    const double n = static_cast<double>(window_.capacity());
    xbar_ = (n - 1) / 2;
    sxx_ = n * (n * n - 1) / 12;
  }

  bool update(const qf_event& ev) {
    const double y = indicator_input(ev, field_);
    if (!std::isfinite(y)) return false;
    if (!window_.full()) {
      window_.push(y);
      if (window_.full()) recompute();
      return window_.full();
    }
    const double d_old = window_.front() - centre_, d_new = y - centre_;
    q_.add(-s_.value());
    q_.add((1 + xbar_) * d_old);
    q_.add(xbar_ * d_new);
    s_.add(-d_old);
    s_.add(d_new);
    window_.push(y);
    if (++since_recompute_ >= window_.capacity() || !std::isfinite(q_.value()) || !std::isfinite(s_.value()))
      recompute();  // periodically, and at once after an overflow so the sums recover
    return true;
  }
  bool ready() const { return window_.full(); }
  double value(int) const { return q_.value() / sxx_; }

  void save(StateWriter& w) const {
    window_.save(w);
    w.put<double>(centre_);
    s_.save(w);
    q_.save(w);
    w.put<uint64_t>(since_recompute_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    centre_ = r.get<double>();
    s_.restore(r);
    q_.restore(r);
    since_recompute_ = r.get<uint64_t>();
  }

 private:
  // S and Q afresh from the (full) window, centred on its newest value.
  void recompute() {
    const size_t n = window_.size();
    centre_ = window_[n - 1];
    s_ = CompensatedSum();
    q_ = CompensatedSum();
    for (size_t i = 0; i < n; ++i) {
      const double d = window_[i] - centre_;
      s_.add(d);
      q_.add((static_cast<double>(i) - xbar_) * d);
    }
    since_recompute_ = 0;
  }

  RingWindow window_;  // the last n inputs, raw
  int field_;
  double xbar_, sxx_;  // (n-1)/2 and n(n^2-1)/12
  double centre_ = 0;  // c: the window is summed as offsets y - c
  CompensatedSum s_, q_;  // sum (y_i - c) and sum (x_i - xbar)(y_i - c)
  uint64_t since_recompute_ = 0;
};

void register_linreg_slope(Registrar& r) { r.add<IndicatorNode<LinregSlopeCore>>(); }

}  // namespace qflow::nodes
