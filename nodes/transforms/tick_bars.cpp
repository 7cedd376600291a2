// transform.tick_bars — a bar every `count` trades of a symbol.
//
// Each symbol's ticks are taken `count` at a time in arrival order: open = the first tick's
// price, high = max, low = min, close = the last tick's price, volume = the sum of the sizes.
// The bar leaves on the cycle of its `count`-th tick (nothing waits for the next one), labelled
// with the time of its FIRST tick; qf_bar.interval_ns holds its span, from the first tick to the
// last (event_bars.hpp), since a tick bar has no fixed length. When the stream ends, the ticks
// since the last bar are emitted as a partial bar, as transform.resample emits its last bucket.
//
// Input is ticks only: a bar does not say how many trades it holds, so the port refuses bars at
// validation (volume_bars takes both). Ticks with a non-finite price or size, or a negative size,
// stop the run with an error naming the symbol and the tick's time.
//
// O(1) per tick. The state is, per symbol (keyed by symbol name, so a resumed run may intern its
// symbols in another order), the bar being filled: a restored node continues exactly where the
// saved one was.
#include "event_bars.hpp"
#include "transforms.hpp"

#include <stdexcept>
#include <string>

namespace qflow::nodes {

class TickBarsTransform {
 public:
  static NodeSpec spec() {
    return NodeSpec("transform.tick_bars", "transform")
        .summary("Bars of a fixed number of trades (tick bars), per symbol")
        .doc("Aggregates every `count` ticks of a symbol, in arrival order, into one bar: open the first "
             "price, high max, low min, close the last price, volume the sum of the sizes. The bar is "
             "emitted on the cycle of its count-th tick, labelled with the time of its first tick; its "
             "interval is its span, from the first tick to the last (0 when they share an instant). "
             "The ticks left over when the stream ends are emitted at stop as a partial bar. Ticks with "
             "a non-finite price or size, or a negative size, fail the run.")
        .warmup("a bar on the count-th tick of a symbol (the last, partial one at stop)")
        .param(ParamSpec::integer("count").required().min(1).doc("ticks per bar"))
        .input("in", Kind::tick, "trades, per symbol in arrival order", QF_PORT_MULTIPLE)
        .output("bars", Kind::bar, "the bars, labelled by their first tick's time, interval = their span");
  }

  explicit TickBarsTransform(const NodeConfig& cfg) : count_(cfg.params().integer("count")) {
    if (count_ < 1) throw std::invalid_argument("count must be at least 1 tick per bar, got " + std::to_string(count_));
  }

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    if (ev.kind != QF_KIND_TICK) throw refused_input(ctx, ev, "cannot make tick bars: the input takes ticks");
    const BarPiece p = bar_piece(ctx, ev);
    EventBar& bar = bars_.of(ctx, ev.symbol);
    bar.add(ev.time_ns, p);
    if (bar.inputs() >= static_cast<uint64_t>(count_)) ctx.emit(0, bar.take(ev.symbol));
  }

  void stop(Context& ctx) { bars_.emit_partial(ctx); }

  void save_state(StateWriter& w) const { bars_.save(w); }
  void restore_state(StateReader& r) { bars_.restore(r); }

 private:
  int64_t count_;
  EventBars bars_;
};

void register_tick_bars(Registrar& r) { r.add<TickBarsTransform>(); }

}  // namespace qflow::nodes
