// indicator.macd — moving average convergence/divergence.
//
// TA-Lib (0.4) MACD(fastperiod = 12, slowperiod = 26, signalperiod = 9), EMAs with
// k = 2/(period+1) updated as ema += k * (x - ema):
// - both EMAs start at the slow lookback, input index slow-1: the slow one seeded with the SMA of
//   inputs 0..slow-1, the fast one with the SMA of the `fast` inputs ending there
//   (slow-fast..slow-1), so the fast EMA ignores everything earlier;
// - macd = fast EMA - slow EMA from index slow-1;
// - signal = EMA(signal) of macd, seeded with the SMA of its first `signal` values;
// - hist = macd - signal.
// All three are emitted together from index slow+signal-2 (33 for 12/26/9); nothing before.
// As TA-Lib does, a `fast` longer than `slow` is swapped with it.
//
// O(1) per update and constant memory: the seeds are Neumaier-compensated running sums (the
// fast one starts accumulating at index slow-fast), then each EMA is one multiply-add.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <algorithm>

namespace qflow::nodes {

class MacdCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("indicator.macd", "indicator")
        .summary("MACD line, its signal line and the histogram (TA-Lib seeding)")
        .doc("TA-Lib MACD: macd = EMA(fast) - EMA(slow), both EMAs starting at input slow-1 (the fast "
             "one seeded with the mean of the `fast` inputs ending there, the slow one with the mean of "
             "the first `slow`); signal = EMA(signal) of macd seeded with the mean of its first `signal` "
             "values; hist = macd - signal. Bars contribute their `field` column.")
        .warmup("index slow+signal-2 counting from 0 (33 for 12/26/9), all three outputs together")
        .param(ParamSpec::integer("fast").default_value("12").min(2).max(100'000).doc("fast EMA length"))
        .param(ParamSpec::integer("slow").default_value("26").min(2).max(100'000).doc("slow EMA length (swapped with fast if shorter)"))
        .param(ParamSpec::integer("signal").default_value("9").min(1).max(100'000).doc("signal EMA length, over the macd line"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("macd", Kind::value, "EMA(fast) - EMA(slow)")
        .output("signal", Kind::value, "EMA(signal) of macd")
        .output("hist", Kind::value, "macd - signal");
  }

  explicit MacdCore(const ParamView& p)
      : fast_(static_cast<uint64_t>(std::min(p.integer("fast"), p.integer("slow")))),
        slow_(static_cast<uint64_t>(std::max(p.integer("fast"), p.integer("slow")))),
        signal_(static_cast<uint64_t>(p.integer("signal"))),
        k_fast_(2.0 / (static_cast<double>(fast_) + 1)),
        k_slow_(2.0 / (static_cast<double>(slow_) + 1)),
        k_signal_(2.0 / (static_cast<double>(signal_) + 1)),
        field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    const double x = indicator_input(ev, field_);
    const uint64_t i = seen_++;  // this input's index
    if (i < slow_) {
      slow_seed_.add(x);
      if (i >= slow_ - fast_) fast_seed_.add(x);
      if (i + 1 < slow_) return false;
      slow_ema_ = slow_seed_.value() / static_cast<double>(slow_);
      fast_ema_ = fast_seed_.value() / static_cast<double>(fast_);
    } else {
      fast_ema_ += k_fast_ * (x - fast_ema_);
      slow_ema_ += k_slow_ * (x - slow_ema_);
    }
    macd_ = fast_ema_ - slow_ema_;
    const uint64_t j = i + 1 - slow_;  // index of this macd value
    if (j < signal_) {
      signal_seed_.add(macd_);
      if (j + 1 < signal_) return false;
      signal_ema_ = signal_seed_.value() / static_cast<double>(signal_);
    } else {
      signal_ema_ += k_signal_ * (macd_ - signal_ema_);
    }
    return true;
  }
  bool ready() const { return seen_ + 1 >= slow_ + signal_; }
  double value(int k) const {
    if (k == 1) return signal_ema_;
    if (k == 2) return macd_ - signal_ema_;
    return macd_;
  }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    slow_seed_.save(w);
    fast_seed_.save(w);
    signal_seed_.save(w);
    for (double v : {fast_ema_, slow_ema_, macd_, signal_ema_}) w.put<double>(v);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    slow_seed_.restore(r);
    fast_seed_.restore(r);
    signal_seed_.restore(r);
    for (double* v : {&fast_ema_, &slow_ema_, &macd_, &signal_ema_}) *v = r.get<double>();
  }

 private:
  uint64_t fast_, slow_, signal_;
  double k_fast_, k_slow_, k_signal_;
  int field_;
  uint64_t seen_ = 0;                               // inputs so far
  CompensatedSum slow_seed_, fast_seed_, signal_seed_;  // sums for the three SMA seeds
  double fast_ema_ = 0, slow_ema_ = 0, macd_ = 0, signal_ema_ = 0;
};

void register_macd(Registrar& r) { r.add<IndicatorNode<MacdCore>>(); }

}  // namespace qflow::nodes
