// indicator.trade_imbalance — order-flow imbalance of the last n trades, in [-1, 1].
//
// imbalance = (buy volume - sell volume) / (buy volume + sell volume) over the last `window`
// ticks, 0 when that total is 0. A tick's side is its aggressor (QF_SIDE_BUY or QF_SIDE_SELL);
// a tick with an unknown aggressor (0) is classified by the tick rule: a buy when its price is
// above the last trade price different from it, a sell when below (so a trade at an unchanged
// price keeps the side of the last price change). Until the first price change such ticks
// have no side and count in neither volume (but do take their place in the window). The tick
// rule follows every trade, classified or not. No TA-Lib function; the first value is at the
// n-th tick (index n-1). O(1) per tick: the net and gross signed volumes are Neumaier-
// compensated running sums over a ring window. A tick whose size is not a finite number >= 0
// makes the output NaN while it is in the window.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace qflow::nodes {

class TradeImbalanceCore {
 public:
  static constexpr int kOutputs = 1;
  static NodeSpec spec() {
    return NodeSpec("indicator.trade_imbalance", "indicator")
        .summary("(buy - sell volume) / (buy + sell volume) over the last n trades, -1..1")
        .doc("Buy and sell volume by the ticks' aggressor; ticks without one are classified by the "
             "tick rule (above the last different price: buy; below: sell; none yet: no side). 0 "
             "when the classified volume is 0.")
        .warmup("the n-th tick, index n-1")
        .param(ParamSpec::integer("window").default_value("100").min(1).max(1'000'000).doc("number of ticks n"))
        .input("in", Kind::tick, "trade ticks")
        .output("value", Kind::value, "the imbalance, -1..1");
  }

  explicit TradeImbalanceCore(const ParamView& p) : signed_(static_cast<size_t>(p.integer("window"))) {}

  bool update(const qf_event& ev) {
    if (ev.kind != QF_KIND_TICK) throw std::invalid_argument(std::string("indicator.trade_imbalance reads ticks, not ") + kind_name(ev.kind) + " events");
    const qf_tick& t = ev.u.tick;
    if (std::isfinite(t.price)) {
      if (have_price_ && t.price != last_price_) direction_ = t.price > last_price_ ? 1 : -1;
      last_price_ = t.price;
      have_price_ = true;
    }
    const int side = t.aggressor == QF_SIDE_BUY ? 1 : t.aggressor == QF_SIDE_SELL ? -1 : direction_;
    const double v = std::isfinite(t.size) && t.size >= 0 ? side * t.size : std::numeric_limits<double>::quiet_NaN();
    if (signed_.full()) remove(signed_.front());
    signed_.push(v);
    add(v);
    return signed_.full();
  }
  bool ready() const { return signed_.full(); }
  double value(int) const {
    if (bad_ > 0) return std::numeric_limits<double>::quiet_NaN();
    const double gross = gross_.value();
    if (sided_ == 0 || gross <= 0) return 0.0;
    return std::clamp(net_.value() / gross, -1.0, 1.0);
  }

  void save(StateWriter& w) const {
    signed_.save(w);
    net_.save(w);
    gross_.save(w);
    w.put<uint64_t>(sided_);
    w.put<uint64_t>(bad_);
    w.put<double>(last_price_);
    w.put<int32_t>(direction_);
    w.put<uint8_t>(have_price_ ? 1 : 0);
  }
  void restore(StateReader& r) {
    signed_.restore(r);
    net_.restore(r);
    gross_.restore(r);
    sided_ = r.get<uint64_t>();
    bad_ = r.get<uint64_t>();
    last_price_ = r.get<double>();
    direction_ = r.get<int32_t>();
    have_price_ = r.get<uint8_t>() != 0;
  }

 private:
  void add(double v) {
    if (std::isnan(v)) {
      ++bad_;
      return;
    }
    if (v != 0) ++sided_;
    if (bad_ == 0) {
      net_.add(v);
      gross_.add(std::abs(v));
    }
  }
  void remove(double v) {
    if (std::isnan(v)) {
      if (--bad_ == 0) recompute();  // the sums were left alone while it was in
      return;
    }
    if (v != 0) --sided_;
    if (bad_ == 0) {
      net_.add(-v);
      gross_.add(-std::abs(v));
    }
  }
  // The sums afresh from the window (before the newest tick is pushed; the leaving one is NaN).
  void recompute() {
    net_ = CompensatedSum();
    gross_ = CompensatedSum();
    for (size_t i = 0; i < signed_.size(); ++i)
      if (!std::isnan(signed_[i])) {
        net_.add(signed_[i]);
        gross_.add(std::abs(signed_[i]));
      }
  }

  RingWindow signed_;            // the window's ticks: +size buy, -size sell, 0 no side, NaN bad
  CompensatedSum net_, gross_;   // sum of signed sizes and of their absolute values
  uint64_t sided_ = 0;           // ticks in the window with a side and a non-zero size
  uint64_t bad_ = 0;             // ticks in the window with an unusable size
  double last_price_ = 0;        // the last finite trade price
  int32_t direction_ = 0;        // the tick rule's side: the sign of the last price change
  bool have_price_ = false;
};

void register_trade_imbalance(Registrar& r) { r.add<IndicatorNode<TradeImbalanceCore>>(); }

}  // namespace qflow::nodes
