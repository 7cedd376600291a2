// indicator.stoch — slow stochastic oscillator.
//
// TA-Lib (0.4) STOCH with simple moving averages, periods 14 / 3 / 3 as the library specifies:
// fast %K = 100 * (close - LL) / (HH - LL) with HH the highest high and LL the lowest low of the
// last `fastk_period` bars (the current one included), 0 when HH = LL; slow %K = the SMA of the
// last `slowk_period` fast %K; slow %D = the SMA of the last `slowd_period` slow %K. Both outputs
// start together at bar (fastk-1) + (slowk-1) + (slowd-1), 17 for the defaults, as in TA-Lib.
// HH and LL come from RollingMax / RollingMin (a rescanned ring up to 32 bars, a monotonic deque
// beyond: amortised O(1) per bar). The two averages: windows of up to kSumUpTo values (the
// defaults: 3) are summed afresh each bar, oldest first, as the textbook SMA is; longer ones
// keep a Neumaier-compensated running sum, O(1) per bar, within a few ulps of a fresh sum of
// numbers in 0..100. A bar with a non-finite high, low or close is skipped: it changes nothing
// and emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class StochCore {
 public:
  static constexpr int kOutputs = 2;
  static NodeSpec spec() {
    return NodeSpec("indicator.stoch", "indicator")
        .summary("Slow stochastic %K and %D, 0..100")
        .doc("TA-Lib STOCH with SMA smoothing: fast %K = 100*(close - LL)/(HH - LL) over fastk_period "
             "bars (0 when HH = LL), slowk = SMA(fast %K, slowk_period), slowd = SMA(slowk, "
             "slowd_period). Bars with a non-finite high, low or close are skipped.")
        .warmup("bar (fastk_period-1)+(slowk_period-1)+(slowd_period-1) counting from 0, 17 for 14/3/3")
        .param(ParamSpec::integer("fastk_period").default_value("14").min(1).max(100'000).doc("bars for the highest high and lowest low"))
        .param(ParamSpec::integer("slowk_period").default_value("3").min(1).max(100'000).doc("SMA length turning fast %K into slow %K"))
        .param(ParamSpec::integer("slowd_period").default_value("3").min(1).max(100'000).doc("SMA length turning slow %K into slow %D"))
        .input("in", Kind::bar, "bars (high, low, close)")
        .output("slowk", Kind::value, "slow %K, 0..100")
        .output("slowd", Kind::value, "slow %D, 0..100");
  }

  explicit StochCore(const ParamView& p)
      : high_(static_cast<size_t>(p.integer("fastk_period"))),
        low_(static_cast<size_t>(p.integer("fastk_period"))),
        fastk_(static_cast<size_t>(p.integer("slowk_period"))),
        slowk_(static_cast<size_t>(p.integer("slowd_period"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    if (!std::isfinite(b.high) || !std::isfinite(b.low) || !std::isfinite(b.close)) return false;
    high_.push(b.high);
    low_.push(b.low);
    if (!high_.full()) return false;
    const double hh = high_.value(), ll = low_.value();
    const double fastk = hh != ll ? 100.0 * (b.close - ll) / (hh - ll) : 0.0;
    if (!slide(fastk_, fastk_sum_, fastk)) return false;
    slowk_value_ = sum_of(fastk_, fastk_sum_) / static_cast<double>(fastk_.capacity());
    if (!slide(slowk_, slowk_sum_, slowk_value_)) return false;
    slowd_value_ = sum_of(slowk_, slowk_sum_) / static_cast<double>(slowk_.capacity());
    return true;
  }
  bool ready() const { return slowk_.full(); }
  double value(int k) const { return k == 0 ? slowk_value_ : slowd_value_; }

  void save(StateWriter& w) const {
    high_.save(w);
    low_.save(w);
    fastk_.save(w);
    fastk_sum_.save(w);
    slowk_.save(w);
    slowk_sum_.save(w);
    w.put<double>(slowk_value_);
    w.put<double>(slowd_value_);
  }
  void restore(StateReader& r) {
    high_.restore(r);
    low_.restore(r);
    fastk_.restore(r);
    fastk_sum_.restore(r);
    slowk_.restore(r);
    slowk_sum_.restore(r);
    slowk_value_ = r.get<double>();
    slowd_value_ = r.get<double>();
  }

 private:
  static constexpr size_t kSumUpTo = 8;  // windows summed afresh each bar

  // Moves x into the window and, for a long one, its running sum; true once the window is
  // full. A non-finite %K (a range beyond the largest double) would stay in a running sum for
  // good: while the sum is not finite it is taken afresh from the window, so it recovers once
  // the value has left.
  static bool slide(RingWindow& window, CompensatedSum& sum, double x) {
    if (window.capacity() <= kSumUpTo) {
      window.push(x);
      return window.full();
    }
    if (window.full()) sum.add(-window.front());
    window.push(x);
    sum.add(x);
    if (!std::isfinite(sum.value())) {
      sum = CompensatedSum();
      for (size_t i = 0; i < window.size(); ++i) sum.add(window[i]);
    }
    return window.full();
  }
  static double sum_of(const RingWindow& window, const CompensatedSum& sum) {
    if (window.capacity() > kSumUpTo) return sum.value();
    double s = 0;
    for (size_t i = 0; i < window.size(); ++i) s += window[i];
    return s;
  }

  RollingMax high_;
  RollingMin low_;
  RingWindow fastk_, slowk_;  // the last slowk_period fast %K, the last slowd_period slow %K
  CompensatedSum fastk_sum_, slowk_sum_;
  double slowk_value_ = 0, slowd_value_ = 0;  // of the last bar
};

void register_stoch(Registrar& r) { r.add<IndicatorNode<StochCore>>(); }

}  // namespace qflow::nodes
