// Rolling moments shared by indicator.zscore, indicator.log_return, indicator.volatility and
// indicator.vol_regime: the population mean and variance of the last n numbers in O(1) per
// number, log returns that keep their precision, and the volatility built from both.
//
// Numerics. A running sum of squares of prices cancels catastrophically at BTC levels (the
// variance of cent moves around 70,000), and so does a sliding Welford update when a large
// move leaves the window (M2 falls from thousands to 1e-5 by one subtraction). So the values
// are taken relative to an anchor K, a recent input (x - K is exact for prices within a factor
// 2 of K, Sterbenz), and sum(x - K) and sum((x - K)^2) are carried as double-double sums (Knuth's
// TwoSum; an FMA makes each square exact): adding and removing a value loses ~2^-106 of the
// sums' size. n * variance = sum(d^2) - sum(d)^2 / n is formed in double-double too. Every n
// updates the anchor moves to the newest input and the sums are recomputed from the window
// (O(n) once per n updates: amortised O(1)), which also keeps K near the prices. A window
// whose values are all equal has variance exactly 0 (told by the run length of equal inputs).
//
// Non-finite inputs are kept out of the sums and counted: while one is in the window the
// variance and mean are NaN, and exact again when it has left.
#pragma once

#include "indicators.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qflow::nodes {

class WindowMoments {
 public:
  explicit WindowMoments(size_t n) : window_(n) {}

  size_t size() const { return window_.size(); }
  bool full() const { return window_.full(); }

  void push(double x) {
    if (window_.full()) remove(window_.front());
    same_ = window_.size() > 0 && x == window_[window_.size() - 1] ? same_ + 1 : 1;
    window_.push(x);
    if (!std::isfinite(x)) {
      ++bad_;
    } else {
      if (!anchored_) {
        anchor_ = x;
        anchored_ = true;
      }
      add(x);
    }
    if (++since_exact_ >= window_.capacity()) rebuild();
  }

  // Population variance (divide by the number of values); NaN while a non-finite value is in
  // the window.
  double variance() const {
    if (bad_ > 0) return std::numeric_limits<double>::quiet_NaN();
    if (constant()) return 0.0;
    const double n = static_cast<double>(window_.size());
    // s1^2 / n in double-double: s1^2 = h^2 + 2hl (l^2 is below the precision carried).
    const double h = s1_.hi, l = s1_.lo;
    const double ph = h * h, pl = std::fma(h, h, -ph) + 2 * h * l;
    const double qh = ph / n, ql = (std::fma(-qh, n, ph) + pl) / n;
    Sum m2 = s2_;
    m2.add(-qh);
    m2.add(-ql);
    return std::max(m2.value(), 0.0) / n;
  }
  double stddev() const { return std::sqrt(variance()); }
  double mean() const { return bad_ > 0 ? std::numeric_limits<double>::quiet_NaN() : anchor_ + relative_mean(); }
  // x - mean, with x - K exact for values near the window's.
  double deviation(double x) const { return (x - anchor_) - relative_mean(); }
  // All values in the window are equal (and finite): the variance is exactly 0.
  bool constant() const { return bad_ == 0 && same_ >= window_.size(); }

  void save(StateWriter& w) const {
    window_.save(w);
    w.put<double>(anchor_);
    w.put<uint8_t>(anchored_ ? 1 : 0);
    for (double v : {s1_.hi, s1_.lo, s2_.hi, s2_.lo}) w.put<double>(v);
    w.put<uint64_t>(bad_);
    w.put<uint64_t>(same_);
    w.put<uint64_t>(since_exact_);
  }
  void restore(StateReader& r) {
    window_.restore(r);
    anchor_ = r.get<double>();
    anchored_ = r.get<uint8_t>() != 0;
    for (double* v : {&s1_.hi, &s1_.lo, &s2_.hi, &s2_.lo}) *v = r.get<double>();
    bad_ = r.get<uint64_t>();
    same_ = r.get<uint64_t>();
    since_exact_ = r.get<uint64_t>();
    if (bad_ > window_.size()) throw std::runtime_error("window moments state is inconsistent");
  }

 private:
  // An unevaluated sum hi + lo, |lo| <= ulp(hi) / 2.
  struct Sum {
    double hi = 0, lo = 0;
    void add(double x) {
      const double s = hi + x, b = s - hi;
      const double e = (hi - (s - b)) + (x - b);  // TwoSum: s + e == hi + x exactly
      const double t = lo + e;
      hi = s + t;
      lo = t - (hi - s);
    }
    double value() const { return hi + lo; }
  };

  double relative_mean() const {
    const double n = static_cast<double>(window_.size() - bad_);
    return s1_.hi / n + s1_.lo / n;
  }
  void add(double x) {
    const double d = x - anchor_, sq = d * d;
    s1_.add(d);
    s2_.add(sq);
    s2_.add(std::fma(d, d, -sq));
  }
  void remove(double x) {
    if (!std::isfinite(x)) {
      --bad_;
      return;
    }
    const double d = x - anchor_, sq = d * d;
    s1_.add(-d);
    s2_.add(-sq);
    s2_.add(-std::fma(d, d, -sq));
  }
  // Moves the anchor to the newest finite input and sums the window afresh.
  void rebuild() {
    since_exact_ = 0;
    for (size_t i = window_.size(); i-- > 0;)
      if (std::isfinite(window_[i])) {
        anchor_ = window_[i];
        break;
      }
    s1_ = {};
    s2_ = {};
    for (size_t i = 0; i < window_.size(); ++i)
      if (std::isfinite(window_[i])) add(window_[i]);
  }

  RingWindow window_;
  double anchor_ = 0;         // K: the sums are of x - K
  bool anchored_ = false;     // K has been set from a finite input
  Sum s1_, s2_;               // sum(x - K) and sum((x - K)^2) over the window's finite values
  uint64_t bad_ = 0;          // non-finite values in the window
  uint64_t same_ = 0;         // the newest value's run length of equal inputs
  uint64_t since_exact_ = 0;  // updates since the sums were last recomputed
};

// ln(x / base) for positive finite prices, NaN otherwise. log1p of the relative change: for
// nearby prices x - base is exact, so a move of a cent on 70,000 keeps full relative precision
// where ln of the rounded ratio x / base would be good to only about nine digits.
inline double log_return_of(double x, double base) {
  if (!(x > 0 && base > 0 && std::isfinite(x) && std::isfinite(base))) return std::numeric_limits<double>::quiet_NaN();
  return std::log1p((x - base) / base);
}

// The volatility of indicator.volatility: the population standard deviation of the last n
// one-step log returns times sqrt(n); defined from input n on (n returns).
class RollingVolatility {
 public:
  explicit RollingVolatility(size_t n) : returns_(n) {}

  void push(double price) {
    if (seen_++ > 0) returns_.push(log_return_of(price, prev_));
    prev_ = price;
  }
  bool ready() const { return returns_.full(); }
  double value() const { return returns_.stddev() * std::sqrt(static_cast<double>(returns_.size())); }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<double>(prev_);
    returns_.save(w);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    prev_ = r.get<double>();
    returns_.restore(r);
  }

 private:
  WindowMoments returns_;  // the last n log returns
  uint64_t seen_ = 0;        // prices so far
  double prev_ = 0;          // the last price
};

}  // namespace qflow::nodes
