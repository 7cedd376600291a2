// indicator.atr — average true range, Wilder's smoothing.
//
// TA-Lib (0.4) ATR(timeperiod = 14): the true range of bar i >= 1 is
// max(high - low, |high - close_{i-1}|, |low - close_{i-1}|); bar 0 has none (no previous
// close). The average is seeded with the plain mean of the true ranges of bars 1..n, then
// smoothed as atr = (atr * (n - 1) + tr) / n. The first value is at bar index n; nothing is
// emitted before. A bar with a NaN or infinite column gives a NaN true range, which, like any
// input to a recursive average, stays in every later value.
//
// O(1) per update and constant memory: a Neumaier-compensated sum for the seed, then one
// multiply-add per bar.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace qflow::nodes {

class AtrCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.atr", "indicator")
        .summary("Average true range (Wilder)")
        .doc("TA-Lib ATR: true range max(high-low, |high-prev close|, |low-prev close|) from bar 1 on; "
             "seeded with the mean true range of bars 1..n, then atr = (atr*(n-1) + tr)/n.")
        .warmup("bar n counting from 0 (14 for n = 14)")
        .param(ParamSpec::integer("period").default_value("14").min(1).max(100'000).doc("smoothing length n"))
        .input("in", Kind::bar, "bars")
        .output("value", Kind::value, "the average true range, in price units");
  }

  explicit AtrCore(const ParamView& p) : n_(static_cast<uint64_t>(p.integer("period"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    const uint64_t i = seen_++;  // this bar's index
    const double prev = prev_close_;
    prev_close_ = b.close;
    if (i == 0) return false;
    const double tr = true_range(b, prev);
    if (i <= n_) {  // bars 1..n: the seed
      seed_.add(tr);
      if (i < n_) return false;
      atr_ = seed_.value() / static_cast<double>(n_);
    } else {
      const double n = static_cast<double>(n_);
      atr_ = (atr_ * (n - 1) + tr) / n;
    }
    return true;
  }
  bool ready() const { return seen_ > n_; }
  double value(int) const { return atr_; }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<double>(prev_close_);
    seed_.save(w);
    w.put<double>(atr_);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    prev_close_ = r.get<double>();
    seed_.restore(r);
    atr_ = r.get<double>();
  }

 private:
  static double true_range(const qf_bar& b, double prev_close) {
    if (!std::isfinite(b.high) || !std::isfinite(b.low) || !std::isfinite(prev_close))
      return std::numeric_limits<double>::quiet_NaN();
    return std::max({b.high - b.low, std::abs(b.high - prev_close), std::abs(b.low - prev_close)});
  }

  uint64_t n_;
  uint64_t seen_ = 0;       // bars so far
  double prev_close_ = 0;   // close of the last bar
  CompensatedSum seed_;     // true ranges of bars 1..n
  double atr_ = 0;
};

void register_atr(Registrar& r) { r.add<IndicatorNode<AtrCore>>(); }

}  // namespace qflow::nodes
