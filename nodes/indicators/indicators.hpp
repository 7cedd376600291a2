// Shared pieces of the indicator plugin: the `field` parameter, a fixed-size ring window and a
// compensated running sum. Internal to this library.
#pragma once

#include <qflow/sdk.hpp>

#include <cmath>
#include <cstring>
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

// Neumaier's compensated summation: the error of a running sum stays bounded instead of
// growing with the number of updates.
class CompensatedSum {
 public:
  void add(double x) {
    const double t = sum_ + x;
    if (std::abs(sum_) >= std::abs(x))
      comp_ += (sum_ - t) + x;
    else
      comp_ += (x - t) + sum_;
    sum_ = t;
  }
  double value() const { return sum_ + comp_; }
  void save(StateWriter& w) const {
    w.put<double>(sum_);
    w.put<double>(comp_);
  }
  void restore(StateReader& r) {
    sum_ = r.get<double>();
    comp_ = r.get<double>();
  }

 private:
  double sum_ = 0, comp_ = 0;
};

// The largest (kMax) or smallest value of the last `period` pushed, amortised O(1) per push: a
// monotonic deque keeps, in arrival order, only the values that may still become the extreme —
// those not beaten by a later one (a later equal value beats an earlier one, as it stays
// longer) — so the front is the window's extreme and every value enters and leaves once. Exact:
// no arithmetic on the values. Push finite values only (a NaN compares false both ways: the
// results would be unspecified though memory-safe), so callers skip non-finite input.
template <bool kMax>
class RollingExtreme {
 public:
  explicit RollingExtreme(size_t period) : entries_(period) {}
  size_t period() const { return entries_.size(); }
  bool full() const { return pushed_ >= entries_.size(); }  // `period` values pushed
  double value() const { return entries_[head_].value; }  // the extreme; after a push
  void push(double x) {
    const uint64_t n = entries_.size();
    while (size_ > 0 && entries_[head_].index + n <= pushed_) pop_front();  // left the window
    while (size_ > 0 && !beats(entries_[at(size_ - 1)].value, x)) --size_;
    entries_[at(size_++)] = Entry{pushed_++, x};
  }
  void save(StateWriter& w) const {
    w.put<uint64_t>(pushed_);
    w.put<uint64_t>(size_);
    for (size_t i = 0; i < size_; ++i) w.put<Entry>(entries_[at(i)]);
  }
  void restore(StateReader& r) {
    pushed_ = r.get<uint64_t>();
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
  size_t at(size_t i) const {
    const size_t j = head_ + i;
    return j < entries_.size() ? j : j - entries_.size();
  }
  void pop_front() {
    if (++head_ == entries_.size()) head_ = 0;
    --size_;
  }

  std::vector<Entry> entries_;  // a ring; the deque is its `size_` entries from `head_`
  size_t head_ = 0, size_ = 0;
  uint64_t pushed_ = 0;
};
using RollingMax = RollingExtreme<true>;
using RollingMin = RollingExtreme<false>;

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
