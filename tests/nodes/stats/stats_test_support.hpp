// Shared by the stats tests: a started node of the qflow-stats plugin, BTC and ETH minute bars
// as the two legs of a pair, and the plain long-double references the nodes are checked against.
#pragma once

#include "../indicators/indicator_test_support.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace stats_test {

using namespace indicator_test;
using qflow::testing::NodeHarness;
using Params = std::map<std::string, std::string>;

inline std::unique_ptr<NodeHarness> node(const std::string& type, const Params& params) {
  auto h = std::make_unique<NodeHarness>(qflow::testing::plugin_path("qflow_stats"), type, params,
                                         std::vector<qflow::testing::HarnessSlot>{{"in", "series"}});
  h->start();
  return h;
}

inline qf_event value(uint32_t symbol, int64_t t, double v) { return qflow::make_value(symbol, v, t); }

// y and x of the same instants, as one stream: each instant's y then x (or x then y when
// `x_first` says so for that instant).
inline std::vector<qf_event> interleave(const std::vector<qf_event>& y, const std::vector<qf_event>& x,
                                        bool (*x_first)(size_t) = nullptr) {
  std::vector<qf_event> out;
  for (size_t i = 0; i < y.size(); ++i) {
    const bool xf = x_first && x_first(i);
    out.push_back(xf ? x[i] : y[i]);
    out.push_back(xf ? y[i] : x[i]);
  }
  return out;
}

// The outputs emitted for each event (nullopt when none), one cycle per event.
inline Rows pair_rows(NodeHarness& h, const std::vector<qf_event>& events, size_t outputs) { return run(h, events, outputs); }

// The rows of the events that emitted, in order.
inline std::vector<std::vector<double>> emitted(const Rows& rows) {
  std::vector<std::vector<double>> out;
  for (const auto& r : rows)
    if (r) out.push_back(*r);
  return out;
}

// Every output value of a node over `events`, flattened in emission order (for equality checks).
inline std::vector<double> flat(const std::vector<qflow::testing::Output>& out) {
  std::vector<double> v;
  for (const auto& o : out) v.push_back(o.ev.u.value.value);
  return v;
}

// Runs `events` through `make()`, cut at `cut`: the first part in one node, its state restored
// into a fresh node which takes the rest. Returns every value emitted.
template <class Make>
std::vector<double> run_with_restore(Make make, const std::vector<qf_event>& events, size_t cut) {
  auto first = make(), second = make();
  std::vector<double> got;
  for (size_t i = 0; i < cut; ++i)
    for (double v : flat(first->push(0, events[i]))) got.push_back(v);
  second->restore_state(first->save_state());
  for (size_t i = cut; i < events.size(); ++i)
    for (double v : flat(second->push(0, events[i]))) got.push_back(v);
  return got;
}
template <class Make>
std::vector<double> run_all(Make make, const std::vector<qf_event>& events) {
  auto h = make();
  std::vector<double> got;
  for (const auto& e : events)
    for (double v : flat(h->push(0, e))) got.push_back(v);
  return got;
}

// Two-pass sums of centred products of a window, in long double.
struct Moments {
  long double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
};
inline Moments two_pass(const std::vector<double>& x, const std::vector<double>& y, size_t end, size_t n) {
  Moments m;
  for (size_t i = end - n; i < end; ++i) m.mx += x[i], m.my += y[i];
  m.mx /= static_cast<long double>(n);
  m.my /= static_cast<long double>(n);
  for (size_t i = end - n; i < end; ++i) {
    const long double dx = x[i] - m.mx, dy = y[i] - m.my;
    m.sxx += dx * dx, m.syy += dy * dy, m.sxy += dx * dy;
  }
  return m;
}

// Seeded Gaussian noise.
inline std::vector<double> noise(size_t n, uint64_t seed, double sd = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, sd);
  std::vector<double> out(n);
  for (double& v : out) v = d(rng);
  return out;
}

// a_t = phi a_{t-1} + e_t from a_0 = e_0.
inline std::vector<double> ar1(const std::vector<double>& e, double phi) {
  std::vector<double> out(e.size());
  for (size_t i = 0; i < e.size(); ++i) out[i] = (i ? phi * out[i - 1] : 0.0) + e[i];
  return out;
}

// Value events of one symbol, stamped 1, 2, 3...
inline std::vector<qf_event> values(uint32_t symbol, const std::vector<double>& v) {
  std::vector<qf_event> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(value(symbol, static_cast<int64_t>(i + 1), v[i]));
  return out;
}

// ---- An independent ADF, the textbook way: the design written row by row as in the
// statsmodels documentation, OLS by the normal equations X'X b = X'y in long double, solved by
// Gauss-Jordan elimination with partial pivoting; se from the inverse of X'X.
struct RefFit {
  std::vector<long double> b;
  long double ssr = 0;
  std::vector<long double> inv_diag;
};

inline RefFit normal_equations(const std::vector<std::vector<long double>>& X, const std::vector<long double>& y) {
  const size_t k = X.at(0).size();
  // [X'X | X'y | I]
  std::vector<std::vector<long double>> a(k, std::vector<long double>(2 * k + 1, 0.0L));
  for (size_t r = 0; r < X.size(); ++r)
    for (size_t i = 0; i < k; ++i) {
      for (size_t j = 0; j < k; ++j) a[i][j] += X[r][i] * X[r][j];
      a[i][k] += X[r][i] * y[r];
    }
  for (size_t i = 0; i < k; ++i) a[i][k + 1 + i] = 1;
  for (size_t c = 0; c < k; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    std::swap(a[c], a[piv]);
    const long double d = a[c][c];
    for (long double& v : a[c]) v /= d;
    for (size_t r = 0; r < k; ++r)
      if (r != c) {
        const long double f = a[r][c];
        for (size_t j = 0; j < a[r].size(); ++j) a[r][j] -= f * a[c][j];
      }
  }
  RefFit fit;
  for (size_t i = 0; i < k; ++i) fit.b.push_back(a[i][k]), fit.inv_diag.push_back(a[i][k + 1 + i]);
  for (size_t r = 0; r < X.size(); ++r) {
    long double e = y[r];
    for (size_t j = 0; j < k; ++j) e -= X[r][j] * fit.b[j];
    fit.ssr += e * e;
  }
  return fit;
}

struct RefAdf {
  double stat;
  int lag;
  size_t nobs;
};

// adfuller(x, maxlag, regression='c' or 'n', autolag='AIC' or None), written independently.
inline RefAdf reference_adf(const std::vector<double>& x, bool constant, int maxlag, bool autolag) {
  const size_t n = x.size();
  // Regression of dx[t] on [1], x[t], dx[t-1..t-p] for t = start..n-2, dx[t] = x[t+1] - x[t].
  auto design = [&](size_t start, int p, std::vector<std::vector<long double>>& X, std::vector<long double>& y) {
    X.clear(), y.clear();
    for (size_t t = start; t + 1 < n; ++t) {
      std::vector<long double> row;
      if (constant) row.push_back(1);
      row.push_back(x[t]);
      for (int j = 1; j <= p; ++j) row.push_back(static_cast<long double>(x[t + 1 - j]) - x[t - j]);
      X.push_back(row);
      y.push_back(static_cast<long double>(x[t + 1]) - x[t]);
    }
  };
  std::vector<std::vector<long double>> X;
  std::vector<long double> y;
  int lag = maxlag;
  if (autolag) {
    long double best = 0;
    for (int p = 0; p <= maxlag; ++p) {
      design(static_cast<size_t>(maxlag), p, X, y);  // the common sample of maxlag
      const RefFit f = normal_equations(X, y);
      const long double m = X.size(), k = X[0].size();
      const long double llf = -m / 2 * (std::log(2 * 3.14159265358979323846264338327950288L) + std::log(f.ssr / m) + 1);
      const long double aic = -2 * llf + 2 * k;
      if (p == 0 || aic < best) best = aic, lag = p;
    }
  }
  design(static_cast<size_t>(lag), lag, X, y);
  const RefFit f = normal_equations(X, y);
  const size_t g = constant ? 1 : 0;  // the level's column
  const long double sigma2 = f.ssr / static_cast<long double>(X.size() - X[0].size());
  return RefAdf{static_cast<double>(f.b[g] / std::sqrt(sigma2 * f.inv_diag[g])), lag, X.size()};
}

}  // namespace stats_test
