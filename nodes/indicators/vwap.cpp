// indicator.vwap — volume-weighted average price, anchored to a session or over a rolling window.
//
// VWAP = sum(p_i * v_i) / sum(v_i), p = the typical price (H + L + C) / 3 (or the close, param
// `price`), v = the bar's volume; a tick contributes its price and size. No TA-Lib function.
//   window = 0 (default): anchored. The sums restart at each session; a session runs from
//     `session_start` after 00:00 UTC for 24 hours (default 0s: the UTC day), and a bar belongs
//     to the session of its open time (event time, UTC). A value from the first bar on.
//     Sessions only move forward: a late bar of an earlier session is counted in the current one.
//   window = n > 0: over the last n bars, sessions ignored; the first value at index n-1.
// When the volume in the session (or window) so far is 0, the VWAP is undefined and the output
// is the current bar's price instead. O(1) per input; the sums are Neumaier-compensated, so
// adding and removing bars for millions of updates stays within a few ulps of a fresh sum. A
// non-finite price or volume makes the output NaN while it is in the window (or the session).
#include "indicators.hpp"

#include <qflow/indicator.hpp>
#include <qflow/time.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace qflow::nodes {

class VwapCore {
 public:
  static constexpr int kOutputs = 1;
  static constexpr int64_t kDayNs = 86'400 * kNanosPerSecond;

  static NodeSpec spec() {
    return NodeSpec("indicator.vwap", "indicator")
        .summary("Volume-weighted average price, per session (UTC day by default) or over n bars")
        .doc("sum(price*volume)/sum(volume) with price the typical price (H+L+C)/3 or the close. "
             "window=0: anchored, restarting at each session (session_start after 00:00 UTC, by the "
             "bar's open time); window=n: over the last n bars. When the volume so far is 0 the "
             "output is the current bar's price. Ticks contribute price and size.")
        .warmup("anchored: the first bar; window n: the n-th bar, index n-1")
        .param(ParamSpec::integer("window").default_value("0").min(0).max(1'000'000)
                   .doc("0: anchored to the session; n: rolling over the last n bars"))
        .param(ParamSpec::duration("session_start").default_value("0s")
                   .doc("when a session starts, as an offset after 00:00 UTC below 1d (e.g. 810m for 13:30)"))
        .param(ParamSpec::choice("price", {"typical", "close"}).default_value("typical")
                   .doc("typical: (high+low+close)/3; close: the close"))
        .input("in", Kind::bar | Kind::tick, "bars (or ticks: price and size)")
        .output("value", Kind::value, "the VWAP");
  }

  explicit VwapCore(const ParamView& p)
      : n_(static_cast<size_t>(p.integer("window"))),
        offset_(p.duration_ns("session_start")),
        typical_(p.string("price") == "typical"),
        prices_(n_ > 0 ? n_ : 1),
        volumes_(n_ > 0 ? n_ : 1) {
    if (offset_ < 0 || offset_ >= kDayNs) throw std::invalid_argument("session_start must be below 1d");
  }

  bool update(const qf_event& ev) {
    double p = 0, v = 0;
    if (ev.kind == QF_KIND_TICK) {
      p = ev.u.tick.price;
      v = ev.u.tick.size;
    } else {
      const qf_bar& b = indicator_bar(ev);
      p = typical_ ? (b.high + b.low + b.close) / 3.0 : b.close;
      v = b.volume;
    }
    last_price_ = p;
    if (n_ == 0) {
      const int64_t session = floor_div(ev.time_ns - offset_, kDayNs);
      if (seen_ == 0 || session > session_) {
        session_ = session;
        reset();
      }
      add(p, v, +1);
    } else {
      if (prices_.full()) add(prices_.front(), volumes_.front(), -1);
      prices_.push(p);
      volumes_.push(v);
      add(p, v, +1);
    }
    ++seen_;
    return ready();
  }
  bool ready() const { return n_ == 0 ? seen_ > 0 : prices_.full(); }
  double value(int) const {
    if (bad_ > 0) return std::numeric_limits<double>::quiet_NaN();
    const double volume = volume_.value();
    if (weighted_ == 0 || volume == 0) return last_price_;
    return pv_.value() / volume;
  }

  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    w.put<int64_t>(session_);
    w.put<double>(last_price_);
    pv_.save(w);
    volume_.save(w);
    w.put<uint64_t>(weighted_);
    w.put<uint64_t>(bad_);
    prices_.save(w);
    volumes_.save(w);
  }
  void restore(StateReader& r) {
    seen_ = r.get<uint64_t>();
    session_ = r.get<int64_t>();
    last_price_ = r.get<double>();
    pv_.restore(r);
    volume_.restore(r);
    weighted_ = r.get<uint64_t>();
    bad_ = r.get<uint64_t>();
    prices_.restore(r);
    volumes_.restore(r);
  }

 private:
  static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

  // Adds (sign +1) or removes (-1) one bar's contribution.
  void add(double p, double v, int sign) {
    if (!std::isfinite(p) || !std::isfinite(v)) {
      if (sign > 0) {
        ++bad_;
      } else if (--bad_ == 0) {
        recompute();  // the sums were left alone while it was in
      }
      return;
    }
    if (v != 0) sign > 0 ? ++weighted_ : --weighted_;
    if (bad_ > 0) return;  // recomputed from the window when the last bad bar leaves
    pv_.add(sign * p * v);
    volume_.add(sign * v);
  }
  void reset() {
    pv_ = CompensatedSum();
    volume_ = CompensatedSum();
    weighted_ = 0;
    bad_ = 0;
  }
  // Sums of the rolling window afresh (the anchored mode resets instead: bad_ only clears there).
  void recompute() {
    pv_ = CompensatedSum();
    volume_ = CompensatedSum();
    for (size_t i = 0; i < prices_.size(); ++i)
      if (std::isfinite(prices_[i]) && std::isfinite(volumes_[i])) {
        pv_.add(prices_[i] * volumes_[i]);
        volume_.add(volumes_[i]);
      }
  }

  size_t n_;          // the window, 0 when anchored
  int64_t offset_;    // the session start after 00:00 UTC
  bool typical_;      // (H+L+C)/3 rather than the close

  uint64_t seen_ = 0;
  int64_t session_ = 0;        // the current session's day number (anchored)
  double last_price_ = 0;      // the newest bar's price
  CompensatedSum pv_, volume_; // sums of price*volume and volume over the session or window
  uint64_t weighted_ = 0;      // bars with non-zero volume in them
  uint64_t bad_ = 0;           // bars with a non-finite price or volume in them
  RingWindow prices_, volumes_;  // the window's bars (rolling mode)
};

void register_vwap(Registrar& r) { r.add<IndicatorNode<VwapCore>>(); }

}  // namespace qflow::nodes
