// stats.adf — augmented Dickey-Fuller unit-root test on a rolling window of one series.
//
// Over the last `window` values (one symbol's bars or values, or the whole input as one series,
// e.g. a spread: see stats.hpp), the regression with a constant
//   dx_t = c + gamma x_{t-1} + sum_{j=1..p} phi_j dx_{t-j} + e_t
// gives the statistic t = gamma_hat / se(gamma_hat), with exactly the conventions of
// statsmodels.tsa.stattools.adfuller(x, regression='c', autolag='AIC') (adf.hpp): the lag p is
// fixed by `lags` (autolag=None, maxlag=lags) or chosen by AIC on a common sample among
// 0..maxlag (default ceil(12 (window/100)^(1/4)), capped at window/2 - 2) and re-fitted on its
// full sample. pvalue is MacKinnon's approximate p-value (mackinnonp, N = 1), crit1/5/10 the
// MacKinnon (2010) critical values for the regression's nobs (mackinnoncrit).
// Cost: each test is O(window p^2) (two Householder QR factorisations), so a test on every bar
// is expensive for long windows: `every` = k tests only every k-th value.
// Warm-up: the first test at the window-th value, then every `every` values. Nothing is
// emitted for a window that is constant or whose regression is singular or fits exactly.
#include "adf.hpp"
#include "stats.hpp"

#include <array>
#include <deque>
#include <string>

namespace qflow::nodes::stats {

class AdfCore {
 public:
  static constexpr int kOutputs = 6;
  static NodeSpec spec() {
    return NodeSpec("stats.adf", "stats")
        .summary("Rolling augmented Dickey-Fuller test (constant, AIC lag) with MacKinnon p-value")
        .doc("ADF t statistic of the last `window` values as statsmodels adfuller(regression='c', "
             "autolag='AIC') computes it, or with a fixed lag; MacKinnon (1994) p-value and (2010) "
             "critical values. O(window p^2) per test: use `every` to test every k-th value.")
        .warmup("the window-th value, then every `every` values")
        .param(ParamSpec::integer("window").default_value("100").min(10).max(100'000).doc("values in each test"))
        .param(ParamSpec::integer("lags").min(0).max(50'000).doc("a fixed lag (no AIC search); at most window/2 - 2"))
        .param(ParamSpec::integer("maxlag").min(0).max(50'000).doc(
            "largest lag of the AIC search (default ceil(12 (window/100)^(1/4)), capped at window/2 - 2)"))
        .param(ParamSpec::integer("every").default_value("1").min(1).max(1'000'000).doc("test every k-th value"))
        .param(symbol_param())
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or values of the series, from one or more connections", QF_PORT_MULTIPLE)
        .output("stat", Kind::value, "the ADF t statistic")
        .output("pvalue", Kind::value, "MacKinnon's approximate p-value")
        .output("lag", Kind::value, "the lag used")
        .output("crit1", Kind::value, "1 % critical value")
        .output("crit5", Kind::value, "5 % critical value")
        .output("crit10", Kind::value, "10 % critical value");
  }

  explicit AdfCore(const ParamView& p)
      : n_(static_cast<size_t>(p.integer("window"))),
        every_(static_cast<uint64_t>(p.integer("every"))),
        autolag_(!p.has("lags")) {
    if (p.has("lags") && p.has("maxlag")) throw std::invalid_argument("set either lags (fixed) or maxlag (AIC search), not both");
    const int cap = adf_lag_cap(n_, AdfTrend::constant);
    maxlag_ = p.has("lags") ? static_cast<int>(p.integer("lags"))
              : p.has("maxlag") ? static_cast<int>(p.integer("maxlag"))
                                : adf_default_maxlag(n_, AdfTrend::constant);
    if (maxlag_ > cap)
      throw std::invalid_argument("a window of " + std::to_string(n_) + " allows lags up to " + std::to_string(cap) +
                                  " (window/2 - 2), not " + std::to_string(maxlag_));
  }

  bool update(double v) {
    window_.push_back(v);
    if (window_.size() > n_) window_.pop_front();
    ++seen_;
    if (seen_ < n_ || (seen_ - n_) % every_ != 0) return false;
    values_.assign(window_.begin(), window_.end());
    const auto res = adf(values_, AdfTrend::constant, maxlag_, autolag_);
    if (!res) return false;
    const auto crit = mackinnon_crit(1, static_cast<double>(res->nobs));
    out_ = {res->stat, mackinnon_p(res->stat, 1), static_cast<double>(res->lag), crit[0], crit[1], crit[2]};
    return true;
  }
  double value(int k) const { return out_[static_cast<size_t>(k)]; }
  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<uint64_t>(window_.size());
    for (double v : window_) w.put<double>(v);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    const uint64_t n = r.get<uint64_t>();
    if (n > n_) throw std::runtime_error("ADF state holds more values than the window");
    window_.clear();
    for (uint64_t i = 0; i < n; ++i) window_.push_back(r.get<double>());
  }

 private:
  size_t n_;
  uint64_t every_;
  bool autolag_;
  int maxlag_;
  std::deque<double> window_;  // the last n_ values
  uint64_t seen_ = 0;          // values so far
  std::vector<double> values_;  // scratch: the window as one span
  std::array<double, kOutputs> out_{};
};

void register_adf(Registrar& r) { r.add<SeriesNode<AdfCore>>(); }

}  // namespace qflow::nodes::stats
