// Shared by the node libraries that add up long runs of numbers (indicator seeds and windows,
// a bar's volume).
#pragma once

#include <qflow/state.hpp>

#include <cmath>

namespace qflow::nodes {

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

}  // namespace qflow::nodes
