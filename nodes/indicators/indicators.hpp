// Shared pieces of the indicator plugin: the `field` parameter, a fixed-size ring window,
// rolling extremes, log returns and the rolling volatility (the compensated running sum and the
// window sums come from nodes/common). Internal to this library.
#pragma once

#include "compensated_sum.hpp"
#include "window_sums.hpp"

#include <qflow/sdk.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace qflow::nodes {

inline ParamSpec field_param() {
  return ParamSpec::choice("field", {"open", "high", "low", "close", "volume"})
      .default_value("close")
      .doc("bar column to use when the input is a bar stream");
}

inline int field_index(const std::string& f) {
  for (int i = 0; i < 5; ++i)
    if (f == kBarFields[i]) return i;
  throw std::invalid_argument("unknown field '" + f + "'");
}

// The last `capacity` numbers, oldest first.
class RingWindow {
 public:
  explicit RingWindow(size_t capacity) : data_(capacity) {}
  size_t capacity() const { return data_.size(); }
  size_t size() const { return size_; }
  bool full() const { return size_ == data_.size(); }
  double front() const { return data_[head_]; }
  // Element i, 0 = oldest.
  double operator[](size_t i) const {
    const size_t j = head_ + i;
    return data_[j < data_.size() ? j : j - data_.size()];
  }
  void push(double x) {
    if (full()) {
      data_[head_] = x;
      if (++head_ == data_.size()) head_ = 0;
    } else {
      const size_t j = head_ + size_;
      data_[j < data_.size() ? j : j - data_.size()] = x;
      ++size_;
    }
  }
  void save(StateWriter& w) const {
    w.put<uint64_t>(size_);
    for (size_t i = 0; i < size_; ++i) w.put<double>((*this)[i]);
  }
  void restore(StateReader& r) {
    const uint64_t n = r.get<uint64_t>();
    if (n > data_.size()) throw std::runtime_error("window state larger than the period");
    head_ = 0;
    size_ = 0;
    for (uint64_t i = 0; i < n; ++i) push(r.get<double>());
  }

 private:
  std::vector<double> data_;
  size_t head_ = 0, size_ = 0;
};

// The largest (kMax) or smallest value of the last `period` pushed. Exact: no arithmetic on
// the values. Push finite values only (a NaN compares false both ways: the results would be
// unspecified though memory-safe), so callers skip non-finite input.
//
// Two ways, by the period (fixed at construction):
//  - up to kScanUpTo values, a contiguous ring and the current extreme with its arrival number:
//    a push that equals or beats the extreme takes its place (a later equal value stays
//    longer), and only when the extreme leaves the window is the ring rescanned (a branch-free
//    pass for the value, then back from the newest value for its position). On a random walk
//    that is every few pushes, and max and min of 14 bars cost 11 ns a push against the
//    deque's 21 (its pops are data-dependent branches); at worst (a steady fall, for the max)
//    every push rescans, O(n) with n <= 32: 46 ns for both at n = 32 against 4.
//  - beyond, a monotonic deque keeps, in arrival order, only the values that may still become
//    the extreme (those not beaten by a later one; a later equal value beats an earlier one),
//    so the front is the window's extreme and every value enters and leaves once: amortised
//    O(1) per push whatever the data.
template <bool kMax>
class RollingExtreme {
 public:
  static constexpr size_t kScanUpTo = 32;

  explicit RollingExtreme(size_t period) : period_(period), scan_(period <= kScanUpTo) {
    if (period == 0) throw std::invalid_argument("a rolling extreme needs a period of at least 1");
    if (scan_)
      ring_.resize(period);
    else
      entries_.resize(period);
  }
  size_t period() const { return period_; }
  bool full() const { return pushed_ >= period_; }  // `period` values pushed
  double value() const { return scan_ ? best_ : entries_[head_].value; }  // the extreme; after a push

  void push(double x) {
    if (scan_)
      push_scan(x);
    else
      push_deque(x);
  }

  // The window's values oldest first (scan) or the deque's entries; the extreme is derived.
  void save(StateWriter& w) const {
    w.put<uint64_t>(pushed_);
    if (scan_) {
      const size_t n = std::min<uint64_t>(pushed_, period_);
      for (size_t k = 0; k < n; ++k) w.put<double>(ring_[slot_of(pushed_ - n + k)]);
      return;
    }
    w.put<uint64_t>(size_);
    for (size_t i = 0; i < size_; ++i) w.put<Entry>(entries_[at(i)]);
  }
  void restore(StateReader& r) {
    pushed_ = r.get<uint64_t>();
    if (scan_) {
      const size_t n = std::min<uint64_t>(pushed_, period_);
      next_ = static_cast<size_t>(pushed_ % period_);
      for (size_t k = 0; k < n; ++k) ring_[slot_of(pushed_ - n + k)] = r.get<double>();
      if (n > 0) rescan();
      return;
    }
    const uint64_t n = r.get<uint64_t>();
    if (n > entries_.size()) throw std::runtime_error("rolling extreme state larger than the period");
    head_ = 0;
    size_ = 0;
    for (uint64_t i = 0; i < n; ++i) entries_[size_++] = r.get<Entry>();
  }

 private:
  struct Entry {
    uint64_t index;  // arrival number
    double value;
  };
  static bool beats(double a, double b) { return kMax ? a > b : a < b; }

  // ---- scan: ring_[slot_of(i)] holds arrival i; best_ arrived as number best_at_
  size_t slot_of(uint64_t arrival) const { return static_cast<size_t>(arrival % period_); }
  void push_scan(double x) {
    const uint64_t i = pushed_++;
    ring_[next_] = x;
    next_ = next_ + 1 == period_ ? 0 : next_ + 1;
    if (i == 0 || !beats(best_, x)) {
      best_ = x;
      best_at_ = i;
    } else if (best_at_ + period_ <= i) {
      rescan();
    }
  }
  // The extreme of the ring (its slots hold exactly the window once full; before, the slots
  // not yet written are skipped), then its newest arrival.
  void rescan() {
    const size_t n = std::min<uint64_t>(pushed_, period_);
    double a = ring_[0], b = ring_[n - 1];  // two chains of max/min instructions
    for (size_t k = 1; k + 1 < n; k += 2) {
      a = beats(ring_[k], a) ? ring_[k] : a;
      b = beats(ring_[k + 1], b) ? ring_[k + 1] : b;
    }
    best_ = beats(b, a) ? b : a;
    size_t slot = next_ == 0 ? period_ - 1 : next_ - 1;
    uint64_t i = pushed_ - 1;
    for (; ring_[slot] != best_; --i) slot = slot == 0 ? period_ - 1 : slot - 1;
    best_at_ = i;
  }

  // ---- deque: entries_ is a ring; the deque is its `size_` entries from `head_`
  size_t at(size_t i) const {
    const size_t j = head_ + i;
    return j < entries_.size() ? j : j - entries_.size();
  }
  void push_deque(double x) {
    const uint64_t n = entries_.size();
    while (size_ > 0 && entries_[head_].index + n <= pushed_) pop_front();  // left the window
    while (size_ > 0 && !beats(entries_[at(size_ - 1)].value, x)) --size_;
    entries_[at(size_++)] = Entry{pushed_++, x};
  }
  void pop_front() {
    if (++head_ == entries_.size()) head_ = 0;
    --size_;
  }

  size_t period_;
  bool scan_;                  // short window: ring and rescan; else the deque
  uint64_t pushed_ = 0;
  std::vector<double> ring_;   // scan
  size_t next_ = 0;            // scan: the slot of the next value, pushed_ % period_
  double best_ = 0;            // scan: the extreme
  uint64_t best_at_ = 0;       // scan: its (newest) arrival number
  std::vector<Entry> entries_;  // deque
  size_t head_ = 0, size_ = 0;
};
using RollingMax = RollingExtreme<true>;
using RollingMin = RollingExtreme<false>;

// ln(x / base) for positive finite prices, NaN otherwise, to within ~3 ulps of its own size.
// Never from the rounded ratio x / base: for a move of a cent on 70,000 that would be good to
// only about nine digits. For nearby prices x - base is exact (Sterbenz), and
//   ln(x / base) = 2 atanh(w) = 2 (w + w^3/3 + w^5/5 + ...),  w = (x - base) / (x + base),
// which for |w| < 2^-10 (moves under ~0.2%, most bars of minutes) the three terms give to
// 2^-62 relative: one division and three multiply-adds, ~2 ns less than a log1p. Larger moves
// take log1p of the relative change.
inline double log_return_of(double x, double base) {
  if (!(x > 0 && base > 0 && std::isfinite(x) && std::isfinite(base))) return std::numeric_limits<double>::quiet_NaN();
  const double d = x - base, s = x + base, w = d / s;
  if (std::abs(w) < 0x1p-10 && s < std::numeric_limits<double>::infinity()) {
    const double w2 = w * w, tw = 2 * w;
    return std::fma(tw, w2 * (1.0 / 3 + w2 * (1.0 / 5)), tw);
  }
  return std::log1p(d / base);
}

// The volatility of indicator.volatility and indicator.vol_regime: the population standard
// deviation of the last n one-step log returns times sqrt(n), defined from input n on (n
// returns); NaN while an undefined return is in the window. Exact window sums (window_sums.hpp).
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
  WindowSums returns_;  // the last n log returns
  uint64_t seen_ = 0;   // prices so far
  double prev_ = 0;     // the last price
};

void register_sma(Registrar& r);
void register_ema(Registrar& r);
void register_rsi(Registrar& r);
void register_wma(Registrar& r);
void register_stddev(Registrar& r);
void register_bbands(Registrar& r);
void register_macd(Registrar& r);
void register_atr(Registrar& r);
void register_adx(Registrar& r);
void register_vwap(Registrar& r);
void register_log_return(Registrar& r);
void register_volatility(Registrar& r);
void register_zscore(Registrar& r);
void register_trend_strength(Registrar& r);
void register_trade_imbalance(Registrar& r);
void register_vol_regime(Registrar& r);
void register_obv(Registrar& r);
void register_cci(Registrar& r);
void register_stoch(Registrar& r);
void register_willr(Registrar& r);
void register_mfi(Registrar& r);
void register_linreg_slope(Registrar& r);
void register_donchian(Registrar& r);

}  // namespace qflow::nodes
