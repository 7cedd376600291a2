// stats.cointegration — Engle-Granger cointegration test of two symbols on a rolling window.
//
// Over the last `window` pairs (y, x) (paired by event time, see stats.hpp; log prices with
// `log: true`), exactly as statsmodels.tsa.stattools.coint(y, x, trend='c') does it:
//   1. OLS of y on [1, x]: beta (emitted) and the residuals u.
//   2. ADF on u WITHOUT a constant (adfuller(u, regression='n', autolag='AIC'), maxlag by
//      default ceil(12 (window/100)^(1/4)) capped at window/2 - 1; or a fixed `lags`).
//   3. pvalue = MacKinnon's approximate p-value with a constant and N = 2 series
//      (mackinnonp(stat, 'c', 2)); crit1/5/10 = mackinnoncrit(N=2, 'c', nobs = window - 1).
// When y and x are (almost) perfectly collinear (R^2 >= 1 - 100 sqrt(machine epsilon)) coint
// reports stat = -inf and pvalue 0; so does this node. Nothing is emitted for a window where
// either leg is constant or the residual regression is singular. A lag of window/2 - 1 (the
// default maxlag of even windows up to 20) would fit the residual regression exactly: refused.
// Cost: O(window p^2) per test (adf.hpp); `every` = k tests only every k-th pair.
// Warm-up: the window-th pair, then every `every` pairs.
#include "adf.hpp"
#include "stats.hpp"

#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <string>

namespace qflow::nodes::stats {

class CointegrationCore {
 public:
  static constexpr int kOutputs = 6;
  static NodeSpec spec() {
    return NodeSpec("stats.cointegration", "stats")
        .summary("Rolling Engle-Granger cointegration test (statsmodels coint) of two symbols")
        .doc("OLS of y on [1, x] over the last `window` pairs of the same time, then the ADF test "
             "without constant on the residuals (AIC lag or fixed lags), MacKinnon p-value and "
             "critical values for N = 2 with a constant, as statsmodels coint(trend='c'). "
             "O(window p^2) per test: use `every` to test every k-th pair.")
        .warmup("the window-th pair, then every `every` pairs")
        .param(leg_param("y", "symbol of the dependent series"))
        .param(leg_param("x", "symbol of the regressor"))
        .param(ParamSpec::integer("window").default_value("100").min(10).max(100'000).doc("pairs in each test"))
        .param(ParamSpec::integer("lags").min(0).max(50'000).doc("a fixed lag for the residual ADF (no AIC search); at most window/2 - 1"))
        .param(ParamSpec::integer("maxlag").min(0).max(50'000).doc(
            "largest lag of the AIC search (default ceil(12 (window/100)^(1/4)), capped at window/2 - 1)"))
        .param(ParamSpec::integer("every").default_value("1").min(1).max(1'000'000).doc("test every k-th pair"))
        .param(ParamSpec::boolean("log").default_value("false").doc("test log prices"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or values of both symbols, from one or more connections", QF_PORT_MULTIPLE)
        .output("stat", Kind::value, "the Engle-Granger t statistic (-inf when collinear)")
        .output("pvalue", Kind::value, "MacKinnon's approximate p-value (N = 2)")
        .output("beta", Kind::value, "the OLS slope of y on x")
        .output("crit1", Kind::value, "1 % critical value")
        .output("crit5", Kind::value, "5 % critical value")
        .output("crit10", Kind::value, "10 % critical value");
  }

  explicit CointegrationCore(const ParamView& p)
      : n_(static_cast<size_t>(p.integer("window"))),
        every_(static_cast<uint64_t>(p.integer("every"))),
        autolag_(!p.has("lags")),
        log_(p.boolean("log")) {
    if (p.has("lags") && p.has("maxlag")) throw std::invalid_argument("set either lags (fixed) or maxlag (AIC search), not both");
    const int cap = adf_lag_cap(n_, AdfTrend::none);
    maxlag_ = p.has("lags") ? static_cast<int>(p.integer("lags"))
              : p.has("maxlag") ? static_cast<int>(p.integer("maxlag"))
                                : adf_default_maxlag(n_, AdfTrend::none);
    if (maxlag_ > cap)
      throw std::invalid_argument("a window of " + std::to_string(n_) + " allows lags up to " + std::to_string(cap) +
                                  " (window/2 - 1), not " + std::to_string(maxlag_));
    // At lag window/2 - 1 the residual regression has as many regressors as rows: an exact fit
    // (coint's output is then meaningless). Only even windows up to 20 reach it by default.
    if (2 * static_cast<size_t>(maxlag_) + 2 >= n_)
      throw std::invalid_argument("a window of " + std::to_string(n_) + " leaves the residual ADF at lag " +
                                  std::to_string(maxlag_) + " no degrees of freedom: set maxlag or lags to at most " +
                                  std::to_string((n_ - 3) / 2) + ", or use a longer window");
  }

  bool update(double y, double x) {
    if (log_) {
      if (!(y > 0 && x > 0)) return false;
      y = std::log(y), x = std::log(x);
    }
    ys_.push_back(y);
    xs_.push_back(x);
    if (ys_.size() > n_) ys_.pop_front(), xs_.pop_front();
    ++seen_;
    if (seen_ < n_ || (seen_ - n_) % every_ != 0) return false;
    return test();
  }
  bool has(int) const { return true; }
  double value(int k) const { return out_[static_cast<size_t>(k)]; }
  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<uint64_t>(ys_.size());
    for (size_t i = 0; i < ys_.size(); ++i) {
      w.put<double>(ys_[i]);
      w.put<double>(xs_[i]);
    }
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    const uint64_t n = r.get<uint64_t>();
    if (n > n_) throw std::runtime_error("cointegration state holds more pairs than the window");
    ys_.clear();
    xs_.clear();
    for (uint64_t i = 0; i < n; ++i) {
      ys_.push_back(r.get<double>());
      xs_.push_back(r.get<double>());
    }
  }

 private:
  static double mean(const std::deque<double>& v) {
    const double a = v.front();
    double s = 0;
    for (double x : v) s += x - a;
    return a + s / static_cast<double>(v.size());
  }

  bool test() {
    const double my = mean(ys_), mx = mean(xs_);
    double sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n_; ++i) {
      const double dx = xs_[i] - mx, dy = ys_[i] - my;
      sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return false;
    const double beta = sxy / sxx;
    resid_.resize(n_);
    double ssr = 0;
    for (size_t i = 0; i < n_; ++i) {
      resid_[i] = (ys_[i] - my) - beta * (xs_[i] - mx);
      ssr += resid_[i] * resid_[i];
    }
    double stat = -std::numeric_limits<double>::infinity();
    if (1 - ssr / syy < 1 - 100 * std::sqrt(std::numeric_limits<double>::epsilon())) {
      const auto res = adf(resid_, AdfTrend::none, maxlag_, autolag_);
      if (!res) return false;
      stat = res->stat;
    }
    const auto crit = mackinnon_crit(2, static_cast<double>(n_ - 1));
    out_ = {stat, mackinnon_p(stat, 2), beta, crit[0], crit[1], crit[2]};
    return true;
  }

  size_t n_;
  uint64_t every_;
  bool autolag_;
  bool log_;
  int maxlag_;
  std::deque<double> ys_, xs_;  // the last n_ pairs (logged when log_)
  uint64_t seen_ = 0;           // pairs so far
  std::vector<double> resid_;   // scratch
  std::array<double, kOutputs> out_{};
};

void register_cointegration(Registrar& r) { r.add<PairNode<CointegrationCore>>(); }

}  // namespace qflow::nodes::stats
