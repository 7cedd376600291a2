// stats.spread — the spread of a pair, s = y - beta x, and its rolling z-score.
//
// Pairs (y, x) are formed by event time (see stats.hpp). beta is either the slope of a rolling
// OLS of y on x with a constant over the last `hedge_window` pairs (stats.ols, the current
// pair included) or the fixed param `beta`; with `log: true` y and x are log prices. The
// z-score is that of the spread series itself over its last `window` values:
//   z = (s - mean) / std, std the population standard deviation (divide by window), 0 when the
//   spread does not move over the window.
// Each spread keeps the beta of its own pair (the spreads of the z window are not recomputed
// with today's beta), as a strategy trading the spread would have seen them.
// Warm-up: spread from the hedge_window-th pair (the first pair with a fixed beta), z-score
// `window` - 1 pairs later. O(1) amortised per pair: exact rolling window sums
// (window_sums.hpp) for both the regression and the z window; the z-score's deviation is taken
// about the window's anchor, so spreads of BTC-level prices do not cancel.
#include "ols.hpp"
#include "stats.hpp"
#include "window_sums.hpp"

#include <cmath>

namespace qflow::nodes::stats {

class SpreadCore {
 public:
  static constexpr int kOutputs = 2;
  static NodeSpec spec() {
    return NodeSpec("stats.spread", "stats")
        .summary("Spread y - beta x of two symbols and its rolling z-score")
        .doc("beta from a rolling OLS of y on x (with a constant) over hedge_window pairs, or the "
             "fixed param beta. z = (s - mean)/std over the last `window` spreads (population std), "
             "0 when the std is 0. Pairs are y and x events of the same time; a leg without its "
             "partner is dropped. Bars contribute their `field` column.")
        .warmup("spread: the hedge_window-th pair (the first with a fixed beta); zscore: window - 1 pairs later")
        .param(leg_param("y", "symbol of the long leg"))
        .param(leg_param("x", "symbol of the hedge leg"))
        .param(ParamSpec::integer("hedge_window").default_value("60").min(2).max(1'000'000).doc("pairs in the rolling OLS giving beta"))
        .param(ParamSpec::number("beta").doc("a fixed hedge ratio instead of the rolling OLS"))
        .param(ParamSpec::integer("window").default_value("20").min(2).max(1'000'000).doc("spreads in the z-score window"))
        .param(ParamSpec::boolean("log").default_value("false").doc("spread of log prices: ln y - beta ln x"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or values of both symbols, from one or more connections", QF_PORT_MULTIPLE)
        .output("spread", Kind::value, "y - beta x")
        .output("zscore", Kind::value, "(spread - mean) / std over the window");
  }

  explicit SpreadCore(const ParamView& p)
      : fixed_(p.has("beta")),
        beta_(fixed_ ? p.number("beta") : 0.0),
        hedge_(fixed_ ? 1 : static_cast<size_t>(p.integer("hedge_window"))),
        z_(static_cast<size_t>(p.integer("window"))),
        log_(p.boolean("log")) {
    if (!std::isfinite(beta_)) throw std::invalid_argument("beta must be a finite number");
  }

  bool update(double y, double x) {
    if (log_) {
      if (!(y > 0 && x > 0)) return false;
      y = std::log(y), x = std::log(x);
    }
    double beta = beta_;
    if (!fixed_) {
      hedge_.push(x, y);
      if (!hedge_.full()) return false;
      beta = SimpleOls(hedge_).beta;
    }
    spread_ = y - beta * x;
    z_.push(spread_);
    if (z_.full()) {
      const double sd = z_.stddev();
      z_score_ = sd > 0 ? z_.deviation(spread_) / sd : 0.0;
    }
    return true;
  }
  bool has(int k) const { return k == 0 || z_.full(); }
  double value(int k) const { return k == 0 ? spread_ : z_score_; }
  void save(StateWriter& w) const {
    hedge_.save(w);
    z_.save(w);
    w.put<double>(spread_);
    w.put<double>(z_score_);
  }
  void restore(StateReader& r) {
    hedge_.restore(r);
    z_.restore(r);
    spread_ = r.get<double>();
    z_score_ = r.get<double>();
  }

 private:
  bool fixed_;
  double beta_;               // when fixed_
  PairWindowSums hedge_;      // (x, y) pairs of the rolling OLS, unused when fixed_
  WindowSums z_;              // the last spreads
  bool log_;
  double spread_ = 0, z_score_ = 0;
};

void register_spread(Registrar& r) { r.add<PairNode<SpreadCore>>(); }

}  // namespace qflow::nodes::stats
