// Least squares for the pair statistics: the simple regression y = alpha + beta x read from a
// rolling window's co-moments (O(1)), and a Householder QR for the multiple regressions of the
// ADF test (backward stable: its error grows with the condition number of the design, not its
// square as with normal equations).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace qflow::nodes::stats {

// y = alpha + beta x over the window: beta = Sxy / Sxx, alpha = mean y - beta mean x. A window
// where x does not move has no slope: beta 0 and alpha = mean y (the best constant fit). Read
// from a window's co-moments (PairWindowSums: mean_x, mean_y, sxx, sxy).
struct SimpleOls {
  double beta = 0, alpha = 0;
  double mean_x = 0, mean_y = 0;

  template <class Comoments>
  explicit SimpleOls(const Comoments& m) : mean_x(m.mean_x()), mean_y(m.mean_y()) {
    const double sxx = m.sxx();
    beta = sxx > 0 ? m.sxy() / sxx : 0.0;
    alpha = mean_y - beta * mean_x;
  }
  // y - alpha - beta x, computed from deviations so that prices of 70,000 do not cancel.
  double residual(double y, double x) const { return (y - mean_y) - beta * (x - mean_x); }
};

// Householder QR of an m x k matrix (given by columns) with the response y transformed
// alongside: A = QR, z = Q'y. The model on the first j columns has the residual sum of squares
// z[j]^2 + ... + z[m-1]^2, so one factorisation fits every nested prefix model at once.
class HouseholderQr {
 public:
  HouseholderQr(std::vector<std::vector<double>> columns, std::vector<double> y)
      : a_(std::move(columns)), z_(std::move(y)) {
    const size_t m = z_.size(), k = a_.size();
    norms_.resize(k);
    for (size_t j = 0; j < k; ++j) norms_[j] = norm(a_[j], 0);
    for (size_t j = 0; j < k && j < m; ++j) {
      std::vector<double>& v = a_[j];
      const double nrm = norm(v, j);
      if (nrm == 0) continue;  // nothing left to eliminate: R[j][j] = 0
      const double alpha = v[j] > 0 ? -nrm : nrm;
      v[j] -= alpha;  // v = x - alpha e_j, with v'v = 2 nrm (nrm + |x_j|)
      const double vv = 2 * nrm * (nrm + std::abs(v[j] + alpha));
      auto reflect = [&](std::vector<double>& c) {
        double s = 0;
        for (size_t i = j; i < m; ++i) s += v[i] * c[i];
        s = 2 * s / vv;
        for (size_t i = j; i < m; ++i) c[i] -= s * v[i];
      };
      for (size_t c = j + 1; c < k; ++c) reflect(a_[c]);
      reflect(z_);
      v[j] = alpha;  // column j now holds R[.][j] above the diagonal and R[j][j] on it
    }
    tail_.assign(m + 1, 0.0);
    for (size_t i = m; i-- > 0;) tail_[i] = tail_[i + 1] + z_[i] * z_[i];
  }

  size_t rows() const { return z_.size(); }
  size_t cols() const { return a_.size(); }
  double r(size_t i, size_t j) const { return a_[j][i]; }  // i <= j
  double z(size_t i) const { return z_[i]; }
  // Residual sum of squares of the model on the first j columns.
  double ssr(size_t j) const { return tail_[std::min(j, z_.size())]; }
  // Column j is numerically independent of the columns before it.
  bool independent(size_t j) const {
    return j < z_.size() && norms_[j] > 0 && std::abs(r(j, j)) > 1e-12 * norms_[j];
  }

 private:
  static double norm(const std::vector<double>& v, size_t from) {
    double scale = 0;
    for (size_t i = from; i < v.size(); ++i) scale = std::max(scale, std::abs(v[i]));
    if (scale == 0 || !std::isfinite(scale)) return scale;
    double s = 0;
    for (size_t i = from; i < v.size(); ++i) s += (v[i] / scale) * (v[i] / scale);
    return scale * std::sqrt(s);
  }

  std::vector<std::vector<double>> a_;  // by column; R on and above the diagonal once factorised
  std::vector<double> z_;               // Q'y
  std::vector<double> norms_;           // of the original columns
  std::vector<double> tail_;            // tail_[j] = sum of z[i]^2 for i >= j
};

}  // namespace qflow::nodes::stats
