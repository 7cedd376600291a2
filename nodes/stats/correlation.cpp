// stats.correlation — rolling Pearson correlation of two symbols' series.
//
// Over the last n pairs (y_i, x_i), paired by event time (see stats.hpp):
//   r = Sxy / sqrt(Sxx Syy), with S the sums of centred products (the population and sample
//   normalisations cancel), and r = 0 when either leg does not move over the window.
// The first value comes with the n-th pair. O(1) amortised per pair: add/remove updates of
// anchored co-moment sums with a bound on their rounding, recounted from the window when the
// bound nears 1e-12 of the co-moments (window_sums.hpp, which says why not Welford's updates),
// so each window's result is within 1e-12 of an exact two-pass computation, even at BTC price
// levels with cent moves right after a violent minute.
#include "stats.hpp"
#include "window_sums.hpp"

#include <algorithm>

namespace qflow::nodes::stats {

class CorrelationCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("stats.correlation", "stats")
        .summary("Rolling Pearson correlation of two symbols, paired by time")
        .doc("Pearson correlation of the last n (y, x) pairs; pairs are formed from the y and x "
             "events of the same time, a leg without its partner is dropped. 0 when either leg is "
             "constant over the window. Bars contribute their `field` column.")
        .warmup("the n-th pair")
        .param(leg_param("y", "symbol of the first series"))
        .param(leg_param("x", "symbol of the second series"))
        .param(ParamSpec::integer("period").default_value("30").min(2).max(1'000'000).doc("window length n, in pairs"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or values of both symbols, from one or more connections", QF_PORT_MULTIPLE)
        .output("value", Kind::value, "the correlation, -1..1, attached to the event completing the pair");
  }

  explicit CorrelationCore(const ParamView& p) : window_(static_cast<size_t>(p.integer("period"))) {}

  bool update(double y, double x) {
    window_.push(x, y);
    if (!window_.full()) return false;
    const double sxx = window_.sxx(), syy = window_.syy();
    r_ = sxx > 0 && syy > 0 ? std::clamp(window_.sxy() / std::sqrt(sxx * syy), -1.0, 1.0) : 0.0;
    return true;
  }
  bool has(int) const { return true; }
  double value(int) const { return r_; }
  void save(StateWriter& w) const {
    window_.save(w);
    w.put<double>(r_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    r_ = r.get<double>();
  }

 private:
  PairWindowSums window_;
  double r_ = 0;
};

void register_correlation(Registrar& r) { r.add<PairNode<CorrelationCore>>(); }

}  // namespace qflow::nodes::stats
