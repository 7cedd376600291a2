// transform.volume_bars — a bar each time a symbol has traded `volume` units.
//
// Each symbol's inputs join the open bar in arrival order (open first, high max, low min, close
// last, volume summed; event_bars.hpp), and the bar closes on the input that brings its volume to
// `volume` or beyond. The input that crosses the threshold goes WHOLE into the closing bar and the
// next bar starts empty with the following input: inputs are never split, so every bar but the
// last holds at least `volume` (a large trade makes one large bar), and open/high/low/close are
// prices that really traded within the bar. "Reaches" allows a relative 1e-12 for binary rounding,
// so decimal sizes that add up to the threshold in decimal (0.7 + 0.1 + 0.1 + 0.1 of 1) close the
// bar as a person would expect; the volume itself is a compensated sum.
//
// The bar leaves on the cycle of its closing input, labelled with the time of its first input;
// qf_bar.interval_ns holds its span (first input's time to the end of the last). When the stream
// ends, the volume since the last bar is emitted as a partial bar, as transform.resample emits its
// last bucket.
//
// Input: ticks (a trade's size counts) or bars (the bar counts as its volume, whole, like a tick:
// minute bars make volume bars whose bounds fall on minutes). Non-finite prices or sizes and
// negative sizes stop the run with an error naming the symbol and the input's time.
//
// O(1) per input. The state is, per symbol (keyed by symbol name, so a resumed run may intern its
// symbols in another order), the bar being filled: a restored node continues exactly where the
// saved one was.
#include "event_bars.hpp"
#include "transforms.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace qflow::nodes {

class VolumeBarsTransform {
 public:
  static NodeSpec spec() {
    return NodeSpec("transform.volume_bars", "transform")
        .summary("Bars of a fixed traded volume (volume bars), per symbol")
        .doc("Aggregates a symbol's ticks (their sizes) or bars (their volumes), in arrival order, into a "
             "bar that closes on the input bringing its volume to `volume` or beyond (within 1e-12 "
             "relative): open the first price, high max, low min, close the last, volume the sum. The "
             "input that crosses the threshold goes whole into the closing bar and the next bar starts "
             "empty, so every bar but the last holds at least `volume`. A bar is emitted on the cycle of "
             "its closing input, labelled with the time of its first input; its interval is its span, "
             "from that time to the end of its last input. The volume left over when the stream ends "
             "is emitted at stop as a partial bar. Non-finite prices or sizes and negative sizes fail "
             "the run.")
        .warmup("a bar on the input that brings a symbol's volume to `volume` (the last, partial one at stop)")
        .param(ParamSpec::number("volume").required().min(0).doc("volume per bar (> 0), in the unit of the sizes"))
        .input("in", Kind::tick | Kind::bar, "trades or bars, per symbol in arrival order", QF_PORT_MULTIPLE)
        .output("bars", Kind::bar, "the bars, labelled by their first input's time, interval = their span");
  }

  explicit VolumeBarsTransform(const NodeConfig& cfg) : volume_(cfg.params().number("volume")) {
    if (!(volume_ > 0) || !std::isfinite(volume_))
      throw std::invalid_argument("volume must be a positive number of units per bar, got " + std::to_string(volume_));
    threshold_ = volume_ * (1 - kTolerance);
  }

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    const BarPiece p = bar_piece(ctx, ev);
    EventBar& bar = bars_.of(ctx, ev.symbol);
    bar.add(ev.time_ns, p);
    if (bar.volume() >= threshold_) ctx.emit(0, bar.take(ev.symbol));
  }

  void stop(Context& ctx) { bars_.emit_partial(ctx); }

  void save_state(StateWriter& w) const { bars_.save(w); }
  void restore_state(StateReader& r) { bars_.restore(r); }

 private:
  static constexpr double kTolerance = 1e-12;  // relative, on "the volume reaches the threshold"

  double volume_;
  double threshold_;  // volume_ less the tolerance
  EventBars bars_;
};

void register_volume_bars(Registrar& r) { r.add<VolumeBarsTransform>(); }

}  // namespace qflow::nodes
