// The mean and population variance of the last n numbers, exact to a few ulps at any price
// level, in O(1) per update (amortised). Shared by indicator.stddev and indicator.bbands.
//
// Why not a running sum of squares: at BTC levels (x ~ 70,000, moves of cents) sum(x^2)/n and
// mean^2 agree in their first 12 digits, and their difference, the variance, keeps only the
// rest. Why not sliding Welford either: its updates multiply differences by (x - mean), whose
// rounding (ulp(70,000) ~ 1.5e-11) is already 1e-9 of a 0.01 standard deviation.
//
// How: every number is taken relative to an anchor K, a recent input (d = x - K is exact by
// Sterbenz's lemma while x is within a factor 2 of K), and sum(d) and sum(d^2) are carried as
// double-double sums (Knuth's TwoSum, and an FMA for the exact square), so adding and removing
// values loses ~2^-106 of the sums' size instead of 2^-53. The variance
// (sum(d^2) - sum(d)^2/n) / n is formed in double-double too, so even a window whose mean sits
// far from K keeps full precision. Every n updates the anchor moves to the newest input and the
// sums are recomputed from the window: O(n) work every n updates, which also stops any drift.
//
// Non-finite inputs (NaN, inf) are kept out of the sums and counted; while one is in the window
// the window has no finite moments and callers report NaN.
#pragma once

#include "indicators.hpp"

#include <cmath>
#include <cstdint>

namespace qflow::nodes {

class RollingVariance {
 public:
  explicit RollingVariance(size_t n) : window_(n) {}

  size_t period() const { return window_.capacity(); }
  bool full() const { return window_.full(); }
  bool finite() const { return nonfinite_ == 0; }

  void push(double x) {
    if (window_.full()) remove(window_.front());
    window_.push(x);
    if (!std::isfinite(x)) {
      ++nonfinite_;
    } else {
      if (!anchored_) {
        anchor_ = x;
        anchored_ = true;
      }
      add(x);
    }
    if (++since_rebuild_ >= window_.capacity()) rebuild();
  }

  // The mean of the window (when full() and finite()).
  double mean() const {
    const double n = static_cast<double>(window_.capacity());
    return anchor_ + (s1_.hi / n + s1_.lo / n);
  }
  // The population variance, sum((x - mean)^2) / n, never negative.
  double variance() const {
    const double n = static_cast<double>(window_.capacity());
    // s1^2 / n in double-double: s1^2 = h^2 + 2hl (+ l^2, below the precision carried).
    const double h = s1_.hi, l = s1_.lo;
    const double ph = h * h;
    const double pl = std::fma(h, h, -ph) + 2 * h * l;
    const double qh = ph / n;
    const double ql = (std::fma(-qh, n, ph) + pl) / n;
    DoubleDouble m2 = s2_;  // sum(d^2) - sum(d)^2/n = n * variance
    m2.add(-qh);
    m2.add(-ql);
    const double v = m2.value() / n;
    return v > 0 ? v : 0;
  }

  void save(StateWriter& w) const {
    window_.save(w);
    w.put<double>(anchor_);
    w.put<uint8_t>(anchored_ ? 1 : 0);
    for (double v : {s1_.hi, s1_.lo, s2_.hi, s2_.lo}) w.put<double>(v);
    w.put<uint64_t>(nonfinite_);
    w.put<uint64_t>(since_rebuild_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    anchor_ = r.get<double>();
    anchored_ = r.get<uint8_t>() != 0;
    for (double* v : {&s1_.hi, &s1_.lo, &s2_.hi, &s2_.lo}) *v = r.get<double>();
    nonfinite_ = r.get<uint64_t>();
    since_rebuild_ = r.get<uint64_t>();
    if (nonfinite_ > window_.size()) throw std::runtime_error("variance state counts more bad inputs than its window holds");
  }

 private:
  // An unevaluated sum hi + lo with |lo| <= ulp(hi)/2.
  struct DoubleDouble {
    double hi = 0, lo = 0;

    void add(double x) {
      const double s = hi + x;  // TwoSum: s + e == hi + x exactly
      const double b = s - hi;
      const double e = (hi - (s - b)) + (x - b);
      const double l = lo + e;
      hi = s + l;  // renormalise (|s| >= |l|)
      lo = l - (hi - s);
    }
    // Adds a * b exactly (the FMA recovers the product's rounding error).
    void add_product(double a, double b) {
      const double p = a * b;
      add(p);
      add(std::fma(a, b, -p));
    }
    double value() const { return hi + lo; }
  };

  void add(double x) {
    const double d = x - anchor_;
    s1_.add(d);
    s2_.add_product(d, d);
  }
  void remove(double x) {
    if (!std::isfinite(x)) {
      --nonfinite_;
      return;
    }
    const double d = x - anchor_;
    s1_.add(-d);
    s2_.add_product(d, -d);
  }
  // Moves the anchor to the newest finite input and recomputes the sums from the window.
  void rebuild() {
    since_rebuild_ = 0;
    s1_ = {};
    s2_ = {};
    nonfinite_ = 0;
    for (size_t i = window_.size(); i-- > 0;)
      if (std::isfinite(window_[i])) {
        anchor_ = window_[i];
        break;
      }
    for (size_t i = 0; i < window_.size(); ++i) {
      if (std::isfinite(window_[i]))
        add(window_[i]);
      else
        ++nonfinite_;
    }
  }

  RingWindow window_;
  double anchor_ = 0;        // K: the sums are of x - K
  bool anchored_ = false;    // K has been set from a finite input
  DoubleDouble s1_, s2_;     // sum(x - K) and sum((x - K)^2) over the window's finite inputs
  uint64_t nonfinite_ = 0;   // NaN or infinite inputs in the window
  uint64_t since_rebuild_ = 0;
};

}  // namespace qflow::nodes
