// The augmented Dickey-Fuller test as statsmodels.tsa.stattools.adfuller computes it, and
// MacKinnon's approximate p-values and critical values as statsmodels' mackinnonp and
// mackinnoncrit compute them (regression with a constant, N = 1 for ADF, N = 2 for the
// Engle-Granger test of one regressor).
//
// For a series x_0..x_{N-1}, the regression is
//   dx_t = [c] + gamma x_{t-1} + sum_{j=1..p} phi_j dx_{t-j} + e_t
// and the statistic is t = gamma_hat / se(gamma_hat). adfuller's conventions, followed exactly:
//   - maxlag by default: ceil(12 (N/100)^(1/4)), capped at N/2 - ntrend - 1 (integer division,
//     ntrend = 1 with a constant, 0 without); a given maxlag above the cap is refused.
//   - autolag 'AIC': every lag 0..maxlag is fitted on the same sample (the N - 1 - maxlag rows
//     usable with maxlag lags), AIC = nobs (ln 2 pi + ln(SSR/nobs) + 1) + 2k with k the number of
//     regressors including the constant; the smallest AIC wins, ties going to the shorter lag.
//     The chosen lag is then re-fitted on its full sample (N - 1 - p rows), which gives the
//     statistic and the nobs of the critical values.
//   - a fixed lag p (autolag None) fits lag p on its full sample.
// Numerics: with a constant, every column and the response are centred first (the slopes and
// residuals are those of the regression with a constant, by Frisch-Waugh-Lovell), then solved
// by Householder QR; one factorisation of the common-sample design gives the SSR of every lag
// (nested prefixes). Cost: O(N p^2) per test.
#pragma once

#include "ols.hpp"

#include <array>
#include <cmath>
#include <numbers>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace qflow::nodes::stats {

enum class AdfTrend { none, constant };  // statsmodels' regression 'n' and 'c'

struct AdfResult {
  double stat;  // t statistic of gamma
  int lag;      // lags used
  size_t nobs;  // rows of the final regression
};

inline int adf_ntrend(AdfTrend t) { return t == AdfTrend::constant ? 1 : 0; }

// The largest lag adfuller accepts for a series of n values.
inline int adf_lag_cap(size_t n, AdfTrend t) { return static_cast<int>(n / 2) - adf_ntrend(t) - 1; }

// adfuller's default maxlag (Schwert's rule, capped).
inline int adf_default_maxlag(size_t n, AdfTrend t) {
  const int rule = static_cast<int>(std::ceil(12.0 * std::pow(static_cast<double>(n) / 100.0, 0.25)));
  return std::min(adf_lag_cap(n, t), rule);
}

namespace detail {

// The ADF design for lags 1..p on the rows t = first..n-2 (dx_t = x_{t+1} - x_t is the
// response, x_t the level): columns in the order `level_first` asks, centred with a constant.
struct AdfDesign {
  std::vector<std::vector<double>> columns;
  std::vector<double> y;
};

inline void centre(std::vector<double>& v) {
  if (v.empty()) return;
  const double a = v.front();
  double s = 0;
  for (double x : v) s += x - a;
  const double mean = a + s / static_cast<double>(v.size());
  for (double& x : v) x -= mean;
}

inline AdfDesign adf_design(std::span<const double> x, size_t first, int p, bool level_first, AdfTrend trend) {
  const size_t n = x.size(), rows = n - 1 - first;
  AdfDesign d;
  d.y.resize(rows);
  std::vector<double> level(rows);
  std::vector<std::vector<double>> lags(static_cast<size_t>(p), std::vector<double>(rows));
  for (size_t r = 0; r < rows; ++r) {
    const size_t t = first + r;
    d.y[r] = x[t + 1] - x[t];
    level[r] = x[t];
    for (size_t j = 1; j <= lags.size(); ++j) lags[j - 1][r] = x[t + 1 - j] - x[t - j];
  }
  if (level_first) d.columns.push_back(std::move(level));
  for (auto& l : lags) d.columns.push_back(std::move(l));
  if (!level_first) d.columns.push_back(std::move(level));
  if (trend == AdfTrend::constant) {
    centre(d.y);
    for (auto& c : d.columns) centre(c);
  }
  return d;
}

}  // namespace detail

// The ADF test of x. maxlag: the largest lag searched (autolag) or the lag used (fixed); it
// must be within adf_lag_cap. No result when the series is constant, too short, or the final
// regression is singular or fits exactly (adfuller raises or returns inf/nan there).
inline std::optional<AdfResult> adf(std::span<const double> x, AdfTrend trend, int maxlag, bool autolag) {
  const size_t n = x.size();
  const int ntrend = adf_ntrend(trend);
  if (maxlag < 0 || maxlag > adf_lag_cap(n, trend)) return std::nullopt;
  bool constant = true;
  for (double v : x) constant = constant && v == x[0];
  if (constant) return std::nullopt;

  int lag = maxlag;
  if (autolag) {
    const auto d = detail::adf_design(x, static_cast<size_t>(maxlag), maxlag, true, trend);
    const HouseholderQr qr(d.columns, d.y);
    const double m = static_cast<double>(qr.rows());
    double best = 0;
    for (int p = 0; p <= maxlag; ++p) {
      const double k = static_cast<double>(ntrend + 1 + p);
      const double aic = m * (std::log(2 * std::numbers::pi) + std::log(qr.ssr(static_cast<size_t>(p) + 1) / m) + 1) + 2 * k;
      if (p == 0 || aic < best) best = aic, lag = p;
    }
  }

  const auto d = detail::adf_design(x, static_cast<size_t>(lag), lag, false, trend);
  const HouseholderQr qr(d.columns, d.y);
  const size_t q = qr.cols(), rows = qr.rows();
  for (size_t j = 0; j < q; ++j)
    if (!qr.independent(j)) return std::nullopt;
  const double df = static_cast<double>(rows) - static_cast<double>(q) - ntrend;
  const double ssr = qr.ssr(q);
  if (df <= 0 || !(ssr > 0)) return std::nullopt;
  const double sigma = std::sqrt(ssr / df);
  const double rll = qr.r(q - 1, q - 1);
  // gamma = z/R, se = sigma/|R|: t = z sign(R) / sigma
  const double stat = (rll > 0 ? qr.z(q - 1) : -qr.z(q - 1)) / sigma;
  if (!std::isfinite(stat)) return std::nullopt;
  return AdfResult{stat, lag, rows};
}

// MacKinnon (1994) approximate asymptotic p-value of a unit-root / no-cointegration t
// statistic, regression with a constant, `n_series` I(1) series (1: ADF, 2: Engle-Granger with
// one regressor). p = Phi(g0 + g1 t + g2 t^2 [+ g3 t^3]) with the small-p surface (Table 3)
// up to tau*, the large-p one (Table 4) above it; 0 below tau_min, 1 above tau_max. The
// coefficients are the published ones with the tables' scaling applied (the printed g2 of
// the small-p table is 100 g2; the printed g1, g2, g3 of the large-p table are 10 g1, 10 g2,
// 100 g3).
inline double mackinnon_p(double stat, int n_series) {
  struct Row {
    double tau_min, tau_star, tau_max;
    std::array<double, 3> small;
    std::array<double, 4> large;
  };
  static constexpr Row kConstant[] = {
      {-18.83, -1.61, 2.74, {2.1659, 1.4412, 0.038269}, {1.7339, 0.93202, -0.12745, -0.010368}},
      {-18.86, -2.62, 0.92, {2.92, 1.5012, 0.039796}, {2.1945, 0.64695, -0.29198, -0.042377}},
  };
  if (n_series < 1 || n_series > 2) throw std::invalid_argument("MacKinnon p-values are tabulated here for 1 or 2 series");
  const Row& row = kConstant[n_series - 1];
  if (stat > row.tau_max) return 1.0;
  if (stat < row.tau_min) return 0.0;
  double g = 0;
  if (stat <= row.tau_star)
    for (size_t i = row.small.size(); i-- > 0;) g = g * stat + row.small[i];
  else
    for (size_t i = row.large.size(); i-- > 0;) g = g * stat + row.large[i];
  return 0.5 * std::erfc(-g / std::numbers::sqrt2);
}

// MacKinnon (2010) critical values at 1 %, 5 % and 10 % for `nobs` observations, regression
// with a constant: b0 + b1/T + b2/T^2 + b3/T^3.
inline std::array<double, 3> mackinnon_crit(int n_series, double nobs) {
  static constexpr double kConstant[2][3][4] = {
      {{-3.43035, -6.5393, -16.786, -79.433}, {-2.86154, -2.8903, -4.234, -40.040}, {-2.56677, -1.5384, -2.809, 0}},
      {{-3.89644, -10.9519, -33.527, 0}, {-3.33613, -6.1101, -6.823, 0}, {-3.04445, -4.2412, -2.720, 0}},
  };
  if (n_series < 1 || n_series > 2) throw std::invalid_argument("MacKinnon critical values are tabulated here for 1 or 2 series");
  std::array<double, 3> out{};
  const double u = 1.0 / nobs;
  for (int level = 0; level < 3; ++level) {
    const double* b = kConstant[n_series - 1][level];
    out[static_cast<size_t>(level)] = b[0] + u * (b[1] + u * (b[2] + u * b[3]));
  }
  return out;
}

}  // namespace qflow::nodes::stats
