// Exact moments of a sliding window: the mean and the sum of squared deviations of the last n
// values (WindowSums), and of the last n pairs also the co-moment (PairWindowSums), in O(1)
// amortised per update, within 1e-12 (relative) of an exact two-pass computation at any price
// level. Shared by the indicator plugin (stddev, bbands, zscore, volatility, vol_regime) and
// the stats plugin (correlation, ols, spread, half_life).
//
// Why not a running sum of x^2: at BTC levels (70,000, moves of cents) sum(x^2)/n and mean^2
// agree in their first 12 digits. Why not Welford's add/remove updates: their rounding is
// relative to the largest variance the window held recently, so when a spike leaves, the calm
// window's variance keeps an error of the spike's size.
//
// How. Values are taken relative to an anchor K, a value of the window when it was chosen:
// d = x - K (exact by Sterbenz's lemma for x within a factor 2 of K, as nearby prices are;
// otherwise rounded, but to the same d each time x enters or leaves, which only perturbs the
// data by u|d|, u = 2^-53). Plain double sums S1 = sum d and S2 = sum d^2 are updated as values
// enter and leave (S2 by (d_in - d_out)(d_in + d_out)), and over the c values
// M2 = sum (x - mean)^2 = S2 - S1 (S1 (1/c)). Alongside, a rigorous bound on the rounding the
// sums have accumulated: each operation since the last recount adds u times the magnitude of
// its result (u|S1| + u|t1| for t1 = d_in - d_out; u|S2| + 4u|t2| for t2 = t1 (d_in + d_out),
// three roundings), so |S1 - exact| <= u B1 and |S2 - exact| <= u B2. Then
//   |M2 - exact| <= E = u (B2 + 8 S2) + (2|S1| + u B1) u B1 / c
// (8 S2 covers forming M2, four roundings of at most S1^2/c <= S2, and the rounding of the d's,
// at most 2u sqrt(M2 S2)), and the mean K + S1/c is off by at most u B1/c plus its rounding.
// After every update one test, c E + (u B1)^2 / 1e-12 <= 1e-12 c M2, asks both E <= 1e-12 M2
// and the mean within 1e-12 standard deviations ((u B1)^2 <= 1e-24 c M2); when it fails the
// window is recounted exactly. So every M2 reported is within 1e-12 of the exact one (the
// mean within 1e-12 standard deviations), and a window of equal values has M2 exactly 0: an
// inexact 0 fails the test, and the recount anchors on that value and sums zeros.
//
// The recount. Up to 32 values: K = the newest value, then plain sums (|error| <=
// gamma_{c-1} sum|terms|); with K a value of the window, S2 <= c M2, so after it
// E <= u (c + 9) c M2 + 2u c^2 M2 <= 5e-13 M2 for c <= 32. Longer windows: the mean from a plain
// pass, K = the value nearest to it, then Ogita-Rump-Oishi cascaded sums (error-free TwoSum;
// |error| <= u|S| + gamma_{c-1}^2 sum|terms|). Some value lies within one standard deviation
// of the mean (else M2 would exceed itself), so S2 = M2 + c (mean - K)^2 <= 2 M2 and after it
// E <= ~30u M2. Either way the test passes right after a recount: an update never recounts
// twice.
//
// Cost. An update is ~20 flops and one predictable branch. What triggers a recount:
//  - accumulated rounding: B2 grows by about S2 >= M2 per update, so every ~1e-12/u = 9,000
//    updates at the latest;
//  - drift: S2 = M2 + c (mean - K)^2, so as the mean wanders from K (a trend, a random walk)
//    both B2's growth and the 8 S2 term grow, and the test fails within a few tens to
//    thousands of updates (below);
//  - a spike leaving: u d^2 > 1e-12 M2, a value ~100 standard deviations from the others.
// Measured on 50,000 BTC minute closes: a recount every 32 updates at n = 5, 117 at 20, 575 at
// 200, 3,800 at 5,000 (log returns: 141, 1,000, 3,600, 10,000), so the amortised work is
// under one window value per update (at most 3 n / 9,000 + O(1)). Recounting every n updates
// as well, as the double-double sums this replaced did, would add work and no accuracy: the
// bound already asks for a recount whenever one is due. Worst case O(n) per update, and only
// on input built for it: every update must remove a value that dwarfs the rest of the window
// (a series falling by a factor ~100 per step; tested), or an input whose square overflows
// (then M2 is inf or NaN while it is in the window, and exact once it has left).
//
// Non-finite inputs (NaN, inf) are kept out of the sums and counted: while one is in the window
// finite() is false and the moments are NaN.
#pragma once

#include <qflow/state.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace qflow::nodes {

namespace window_sums_detail {

inline constexpr double kU = 0x1p-53;       // unit roundoff of double
inline constexpr double kTolerance = 1e-12;  // the relative error that forces a recount
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr size_t kPlainRecountUpTo = 32;  // windows recounted by plain sums about their newest value

// Recursive summation: |value() - exact| <= gamma_{n-1} sum|x| (Higham, Accuracy and Stability
// of Numerical Algorithms, 4.2). Enough for a recount of a short window.
class PlainSum {
 public:
  void add(double x) {
    s_ += x;
    abs_ += std::abs(x);
    ++n_;
  }
  double value() const { return s_; }
  double bound() const { return static_cast<double>(n_) * abs_; }  // in units of u, >= gamma_{n-1}/u sum|x|
  double abs_sum() const { return abs_; }

 private:
  double s_ = 0, abs_ = 0;
  uint64_t n_ = 0;
};

// Ogita, Rump and Oishi's Sum2 (SIAM J. Sci. Comput. 26(6), 2005): TwoSum keeps each addition's
// exact error, the errors are summed apart. |value() - exact| <= u|exact| + gamma_{n-1}^2 sum|x|.
class CascadedSum {
 public:
  void add(double x) {
    const double t = s_ + x, z = t - s_;
    e_ += (s_ - (t - z)) + (x - z);
    s_ = t;
    abs_ += std::abs(x);
    ++n_;
  }
  double value() const { return s_ + e_; }
  // The bound above in units of u (a little over: the computed |value| stands for |exact|).
  double bound() const {
    const double nu = static_cast<double>(n_) * kU, gamma = nu / (1 - nu);
    return 2 * std::abs(value()) + gamma * gamma / kU * abs_;
  }
  double abs_sum() const { return abs_; }

 private:
  double s_ = 0, e_ = 0, abs_ = 0;
  uint64_t n_ = 0;
};

// One series' sums about its anchor, with their rounding bounds (in units of u).
struct Moments {
  double k = 0;          // the anchor K
  double s1 = 0, s2 = 0;  // sum d and sum d^2, d = x - K
  double b1 = 0, b2 = 0;  // |s1 - exact| <= u b1, |s2 - exact| <= u b2

  // x_in enters as x_out leaves.
  void replace(double x_in, double x_out) {
    const double din = x_in - k, dout = x_out - k;
    const double t1 = din - dout;
    s1 += t1;
    b1 += std::abs(s1) + std::abs(t1);
    const double t2 = t1 * (din + dout);
    s2 += t2;
    b2 += std::abs(s2) + 4 * std::abs(t2);
  }
  void add(double x, double sign) {
    const double d = x - k, t = d * d;
    s1 += sign * d;
    s2 += sign * t;
    b1 += std::abs(s1);
    b2 += std::abs(s2) + t;
  }
  // Sum of squared deviations over c values, inv_c = 1/c rounded (two more roundings of
  // S1^2/c <= S2: within the 8 S2 of the bound).
  double m2(double inv_c) const { return s2 - s1 * (s1 * inv_c); }
  // |m2 - exact| <= 1e-12 m2 and the mean within 1e-12 standard deviations (see the top), in
  // one test: c E + (u B1)^2 / 1e-12 <= 1e-12 c m2 implies both.
  bool accurate(double c, double m2) const {
    const double e1 = kU * b1;
    const double e = kU * (b2 + 8 * s2) * c + (2 * std::abs(s1) + e1 * (1 + 1 / kTolerance)) * e1;
    return e <= kTolerance * c * m2;
  }
  double mean(double inv_c) const { return k + s1 * inv_c; }

  // The first two passes of a long recount: K = the value nearest the mean of the values
  // for_each visits (in age order).
  template <class ForEach>
  void choose_anchor(ForEach for_each, double newest, double c) {
    double offsets = 0;
    for_each([&](double x) { offsets += x - newest; });
    const double mean = newest + offsets / c;
    double best = std::numeric_limits<double>::infinity();
    for_each([&](double x) {
      const double gap = std::abs(x - mean);
      if (gap < best) best = gap, k = x;
    });
  }
  template <class Sum>
  void set(const Sum& sum1, const Sum& sum2) {
    s1 = sum1.value();
    s2 = sum2.value();
    b1 = sum1.bound();
    b2 = sum2.bound() + sum2.abs_sum();  // + the rounding of each d * d
  }

  void save(StateWriter& w) const {
    for (double v : {k, s1, s2, b1, b2}) w.put<double>(v);
  }
  void restore(StateReader& r) {
    for (double* v : {&k, &s1, &s2, &b1, &b2}) *v = r.get<double>();
  }
};

// The slots of a ring of `capacity` holding `size` values, oldest first: [head, size) then
// [0, head), head being the oldest slot when full.
template <class F>
void for_each_slot(size_t capacity, size_t size, size_t next, F f) {
  const size_t head = size == capacity ? next : 0;
  for (size_t i = head; i < size; ++i) f(i);
  for (size_t i = 0; i < head; ++i) f(i);
}

}  // namespace window_sums_detail

// The mean and sum of squared deviations of the last `capacity` numbers.
class WindowSums {
 public:
  explicit WindowSums(size_t capacity) : values_(capacity) {
    if (capacity == 0) throw std::invalid_argument("a window needs at least one value");
  }

  size_t capacity() const { return values_.size(); }
  size_t size() const { return size_; }
  bool full() const { return size_ == values_.size(); }
  // No NaN or infinite value in the window (else the moments are NaN).
  bool finite() const { return bad_ == 0; }
  double newest() const { return values_[(next_ == 0 ? values_.size() : next_) - 1]; }

  void push(double x) {
    const size_t slot = next_;
    next_ = next_ + 1 == values_.size() ? 0 : next_ + 1;
    if (size_ == values_.size() && bad_ == 0 && std::isfinite(x)) [[likely]] {
      m_.replace(x, values_[slot]);
      values_[slot] = x;
    } else {
      push_slow(slot, x);
    }
    settle();
  }

  double mean() const { return bad_ == 0 ? m_.mean(inv_count_) : window_sums_detail::kNaN; }
  // sum (x - mean)^2 over the window, >= 0.
  double m2() const { return m2_; }
  // The population variance, m2 / size.
  double variance() const { return m2_ * inv_count_; }
  double stddev() const { return std::sqrt(variance()); }
  // x - mean, without carrying the rounding of x's magnitude (x near the window's values).
  double deviation(double x) const {
    return bad_ == 0 ? (x - m_.k) - m_.s1 * inv_count_ : window_sums_detail::kNaN;
  }
  // How many times the sums were recounted from the window (for tests and measurements).
  uint64_t recounts() const { return recounts_; }

  void save(StateWriter& w) const {
    w.put<uint64_t>(size_);
    window_sums_detail::for_each_slot(values_.size(), size_, next_, [&](size_t i) { w.put<double>(values_[i]); });
    m_.save(w);
  }
  void restore(StateReader& r) {
    const uint64_t n = r.get<uint64_t>();
    if (n > values_.size()) throw std::runtime_error("window state larger than the window");
    size_ = static_cast<size_t>(n);
    next_ = size_ == values_.size() ? 0 : size_;
    bad_ = 0;
    for (size_t i = 0; i < size_; ++i) {
      values_[i] = r.get<double>();
      bad_ += !std::isfinite(values_[i]);
    }
    m_.restore(r);
    set_inverse_count();
    settle();
  }

 private:
  double count() const { return static_cast<double>(size_ - bad_); }
  void set_inverse_count() { inv_count_ = size_ > bad_ ? 1.0 / count() : 0.0; }

  void push_slow(size_t slot, double x) {
    if (size_ == values_.size()) {
      const double out = values_[slot];
      if (std::isfinite(out))
        m_.add(out, -1);
      else
        --bad_;
    } else {
      ++size_;
    }
    values_[slot] = x;
    if (!std::isfinite(x))
      ++bad_;
    else if (size_ - bad_ == 1)
      m_ = window_sums_detail::Moments{x};  // the only finite value: it anchors, sums exact zeros
    else
      m_.add(x, +1);
    set_inverse_count();
  }

  void settle() {
    if (bad_ > 0 || size_ == 0) {
      m2_ = bad_ > 0 ? window_sums_detail::kNaN : 0.0;
      return;
    }
    const double c = count();
    double m2 = m_.m2(inv_count_);
    if (!m_.accurate(c, m2)) [[unlikely]] {
      recount();
      m2 = m_.m2(inv_count_);
    }
    m2_ = std::max(m2, 0.0);
  }

  // A short window anchors on its newest value and sums plainly (one pass); a long one on its
  // value nearest the mean, with cascaded sums (three passes). Either passes the test after.
  [[gnu::noinline]] void recount() {
    using namespace window_sums_detail;
    ++recounts_;
    auto for_each = [this](auto f) { for_each_slot(values_.size(), size_, next_, [&](size_t i) { f(values_[i]); }); };
    if (size_ <= kPlainRecountUpTo) {
      m_.k = newest();
      sum_about_anchor<PlainSum>(for_each);
    } else {
      m_.choose_anchor(for_each, newest(), count());
      sum_about_anchor<CascadedSum>(for_each);
    }
  }
  template <class Sum, class ForEach>
  void sum_about_anchor(ForEach for_each) {
    Sum sum1, sum2;
    for_each([&](double x) {
      const double d = x - m_.k;
      sum1.add(d);
      sum2.add(d * d);
    });
    m_.set(sum1, sum2);
  }

  std::vector<double> values_;  // a ring: the window, the next value goes to slot next_
  size_t next_ = 0, size_ = 0;
  size_t bad_ = 0;              // non-finite values in the window
  window_sums_detail::Moments m_;  // over the finite values
  double inv_count_ = 0;        // 1 / the number of finite values (0 when none)
  double m2_ = 0;               // of the last update
  uint64_t recounts_ = 0;
};

// The means, sums of squared deviations and co-moment of the last `capacity` pairs (x, y):
//   sxx = sum (x - mean x)^2, syy likewise, sxy = sum (x - mean x)(y - mean y).
// Each leg as WindowSums; the cross sum Sxy = sum dx dy is updated by
// fma(dx_in, dy_in, -(dx_out dy_out)) and bounded like the others (u|Sxy| + u|t| + u|dx_out dy_out|
// per update); besides both legs' tests, the recount test asks the co-moment's error to stay
// within 1e-12 sqrt(sxx syy), the scale a correlation or a slope reads it on.
class PairWindowSums {
 public:
  explicit PairWindowSums(size_t capacity) : xs_(capacity), ys_(capacity) {
    if (capacity == 0) throw std::invalid_argument("a window needs at least one pair");
  }

  size_t capacity() const { return xs_.size(); }
  size_t size() const { return size_; }
  bool full() const { return size_ == xs_.size(); }
  bool finite() const { return bad_ == 0; }

  void push(double x, double y) {
    const size_t slot = next_;
    next_ = next_ + 1 == xs_.size() ? 0 : next_ + 1;
    if (size_ == xs_.size() && bad_ == 0 && std::isfinite(x) && std::isfinite(y)) [[likely]] {
      const double xo = xs_[slot], yo = ys_[slot];
      const double out = (xo - mx_.k) * (yo - my_.k);
      const double t = std::fma(x - mx_.k, y - my_.k, -out);
      sxy_ += t;
      bxy_ += std::abs(sxy_) + std::abs(t) + std::abs(out);
      mx_.replace(x, xo);
      my_.replace(y, yo);
      xs_[slot] = x;
      ys_[slot] = y;
    } else {
      push_slow(slot, x, y);
    }
    settle();
  }

  double mean_x() const { return bad_ == 0 ? mx_.mean(inv_count_) : window_sums_detail::kNaN; }
  double mean_y() const { return bad_ == 0 ? my_.mean(inv_count_) : window_sums_detail::kNaN; }
  double sxx() const { return sxx_; }
  double syy() const { return syy_; }
  double sxy() const { return sxy_c_; }
  uint64_t recounts() const { return recounts_; }

  void save(StateWriter& w) const {
    w.put<uint64_t>(size_);
    window_sums_detail::for_each_slot(xs_.size(), size_, next_, [&](size_t i) {
      w.put<double>(xs_[i]);
      w.put<double>(ys_[i]);
    });
    mx_.save(w);
    my_.save(w);
    w.put<double>(sxy_);
    w.put<double>(bxy_);
  }
  void restore(StateReader& r) {
    const uint64_t n = r.get<uint64_t>();
    if (n > xs_.size()) throw std::runtime_error("window state larger than the window");
    size_ = static_cast<size_t>(n);
    next_ = size_ == xs_.size() ? 0 : size_;
    bad_ = 0;
    for (size_t i = 0; i < size_; ++i) {
      xs_[i] = r.get<double>();
      ys_[i] = r.get<double>();
      bad_ += !(std::isfinite(xs_[i]) && std::isfinite(ys_[i]));
    }
    mx_.restore(r);
    my_.restore(r);
    sxy_ = r.get<double>();
    bxy_ = r.get<double>();
    set_inverse_count();
    settle();
  }

 private:
  static bool good(double x, double y) { return std::isfinite(x) && std::isfinite(y); }
  double count() const { return static_cast<double>(size_ - bad_); }
  void set_inverse_count() { inv_count_ = size_ > bad_ ? 1.0 / count() : 0.0; }

  void push_slow(size_t slot, double x, double y) {
    if (size_ == xs_.size()) {
      const double xo = xs_[slot], yo = ys_[slot];
      if (good(xo, yo))
        add(xo, yo, -1);
      else
        --bad_;
    } else {
      ++size_;
    }
    xs_[slot] = x;
    ys_[slot] = y;
    if (!good(x, y)) {
      ++bad_;
    } else if (size_ - bad_ == 1) {
      mx_ = window_sums_detail::Moments{x};
      my_ = window_sums_detail::Moments{y};
      sxy_ = bxy_ = 0;
    } else {
      add(x, y, +1);
    }
    set_inverse_count();
  }
  void add(double x, double y, double sign) {
    const double t = (x - mx_.k) * (y - my_.k);
    sxy_ += sign * t;
    bxy_ += std::abs(sxy_) + std::abs(t);
    mx_.add(x, sign);
    my_.add(y, sign);
  }

  void settle() {
    using window_sums_detail::kNaN;
    if (bad_ > 0 || size_ == 0) {
      sxx_ = syy_ = sxy_c_ = bad_ > 0 ? kNaN : 0.0;
      return;
    }
    const double c = count();
    if (!compute(c)) [[unlikely]] {
      recount();
      compute(c);
    }
    sxx_ = std::max(sxx_, 0.0);
    syy_ = std::max(syy_, 0.0);
  }
  // The centred sums from the anchored ones; false when they need a recount.
  bool compute(double c) {
    using namespace window_sums_detail;
    sxx_ = mx_.m2(inv_count_);
    syy_ = my_.m2(inv_count_);
    sxy_c_ = sxy_ - mx_.s1 * (my_.s1 * inv_count_);
    // c times the co-moment's error bound: u Bxy c + |S1x| u B1y + |S1y| u B1x + u^2 B1x B1y.
    const double ex = kU * mx_.b1, ey = kU * my_.b1;
    const double e = kU * bxy_ * c + std::abs(mx_.s1) * ey + std::abs(my_.s1) * ex + ex * ey;
    return mx_.accurate(c, sxx_) && my_.accurate(c, syy_) && e * e <= kTolerance * kTolerance * c * c * sxx_ * syy_;
  }

  // As WindowSums::recount, both legs and the cross sum in the summing pass.
  [[gnu::noinline]] void recount() {
    using namespace window_sums_detail;
    ++recounts_;
    const size_t newest = (next_ == 0 ? xs_.size() : next_) - 1;
    if (size_ <= kPlainRecountUpTo) {
      mx_.k = xs_[newest];
      my_.k = ys_[newest];
      sum_about_anchors<PlainSum>();
      return;
    }
    auto each = [this](const std::vector<double>& v) {
      return [this, &v](auto f) { for_each_slot(xs_.size(), size_, next_, [&](size_t i) { f(v[i]); }); };
    };
    mx_.choose_anchor(each(xs_), xs_[newest], count());
    my_.choose_anchor(each(ys_), ys_[newest], count());
    sum_about_anchors<CascadedSum>();
  }
  template <class Sum>
  void sum_about_anchors() {
    using namespace window_sums_detail;
    Sum x1, x2, y1, y2, xy;
    for_each_slot(xs_.size(), size_, next_, [&](size_t i) {
      const double dx = xs_[i] - mx_.k, dy = ys_[i] - my_.k;
      x1.add(dx);
      x2.add(dx * dx);
      y1.add(dy);
      y2.add(dy * dy);
      xy.add(dx * dy);
    });
    mx_.set(x1, x2);
    my_.set(y1, y2);
    sxy_ = xy.value();
    bxy_ = xy.bound() + xy.abs_sum();
  }

  std::vector<double> xs_, ys_;  // rings: the window's pairs, the next one goes to slot next_
  size_t next_ = 0, size_ = 0;
  size_t bad_ = 0;               // pairs with a non-finite member in the window
  window_sums_detail::Moments mx_, my_;
  double sxy_ = 0, bxy_ = 0;     // sum dx dy over the finite pairs, and its rounding bound (units of u)
  double inv_count_ = 0;         // 1 / the number of finite pairs (0 when none)
  double sxx_ = 0, syy_ = 0, sxy_c_ = 0;  // the centred sums of the last update
  uint64_t recounts_ = 0;
};

}  // namespace qflow::nodes
