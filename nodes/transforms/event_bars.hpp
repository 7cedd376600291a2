// The bar under construction of transform.tick_bars and transform.volume_bars, bars closed by a
// count of inputs or of volume rather than by the clock.
//
// Inputs join in arrival order: open = the first input's open (a tick's price), high = max,
// low = min, close = the last input's close, volume = the sum of sizes (a bar input's volume),
// kept as a compensated (Neumaier) sum so that many small decimal sizes add up to their total.
// EventBars keeps one per symbol, checkpointed by name, and emits the partial ones at stop.
// The bar is labelled with the time of its first input and carries in qf_bar.interval_ns its span:
// from that time to the latest end of an input (a tick ends at its time, a bar at its time plus
// its interval), so label + interval is when the bar's last trade happened; a bar of ticks at
// one instant has interval 0.
//
// Input with a non-finite price or size is refused as transform.resample refuses it, and so is
// a negative size (a trade's size is never negative, and one would run a volume count backwards);
// prices of any sign are accepted, as resample accepts them.
#pragma once

#include "compensated_sum.hpp"
#include "transforms.hpp"

#include <qflow/symbol_states.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>

namespace qflow::nodes {

// One input as a piece of a bar.
struct BarPiece {
  double open, high, low, close, volume;
  int64_t end;
};

// A symbol as messages name it.
inline std::string symbol_label(const Context& ctx, uint32_t symbol) {
  const std::string_view n = ctx.lookup(symbol);
  return n.empty() ? "symbol #" + std::to_string(symbol) : std::string(n);
}

// An error about input `ev`: "BTCUSDT: tick at 2024-10-01T00:00:05Z <what>".
inline std::invalid_argument refused_input(const Context& ctx, const qf_event& ev, const std::string& what) {
  return std::invalid_argument(symbol_label(ctx, ev.symbol) + ": " + kind_name(ev.kind) + " at " +
                               format_time(ev.time_ns) + " " + what);
}

// `ev` (a tick or a bar) as a piece of a bar, or an error saying what is wrong with it.
inline BarPiece bar_piece(const Context& ctx, const qf_event& ev) {
  const auto refuse = [&](const std::string& what) { return refused_input(ctx, ev, what); };
  if (ev.kind == QF_KIND_TICK) {
    const qf_tick& t = ev.u.tick;
    if (!std::isfinite(t.price) || !std::isfinite(t.size)) throw refuse("has a non-finite price or size");
    if (t.size < 0) throw refuse("has a negative size " + std::to_string(t.size));
    return BarPiece{t.price, t.price, t.price, t.price, t.size, ev.time_ns};
  }
  if (ev.kind != QF_KIND_BAR) throw refuse("cannot make bars");
  const qf_bar& b = ev.u.bar;
  for (double x : {b.open, b.high, b.low, b.close, b.volume})
    if (!std::isfinite(x)) throw refuse("has a non-finite price or volume");
  if (b.volume < 0) throw refuse("has a negative volume " + std::to_string(b.volume));
  return BarPiece{b.open, b.high, b.low, b.close, b.volume, ev.time_ns + std::max<int64_t>(b.interval_ns, 0)};
}

class EventBar {
 public:
  bool empty() const { return inputs_ == 0; }
  uint64_t inputs() const { return inputs_; }
  double volume() const { return volume_.value(); }

  void add(int64_t time, const BarPiece& p) {
    if (inputs_++ == 0) {
      time_ = time, end_ = p.end;
      open_ = p.open, high_ = p.high, low_ = p.low;
      volume_ = CompensatedSum();
    } else {
      end_ = std::max(end_, p.end);
      high_ = std::max(high_, p.high);
      low_ = std::min(low_, p.low);
    }
    close_ = p.close;
    volume_.add(p.volume);
  }

  // The bar as it stands, for `symbol`; the builder is empty afterwards.
  qf_event take(uint32_t symbol) {
    inputs_ = 0;
    return make_bar(symbol, time_, open_, high_, low_, close_, volume(), std::max<int64_t>(end_ - time_, 0));
  }

  void save(StateWriter& w) const {
    w.put<uint64_t>(inputs_);
    w.put<int64_t>(time_);
    w.put<int64_t>(end_);
    for (double x : {open_, high_, low_, close_}) w.put<double>(x);
    volume_.save(w);
  }
  void restore(StateReader& r) {
    inputs_ = r.get<uint64_t>();
    time_ = r.get<int64_t>();
    end_ = r.get<int64_t>();
    for (double* x : {&open_, &high_, &low_, &close_}) *x = r.get<double>();
    volume_.restore(r);
  }

 private:
  uint64_t inputs_ = 0;  // inputs joined since the last bar left; 0 = no bar open
  int64_t time_ = 0;     // the first input's time: the bar's label
  int64_t end_ = 0;      // the latest end of an input
  double open_ = 0, high_ = 0, low_ = 0, close_ = 0;
  CompensatedSum volume_;
};

// Every symbol's bar being built, checkpointed under the symbol's name.
class EventBars {
 public:
  EventBar& of(const Context& ctx, uint32_t symbol) { return bars_.of(ctx, symbol); }
  // At stop: every symbol's partial bar, those restored and never resumed by an event included.
  void emit_partial(Context& ctx) {
    bars_.join_all(ctx);
    bars_.for_each([&](uint32_t symbol, EventBar& bar) {
      if (!bar.empty()) ctx.emit(0, bar.take(symbol));
    });
  }
  void save(StateWriter& w) const {
    bars_.save(w, [](StateWriter& out, const EventBar& bar) { bar.save(out); });
  }
  void restore(StateReader& r) {
    bars_.restore(r, [](StateReader& in, EventBar& bar) { bar.restore(in); });
  }

 private:
  SymbolStates<EventBar> bars_;
};

}  // namespace qflow::nodes
