// indicator.rsi — relative strength index, Wilder's smoothing.
//
// TA-Lib (0.4) RSI: with d_i = x_i - x_{i-1}, gain_i = max(d_i, 0) and loss_i = max(-d_i, 0),
// the averages are seeded with the plain means of gain and loss over changes 1..n, then
// smoothed as avg = (avg * (n - 1) + x) / n. RSI = 100 * avg_gain / (avg_gain + avg_loss), and 0
// when both averages are 0 (a flat series). The first value is at input index n (the change
// from input 0 to n completes the seed); nothing is emitted before.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

namespace qflow::nodes {

class RsiCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.rsi", "indicator")
        .summary("Relative strength index (Wilder), 0..100")
        .doc("TA-Lib RSI: Wilder-smoothed average gain and loss, seeded with their means over the "
             "first n changes; 100*gain/(gain+loss), 0 when both are 0. Bars contribute their `field` column.")
        .warmup("input n (the n-th change), index n counting from 0")
        .param(ParamSpec::integer("period").default_value("14").min(2).max(100'000).doc("smoothing length n"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "the RSI, 0..100");
  }

  explicit RsiCore(const ParamView& p)
      : n_(static_cast<uint64_t>(p.integer("period"))), field_(field_index(p.string("field"))) {}

  bool update(const qf_event& ev) {
    const double x = indicator_input(ev, field_);
    if (seen_++ == 0) {
      prev_ = x;
      return false;
    }
    const double d = x - prev_;
    prev_ = x;
    const double gain = d > 0 ? d : 0, loss = d < 0 ? -d : 0;
    const double n = static_cast<double>(n_);
    if (seen_ <= n_ + 1) {  // changes 1..n (inputs 1..n): the seed
      gain_ += gain;
      loss_ += loss;
      if (seen_ <= n_) return false;
      gain_ /= n;
      loss_ /= n;
    } else {
      gain_ = (gain_ * (n - 1) + gain) / n;
      loss_ = (loss_ * (n - 1) + loss) / n;
    }
    return true;
  }
  bool ready() const { return seen_ > n_; }
  double value(int) const { return gain_ + loss_ != 0 ? 100.0 * gain_ / (gain_ + loss_) : 0.0; }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<double>(prev_);
    w.put<double>(gain_);
    w.put<double>(loss_);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    prev_ = r.get<double>();
    gain_ = r.get<double>();
    loss_ = r.get<double>();
  }

 private:
  uint64_t n_;
  int field_;
  uint64_t seen_ = 0;       // inputs so far
  double prev_ = 0;         // the last input
  double gain_ = 0, loss_ = 0;  // sums during the seed, then the smoothed averages
};

void register_rsi(Registrar& r) { r.add<IndicatorNode<RsiCore>>(); }

}  // namespace qflow::nodes
