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
inline int field_index(const NodeConfig& cfg) { return field_index(cfg.params().string("field")); }

// The number an indicator reads from an input event: a bar's chosen column or a value.
inline double input_number(const qf_event& ev, int field) {
  if (ev.kind == QF_KIND_BAR) return bar_field(ev.u.bar, field);
  if (ev.kind == QF_KIND_VALUE) return ev.u.value.value;
  throw std::invalid_argument(std::string("unexpected ") + kind_name(ev.kind) + " event");
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

void register_sma(Registrar& r);
void register_ema(Registrar& r);
void register_rsi(Registrar& r);

}  // namespace qflow::nodes
