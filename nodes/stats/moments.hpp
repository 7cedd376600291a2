// Rolling means, variances and covariance of a fixed-size window, O(1) per observation.
//
// Why not Welford's add/remove updates: their rounding error is relative to the LARGEST
// variance the window has recently held, not the current one. On BTC minutes a $200 bar
// followed by a calm half hour of cent moves leaves Sxx ~ 1e-4 carrying an absolute error of
// ~1e-12: 1e-8 relative, worse than the 1e-9 we promise. Instead the window keeps plain sums
// of the deviations from an anchor a (x' = x - a: exact when x is within a factor 2 of a, as
// prices are) in double-double arithmetic (error-free TwoSum and FMA TwoProduct, ~32 digits):
//   Sx' = sum x', Sx'x' = sum x'^2, Sx'y' = sum x'y' (added on entry, subtracted on exit)
//   Sxx = (n Sx'x' - Sx'^2) / n,  Sxy = (n Sx'y' - Sx' Sy') / n,  mean = a + Sx'/n
// The cancellation in these differences costs at most ~16 of the 32 digits for any price
// level and move size seen in practice, so each window's moments are exact to double
// precision whatever came before. Every `capacity` pushes the anchor moves to the newest value
// and the sums are recomputed from the window (O(capacity) every capacity pushes: amortised
// O(1)), keeping x' small and the sums' accumulated error bounded. A window whose values are
// all equal reports a variance of exactly 0 and a mean equal to that value (tracked by the
// length of the run of equal values).
#pragma once

#include <qflow/state.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>

namespace qflow::nodes::stats {

// hi + lo, |lo| <= ulp(hi)/2: about 32 significant digits.
struct DoubleDouble {
  double hi = 0, lo = 0;

  static DoubleDouble two_sum(double a, double b) {
    const double s = a + b, bb = s - a;
    return {s, (a - (s - bb)) + (b - bb)};
  }
  static DoubleDouble fast_two_sum(double a, double b) {  // |a| >= |b|
    const double s = a + b;
    return {s, b - (s - a)};
  }
  static DoubleDouble product(double a, double b) {
    const double p = a * b;
    return {p, std::fma(a, b, -p)};
  }
  friend DoubleDouble operator+(DoubleDouble a, DoubleDouble b) {
    DoubleDouble s = two_sum(a.hi, b.hi);
    const DoubleDouble t = two_sum(a.lo, b.lo);
    s.lo += t.hi;
    s = fast_two_sum(s.hi, s.lo);
    s.lo += t.lo;
    return fast_two_sum(s.hi, s.lo);
  }
  friend DoubleDouble operator-(DoubleDouble a, DoubleDouble b) { return a + DoubleDouble{-b.hi, -b.lo}; }
  friend DoubleDouble operator*(DoubleDouble a, DoubleDouble b) {
    DoubleDouble p = product(a.hi, b.hi);
    p.lo += a.hi * b.lo + a.lo * b.hi;
    return fast_two_sum(p.hi, p.lo);
  }
  double value() const { return hi + lo; }

  void save(StateWriter& w) const {
    w.put<double>(hi);
    w.put<double>(lo);
  }
  void restore(StateReader& r) {
    hi = r.get<double>();
    lo = r.get<double>();
  }
};

class RollingComoments {
 public:
  explicit RollingComoments(size_t capacity) : capacity_(capacity) {
    if (capacity < 1) throw std::invalid_argument("a rolling window needs at least one observation");
  }

  size_t capacity() const { return capacity_; }
  size_t size() const { return xs_.size(); }
  bool full() const { return xs_.size() == capacity_; }

  // Adds (x, y); when the window is full the oldest pair leaves first.
  void push(double x, double y) {
    if (xs_.empty() && since_anchor_ == 0) ax_ = x, ay_ = y;
    if (full()) {
      accumulate(xs_.front(), ys_.front(), -1);
      xs_.pop_front();
      ys_.pop_front();
    }
    run_x_ = !xs_.empty() && x == xs_.back() ? run_x_ + 1 : 1;
    run_y_ = !ys_.empty() && y == ys_.back() ? run_y_ + 1 : 1;
    xs_.push_back(x);
    ys_.push_back(y);
    accumulate(x, y, +1);
    if (++since_anchor_ >= capacity_) reanchor();
  }

  bool constant_x() const { return run_x_ >= xs_.size(); }
  bool constant_y() const { return run_y_ >= ys_.size(); }
  double mean_x() const { return constant_x() ? xs_.back() : ax_ + sx_.value() / n(); }
  double mean_y() const { return constant_y() ? ys_.back() : ay_ + sy_.value() / n(); }
  // Sums over the window of (x - mean_x)^2, (y - mean_y)^2 and (x - mean_x)(y - mean_y).
  double sxx() const { return constant_x() ? 0.0 : centred(sxx_, sx_, sx_, true); }
  double syy() const { return constant_y() ? 0.0 : centred(syy_, sy_, sy_, true); }
  double sxy() const { return constant_x() || constant_y() ? 0.0 : centred(sxy_, sx_, sy_, false); }

  void save(StateWriter& w) const {
    w.put<uint64_t>(xs_.size());
    for (size_t i = 0; i < xs_.size(); ++i) {
      w.put<double>(xs_[i]);
      w.put<double>(ys_[i]);
    }
    w.put<double>(ax_);
    w.put<double>(ay_);
    for (const DoubleDouble* s : {&sx_, &sy_, &sxx_, &syy_, &sxy_}) s->save(w);
    w.put<uint64_t>(since_anchor_);
    w.put<uint64_t>(run_x_);
    w.put<uint64_t>(run_y_);
  }
  void restore(StateReader& r) {
    const uint64_t count = r.get<uint64_t>();
    if (count > capacity_) throw std::runtime_error("rolling window state larger than its capacity");
    xs_.clear();
    ys_.clear();
    for (uint64_t i = 0; i < count; ++i) {
      xs_.push_back(r.get<double>());
      ys_.push_back(r.get<double>());
    }
    ax_ = r.get<double>();
    ay_ = r.get<double>();
    for (DoubleDouble* s : {&sx_, &sy_, &sxx_, &syy_, &sxy_}) s->restore(r);
    since_anchor_ = r.get<uint64_t>();
    run_x_ = r.get<uint64_t>();
    run_y_ = r.get<uint64_t>();
  }

 private:
  double n() const { return static_cast<double>(xs_.size()); }

  // (n S2 - S1a S1b) / n, the subtraction in double-double.
  double centred(const DoubleDouble& s2, const DoubleDouble& s1a, const DoubleDouble& s1b, bool square) const {
    const double v = (s2 * DoubleDouble{n(), 0} - s1a * s1b).value() / n();
    return square && v < 0 ? 0.0 : v;
  }
  void accumulate(double x, double y, double sign) {
    const double dx = x - ax_, dy = y - ay_;
    auto add = [sign](DoubleDouble& s, DoubleDouble term) { s = s + DoubleDouble{sign * term.hi, sign * term.lo}; };
    add(sx_, {dx, 0});
    add(sy_, {dy, 0});
    add(sxx_, DoubleDouble::product(dx, dx));
    add(syy_, DoubleDouble::product(dy, dy));
    add(sxy_, DoubleDouble::product(dx, dy));
  }
  void reanchor() {
    since_anchor_ = 0;
    ax_ = xs_.back();
    ay_ = ys_.back();
    sx_ = sy_ = sxx_ = syy_ = sxy_ = DoubleDouble{};
    for (size_t i = 0; i < xs_.size(); ++i) accumulate(xs_[i], ys_[i], +1);
  }

  size_t capacity_;
  std::deque<double> xs_, ys_;  // the window, oldest first
  double ax_ = 0, ay_ = 0;      // the anchors
  DoubleDouble sx_, sy_, sxx_, syy_, sxy_;  // sums of x', y', x'^2, y'^2, x'y' over the window
  uint64_t since_anchor_ = 0;   // pushes since the anchor was set
  uint64_t run_x_ = 0, run_y_ = 0;  // how many of the latest values equal the last one
};

// One series' rolling mean and centred sum of squares (the x side of RollingComoments).
class RollingMoments {
 public:
  explicit RollingMoments(size_t capacity) : m_(capacity) {}
  size_t size() const { return m_.size(); }
  bool full() const { return m_.full(); }
  void push(double x) { m_.push(x, 0.0); }
  double mean() const { return m_.mean_x(); }
  double sxx() const { return m_.sxx(); }
  void save(StateWriter& w) const { m_.save(w); }
  void restore(StateReader& r) { m_.restore(r); }

 private:
  RollingComoments m_;
};

}  // namespace qflow::nodes::stats
