// stats.ols — rolling least-squares hedge ratio y = alpha + beta x of two symbols.
//
// Over the last n pairs (y_i, x_i), paired by event time (see stats.hpp), on prices or, with
// `log: true`, on their natural logarithms (a pair with a non-positive price is then ignored):
//   beta = Sxy / Sxx, alpha = mean(y) - beta mean(x), residual = y_t - alpha - beta x_t for the
//   pair just completed; with x constant over the window beta = 0 and alpha = mean(y).
// The first values come with the n-th pair. O(1) amortised per pair: rolling co-moments with
// add/remove updates of anchored sums, recounted when their rounding bound nears 1e-12
// (window_sums.hpp); the residual is formed from deviations from the means, so BTC-level
// prices do not cancel.
#include "ols.hpp"
#include "stats.hpp"
#include "window_sums.hpp"

#include <array>
#include <cmath>

namespace qflow::nodes::stats {

class OlsCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("stats.ols", "stats")
        .summary("Rolling OLS hedge ratio y = alpha + beta x of two symbols")
        .doc("Least squares of y on x with a constant over the last n pairs of the same time (a leg "
             "without its partner is dropped), on prices or log prices. beta = 0 and alpha = mean(y) "
             "when x is constant over the window. Bars contribute their `field` column.")
        .warmup("the n-th pair")
        .param(leg_param("y", "symbol of the dependent series"))
        .param(leg_param("x", "symbol of the regressor"))
        .param(ParamSpec::integer("period").default_value("60").min(2).max(1'000'000).doc("window length n, in pairs"))
        .param(ParamSpec::boolean("log").default_value("false").doc("regress log prices (ln y on ln x)"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or values of both symbols, from one or more connections", QF_PORT_MULTIPLE)
        .output("beta", Kind::value, "the slope (hedge ratio)")
        .output("alpha", Kind::value, "the intercept")
        .output("residual", Kind::value, "y - alpha - beta x of the pair just completed");
  }

  explicit OlsCore(const ParamView& p) : window_(static_cast<size_t>(p.integer("period"))), log_(p.boolean("log")) {}

  bool update(double y, double x) {
    if (log_) {
      if (!(y > 0 && x > 0)) return false;
      y = std::log(y), x = std::log(x);
    }
    window_.push(x, y);
    if (!window_.full()) return false;
    const SimpleOls fit(window_);
    out_[0] = fit.beta;
    out_[1] = fit.alpha;
    out_[2] = fit.residual(y, x);
    return true;
  }
  bool has(int) const { return true; }
  double value(int k) const { return out_[static_cast<size_t>(k)]; }
  void save(StateWriter& w) const {
    window_.save(w);
    for (double v : out_) w.put<double>(v);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    for (double& v : out_) v = r.get<double>();
  }

 private:
  PairWindowSums window_;  // (x, y) pairs, logged when log_
  bool log_;
  std::array<double, 3> out_{};
};

void register_ols(Registrar& r) { r.add<PairNode<OlsCore>>(); }

}  // namespace qflow::nodes::stats
