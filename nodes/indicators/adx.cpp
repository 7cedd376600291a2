// indicator.adx — average directional index with +DI and -DI (Wilder).
//
// TA-Lib (0.4) ADX, PLUS_DI and MINUS_DI (timeperiod = 14), for bars i >= 1:
// - up = high_i - high_{i-1}, down = low_{i-1} - low_i; -DM = down when down > 0 and up < down,
//   else +DM = up when up > 0 and up > down; otherwise (ties included) both are 0.
//   TR = max(high - low, |high - close_{i-1}|, |low - close_{i-1}|).
// - +DM, -DM and TR are summed over bars 1..n-1, then from bar n smoothed as s = s - s/n + x.
// - From bar n: +DI = 100 * s(+DM) / s(TR), -DI likewise (both 0 while s(TR) is 0), and
//   DX = 100 * |+DI - -DI| / (+DI + -DI).
// - ADX is seeded with the mean of the n DX values of bars n..2n-1, a DX that is undefined
//   (s(TR) or +DI + -DI is 0) counting as 0; after that adx = (adx * (n-1) + DX) / n, and a bar
//   whose DX is undefined leaves ADX unchanged (TA-Lib's rule).
// Output 0, adx, starts at bar 2n-1 (27 for n = 14); plus_di and minus_di start at bar n (has()).
// TA-Lib treats magnitudes below 1e-8 as zero in these tests, which misfires on low-priced
// series; here only an exact zero is. A bar with a NaN or infinite high or low makes the
// outputs NaN from then on, as any input to a recursive average would.
//
// O(1) per update and constant memory: three Wilder sums and the ADX recurrence.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace qflow::nodes {

class AdxCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("indicator.adx", "indicator")
        .summary("Average directional index with +DI and -DI (Wilder), 0..100")
        .doc("TA-Lib ADX/PLUS_DI/MINUS_DI: +DM, -DM and true range summed over bars 1..n-1, then "
             "smoothed s = s - s/n + x; DI = 100*s(DM)/s(TR) from bar n; DX = 100*|+DI - -DI|/(+DI + -DI); "
             "ADX seeded with the mean DX of bars n..2n-1, then adx = (adx*(n-1) + DX)/n; a bar without a "
             "DX (no range or no directional movement) leaves ADX unchanged.")
        .warmup("plus_di and minus_di at bar n, adx at bar 2n-1 counting from 0 (14 and 27 for n = 14)")
        .param(ParamSpec::integer("period").default_value("14").min(2).max(100'000).doc("smoothing length n"))
        .input("in", Kind::bar, "bars")
        .output("adx", Kind::value, "the ADX, 0..100, from bar 2n-1")
        .output("plus_di", Kind::value, "+DI, 0..100, from bar n")
        .output("minus_di", Kind::value, "-DI, 0..100, from bar n");
  }

  explicit AdxCore(const ParamView& p) : n_(static_cast<uint64_t>(p.integer("period"))) {}

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    const uint64_t i = seen_++;  // this bar's index
    const double up = b.high - prev_high_, down = prev_low_ - b.low;
    const double tr = true_range(b, prev_close_);
    prev_high_ = b.high;
    prev_low_ = b.low;
    prev_close_ = b.close;
    if (i == 0) return false;
    double plus_dm = 0, minus_dm = 0;
    if (down > 0 && up < down)
      minus_dm = down;
    else if (up > 0 && up > down)
      plus_dm = up;

    const double n = static_cast<double>(n_);
    if (i < n_) {  // bars 1..n-1: the sums
      plus_dm_ += plus_dm;
      minus_dm_ += minus_dm;
      tr_ += tr;
      return false;
    }
    plus_dm_ = plus_dm_ - plus_dm_ / n + plus_dm;
    minus_dm_ = minus_dm_ - minus_dm_ / n + minus_dm;
    tr_ = tr_ - tr_ / n + tr;
    plus_di_ = tr_ != 0 ? 100.0 * plus_dm_ / tr_ : 0.0;
    minus_di_ = tr_ != 0 ? 100.0 * minus_dm_ / tr_ : 0.0;
    const double di_sum = plus_di_ + minus_di_;
    const bool dx_defined = tr_ != 0 && di_sum != 0;
    const double dx = dx_defined ? 100.0 * std::abs(plus_di_ - minus_di_) / di_sum : 0.0;
    if (i + 1 < 2 * n_) {  // bars n..2n-2: the seed
      dx_sum_ += dx;
    } else if (i + 1 == 2 * n_) {  // bar 2n-1: the first ADX
      adx_ = (dx_sum_ + dx) / n;
    } else if (dx_defined) {
      adx_ = (adx_ * (n - 1) + dx) / n;
    }
    return true;
  }
  bool ready() const { return seen_ > n_; }
  bool has(int k) const { return k == 0 ? seen_ >= 2 * n_ : seen_ > n_; }
  double value(int k) const {
    if (k == 1) return plus_di_;
    if (k == 2) return minus_di_;
    return adx_;
  }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    for (double v : {prev_high_, prev_low_, prev_close_, plus_dm_, minus_dm_, tr_, dx_sum_, adx_, plus_di_, minus_di_})
      w.put<double>(v);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    for (double* v : {&prev_high_, &prev_low_, &prev_close_, &plus_dm_, &minus_dm_, &tr_, &dx_sum_, &adx_, &plus_di_, &minus_di_})
      *v = r.get<double>();
  }

 private:
  static double true_range(const qf_bar& b, double prev_close) {
    if (!std::isfinite(b.high) || !std::isfinite(b.low) || !std::isfinite(prev_close))
      return std::numeric_limits<double>::quiet_NaN();
    return std::max({b.high - b.low, std::abs(b.high - prev_close), std::abs(b.low - prev_close)});
  }

  uint64_t n_;
  uint64_t seen_ = 0;  // bars so far
  double prev_high_ = 0, prev_low_ = 0, prev_close_ = 0;
  double plus_dm_ = 0, minus_dm_ = 0, tr_ = 0;  // sums over bars 1..n-1, then Wilder-smoothed
  double dx_sum_ = 0;                            // DX of bars n..2n-2, for the seed
  double adx_ = 0;
  double plus_di_ = 0, minus_di_ = 0;            // of the last bar
};

void register_adx(Registrar& r) { r.add<IndicatorNode<AdxCore>>(); }

}  // namespace qflow::nodes
