// indicator.trend_strength — the distance between a fast and a slow moving average in units of
// the average true range: |MA_fast - MA_slow| / ATR_n.
//
// MA is TA-Lib's SMA (default) or EMA (k = 2/(fast+1) or 2/(slow+1), each seeded with the SMA of
// its own first `fast` or `slow` inputs, as TA-Lib's EMA), over the bar's `field` column. ATR is
// TA-Lib's ATR: true range TR_i = max(H_i - L_i, |H_i - C_{i-1}|, |L_i - C_{i-1}|), undefined at
// bar 0; the seed is the mean TR of bars 1..n (first ATR at bar n), then Wilder's smoothing
// ATR = (ATR * (n - 1) + TR) / n. The output is 0 when the ATR is 0 (a flat market) and starts
// when all three are defined: bar max(slow - 1, n) (29 for the defaults 10/30/14). O(1) per bar:
// the SMAs are Neumaier-compensated running sums over ring windows, the rest recurrences. A
// non-finite input stays in the smoothed state (EMA, ATR) for good, as in TA-Lib.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace qflow::nodes {

// TA-Lib's SMA or EMA of period n, defined from the n-th input on.
class TrendMovingAverage {
 public:
  TrendMovingAverage(size_t n, bool ema) : n_(n), ema_(ema), window_(ema ? 1 : n) {}

  void push(double x) {
    ++seen_;
    if (ema_ && seen_ > n_) {
      value_ = (x - value_) * (2.0 / (static_cast<double>(n_) + 1.0)) + value_;
      return;
    }
    if (!ema_ && window_.full()) sum_.add(-window_.front());
    if (!ema_) window_.push(x);
    sum_.add(x);
    if (seen_ >= n_) value_ = sum_.value() / static_cast<double>(n_);
  }
  bool ready() const { return seen_ >= n_; }
  double value() const { return value_; }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<double>(value_);
    sum_.save(w);
    window_.save(w);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    value_ = r.get<double>();
    sum_.restore(r);
    window_.restore(r);
  }

 private:
  uint64_t n_;
  bool ema_;
  uint64_t seen_ = 0;
  double value_ = 0;   // the average, once ready
  CompensatedSum sum_;  // the SMA's window sum, or the EMA's seed sum
  RingWindow window_;   // the SMA's window
};

class TrendStrengthCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.trend_strength", "indicator")
        .summary("|MA_fast - MA_slow| / ATR: the gap between two moving averages in ATRs")
        .doc("Absolute difference of a fast and a slow moving average (TA-Lib SMA or EMA) of the "
             "`field` column divided by TA-Lib's ATR (Wilder, TR undefined at bar 0, seeded with "
             "the mean TR of bars 1..n). 0 when the ATR is 0.")
        .warmup("bar max(slow-1, period): 29 for 10/30/14")
        .param(ParamSpec::integer("fast").default_value("10").min(1).max(100'000).doc("fast average length, below slow"))
        .param(ParamSpec::integer("slow").default_value("30").min(2).max(100'000).doc("slow average length"))
        .param(ParamSpec::integer("period").default_value("14").min(1).max(100'000).doc("ATR length n"))
        .param(ParamSpec::choice("ma", {"sma", "ema"}).default_value("sma").doc("the moving averages' kind"))
        .param(field_param())
        .input("in", Kind::bar, "bars")
        .output("value", Kind::value, "the trend strength, >= 0");
  }

  explicit TrendStrengthCore(const ParamView& p)
      : fast_(static_cast<size_t>(p.integer("fast")), p.string("ma") == "ema"),
        slow_(static_cast<size_t>(p.integer("slow")), p.string("ma") == "ema"),
        n_(static_cast<uint64_t>(p.integer("period"))),
        field_(field_index(p.string("field"))) {
    if (p.integer("fast") >= p.integer("slow")) throw std::invalid_argument("fast must be shorter than slow");
  }

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    const double x = bar_field(b, field_);
    fast_.push(x);
    slow_.push(x);
    if (bars_++ > 0) {
      const double tr = std::max({b.high - b.low, std::abs(b.high - prev_close_), std::abs(b.low - prev_close_)});
      const double n = static_cast<double>(n_);
      if (bars_ <= n_ + 1) {  // bars 1..n: the seed
        tr_sum_.add(tr);
        if (bars_ == n_ + 1) atr_ = tr_sum_.value() / n;
      } else {
        atr_ = (atr_ * (n - 1) + tr) / n;
      }
    }
    prev_close_ = b.close;
    return ready();
  }
  bool ready() const { return fast_.ready() && slow_.ready() && bars_ > n_; }
  double value(int) const { return atr_ != 0 ? std::abs(fast_.value() - slow_.value()) / atr_ : 0.0; }

  void save(StateWriter& w) const {
    fast_.save(w);
    slow_.save(w);
    w.put<uint64_t>(bars_);
    w.put<double>(prev_close_);
    tr_sum_.save(w);
    w.put<double>(atr_);
  }
  void restore(StateReader& r) {
    fast_.restore(r);
    slow_.restore(r);
    bars_ = r.get<uint64_t>();
    prev_close_ = r.get<double>();
    tr_sum_.restore(r);
    atr_ = r.get<double>();
  }

 private:
  TrendMovingAverage fast_, slow_;
  uint64_t n_;  // the ATR's period
  int field_;
  uint64_t bars_ = 0;       // bars so far
  double prev_close_ = 0;   // the previous bar's close
  CompensatedSum tr_sum_;   // TR of bars 1..n, the ATR's seed
  double atr_ = 0;          // the ATR, from bar n on
};

void register_trend_strength(Registrar& r) { r.add<IndicatorNode<TrendStrengthCore>>(); }

}  // namespace qflow::nodes
