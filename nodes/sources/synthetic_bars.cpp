// source.synthetic_bars — a seeded random walk of OHLCV bars, for tests and benchmarks.
//
// Emits exactly `bars` bars stamped start, start + interval, start + 2 * interval, ... (the
// bar's open time). Prices follow RandomWalk (random_walk.hpp): each bar's return
// close/open - 1 has mean `drift` and standard deviation `volatility`, the next bar opens at
// this bar's close, the first at `start_price`. `seed` 0 takes the pipeline's seed, so one
// pipeline seed reproduces every synthetic stream of a run. The same parameters give the same
// bars, bit for bit; the state (generator, last close, bars emitted) restores mid-stream.
#include "random_walk.hpp"
#include "sources.hpp"

#include <algorithm>
#include <stdexcept>

namespace qflow::nodes {

class SyntheticBarsSource {
 public:
  static NodeSpec spec() {
    return NodeSpec("source.synthetic_bars", "source")
        .summary("Seeded random-walk OHLCV bars")
        .doc("A random walk of `bars` OHLCV bars at a fixed `interval` from `start`: per-bar "
             "return with mean `drift` and standard deviation `volatility` (approximately "
             "normal), high/low wicks around the body, positive volume. Deterministic for a "
             "seed; seed 0 uses the pipeline seed.")
        .param(ParamSpec::string("symbol").default_value("SYN").doc("symbol of the bars"))
        .param(ParamSpec::integer("bars").required().min(1).doc("how many bars to emit"))
        .param(ParamSpec::duration("interval").default_value("1m").min(1).doc("bar length and spacing"))
        .param(ParamSpec::time("start").default_value("2020-01-01T00:00:00Z").doc("open time of the first bar"))
        .param(ParamSpec::number("start_price").default_value("100").min(1e-9).doc("open of the first bar"))
        .param(ParamSpec::number("volatility").default_value("0.001").min(0).max(1)
                   .doc("per-bar standard deviation of the return close/open - 1"))
        .param(ParamSpec::number("drift").default_value("0").min(-0.5).max(0.5).doc("per-bar mean return"))
        .param(ParamSpec::integer("seed").default_value("0").doc("generator seed; 0 = the pipeline seed"))
        .output("bars", Kind::bar, "the bars, in time order");
  }

  explicit SyntheticBarsSource(const NodeConfig& cfg)
      : walk_(cfg.params().number("start_price"), cfg.params().number("volatility"), cfg.params().number("drift"),
              seed_of(cfg)),
        symbol_name_(cfg.params().string("symbol")),
        bars_(static_cast<uint64_t>(cfg.params().integer("bars"))),
        interval_(cfg.params().duration_ns("interval")),
        start_(cfg.params().time_ns("start")) {
    if (cfg.params().integer("bars") < 1) throw std::invalid_argument("bars must be at least 1");
    if (interval_ < 1) throw std::invalid_argument("interval must be positive");
    int64_t span = 0, last = 0;
    if (__builtin_mul_overflow(static_cast<int64_t>(bars_ - 1), interval_, &span) ||
        __builtin_add_overflow(start_, span, &last))
      throw std::invalid_argument("the last bar's time, start + (bars - 1) * interval, is beyond int64 nanoseconds (year 2262)");
  }

  void start(Context& ctx) { symbol_ = ctx.intern(symbol_name_); }

  SourceStatus produce(Context& ctx, uint32_t max_events) {
    const uint64_t n = std::min<uint64_t>(max_events, bars_ - emitted_);
    qf_event ev = make_bar(symbol_, 0, 0, 0, 0, 0, 0, interval_);
    int64_t t = start_ + static_cast<int64_t>(emitted_) * interval_;
    for (uint64_t i = 0; i < n; ++i, t += interval_) {
      walk_.next(ev.u.bar);
      ev.time_ns = t;
      ctx.emit(0, ev);
    }
    emitted_ += n;
    ctx.set_progress(static_cast<double>(emitted_) / static_cast<double>(bars_));
    return emitted_ == bars_ ? SourceStatus::done : SourceStatus::more;
  }

  void save_state(StateWriter& w) const {
    w.put<RandomWalk::State>(walk_.state());
    w.put<uint64_t>(emitted_);
  }
  void restore_state(StateReader& r) {
    const auto s = r.get<RandomWalk::State>();
    const auto emitted = r.get<uint64_t>();
    if (emitted > bars_) throw std::runtime_error("synthetic_bars state is past the configured number of bars");
    walk_.restore(s);
    emitted_ = emitted;
  }

 private:
  static uint64_t seed_of(const NodeConfig& cfg) {
    const int64_t seed = cfg.params().integer("seed");
    return seed != 0 ? static_cast<uint64_t>(seed) : cfg.seed();
  }

  RandomWalk walk_;
  const std::string symbol_name_;
  const uint64_t bars_;
  const int64_t interval_, start_;
  uint32_t symbol_ = 0;
  uint64_t emitted_ = 0;
};

void register_synthetic_bars(Registrar& r) { r.add<SyntheticBarsSource>(); }

}  // namespace qflow::nodes
