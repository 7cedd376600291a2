// transform.resample — time bars from ticks, or coarser bars from finer ones.
//
// Buckets are the intervals [origin + k·interval, origin + (k+1)·interval) of UTC time, for any
// integer k: aligned to the Unix epoch when `origin` is 0 (1d bars run from 00:00 to 00:00 UTC,
// 1h bars start on the hour), or shifted by `origin`, a duration read as a session start: with
// interval 1d, `origin: 8h` makes bars from 08:00 to 08:00 UTC and `origin: 570m` from 09:30 to
// 09:30 UTC (origin is taken modulo the interval). An input belongs to the bucket holding its
// time, so a tick exactly on a boundary opens the next bar. Each bar is emitted with its bucket's
// OPEN time as event time and `interval` in qf_bar.interval_ns.
//
// Aggregation: open = the first input's open (a tick's price), high = max, low = min, close = the
// last input's close, volume = the sum of volumes (a tick's size), in arrival order.
//
// When a bar is emitted: as soon as its bucket is known to be complete. For bar input that is
// when a sub-bar ends at the bucket's end (open + interval >= bucket end: a 5m bar made of 1m
// bars leaves on the cycle of its 5th minute); otherwise (ticks, or a bucket whose last sub-bar is
// missing) when the first input of a later bucket arrives. The last bucket of each symbol is
// still open when the stream ends: stop() emits it as it stands (a partial bar).
//
// Intervals without input (`empty`): `skip` emits nothing for them; `flat` emits, for each missing
// bucket between two inputs, a bar at the previous bar's close (open = high = low = close) with
// zero volume, before the bar that follows the gap. Nothing is invented before a symbol's first
// input nor after its last.
//
// Late or out-of-order input (`late`): an input is late when its time is before the symbol's
// previous input — a tick before the previous tick (equal times are fine), a bar starting
// before the previous bar's end — which includes any input for a bucket already emitted.
// `fail` stops the run with an error naming the input's time and bucket and how far the
// symbol's input had got; `drop` skips it, warns at the first one and logs their count at stop.
//
// Input bars must tile the target grid: their interval must divide `interval` (a 7m bar cannot
// make 5m bars) and they must not cross a bucket boundary; either is refused with an error.
// Non-finite prices or sizes are refused too.
//
// Every symbol of the stream is resampled on its own. The state is, per symbol, the open bucket's
// OHLCV and where the symbol's input stands, plus the late counter: a restored node continues
// exactly where the saved one was. It is keyed by symbol NAME (qflow/symbol_states.hpp), so a resumed
// run may intern its symbols in another order: a restored series joins at the first input of its
// name, or at stop if none comes, so that its partial bar still leaves.
#include "transforms.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace qflow::nodes {
namespace {

// floor(a / b) for b > 0.
int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return a % b < 0 ? q - 1 : q;
}

}  // namespace

class ResampleTransform {
 public:
  static NodeSpec spec() {
    return NodeSpec("transform.resample", "transform")
        .summary("Time bars from ticks, or coarser bars from finer bars (OHLCV, per symbol)")
        .doc("Aggregates ticks (price, size) or bars into bars of `interval`, per symbol: open first, "
             "high max, low min, close last, volume summed. Buckets are aligned to the Unix epoch "
             "shifted by `origin` (a session start such as 8h); a bar is labelled with its bucket's "
             "open time in UTC and emitted as soon as its bucket is complete: when a sub-bar ends at "
             "the bucket's end, or when input of a later bucket arrives; the last partial bucket is "
             "emitted at stop. Gaps emit nothing or flat bars at the previous close with zero volume "
             "(`empty`); late or out-of-order input is dropped and counted, or fails the run (`late`). "
             "Input bars must have an interval dividing `interval` and lie within one bucket.")
        .warmup("a bar once its bucket is complete (the last partial one at stop)")
        .param(ParamSpec::duration("interval").required().min(1)
                   .doc("bar length: 1s, 1m, 5m, 15m, 1h, 4h, 1d or any positive duration"))
        .param(ParamSpec::duration("origin").default_value("0")
                   .doc("offset of the bucket grid from the Unix epoch, i.e. the session start as a "
                        "time of day: 8h = 1d bars from 08:00 UTC, 570m = from 09:30 UTC; taken "
                        "modulo interval; 0 = epoch-aligned"))
        .param(ParamSpec::choice("empty", {"skip", "flat"}).default_value("skip")
                   .doc("buckets without input: skip = no bar; flat = a bar at the previous close "
                        "with zero volume for each missing bucket between two inputs"))
        .param(ParamSpec::choice("late", {"fail", "drop"}).default_value("fail")
                   .doc("input older than the symbol's previous input: fail = stop with an error "
                        "naming its time and bucket; drop = skip it, count, warn"))
        .input("in", Kind::tick | Kind::bar, "ticks or finer bars, in time order per symbol", QF_PORT_MULTIPLE)
        .output("bars", Kind::bar, "the bars, labelled by their open time, per symbol");
  }

  explicit ResampleTransform(const NodeConfig& cfg)
      : interval_(cfg.params().duration_ns("interval")),
        flat_(choice(cfg.params().string("empty"), "empty", "skip", "flat")),
        drop_(choice(cfg.params().string("late"), "late", "fail", "drop")) {
    if (interval_ <= 0)
      throw std::invalid_argument("interval must be a positive duration (1s, 1m, 5m, 1h, 1d...), got " +
                                  std::to_string(interval_) + "ns");
    origin_ = cfg.params().duration_ns("origin") % interval_;
  }

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    Piece p = piece(ctx, ev);
    Series& s = series_.of(ctx, ev.symbol);
    if (s.seen && ev.time_ns < s.watermark) {
      late(ctx, ev, s);
      return;
    }
    const int64_t b = bucket_of(ev.time_ns);
    if (s.seen && b != s.bucket) {
      if (s.pending) emit(ctx, ev.symbol, s);
      if (flat_)
        for (int64_t k = s.bucket + interval_; k < b; k += interval_)
          ctx.emit(0, make_bar(ev.symbol, k, s.close, s.close, s.close, s.close, 0, interval_));
    }
    if (s.pending && b == s.bucket) {
      s.high = std::max(s.high, p.high);
      s.low = std::min(s.low, p.low);
      s.close = p.close;
      s.volume += p.volume;
    } else {
      s.bucket = b;
      s.open = p.open, s.high = p.high, s.low = p.low, s.close = p.close, s.volume = p.volume;
      s.pending = true;
    }
    s.seen = true;
    s.watermark = p.end;
    if (ev.kind == QF_KIND_BAR && p.end >= b + interval_) emit(ctx, ev.symbol, s);
  }

  // The last bucket of every symbol is incomplete but final: emitted as it stands.
  void stop(Context& ctx) {
    series_.join_all(ctx);
    series_.for_each([&](uint32_t symbol, Series& s) {
      if (s.pending) emit(ctx, symbol, s);
    });
    if (late_count_ > 0)
      ctx.log(LogLevel::warn, "dropped " + std::to_string(late_count_) + " late or out-of-order inputs (first: " +
                                  first_late_ + ")");
  }

  void save_state(StateWriter& w) const {
    w.put<uint64_t>(late_count_);
    w.put_string(first_late_);
    series_.save(w, [](StateWriter& out, const Series& s) {
      out.put<uint8_t>(static_cast<uint8_t>((s.seen ? 1 : 0) | (s.pending ? 2 : 0)));
      out.put<int64_t>(s.watermark);
      out.put<int64_t>(s.bucket);
      for (double x : {s.open, s.high, s.low, s.close, s.volume}) out.put<double>(x);
    });
  }

  void restore_state(StateReader& r) {
    late_count_ = r.get<uint64_t>();
    first_late_ = r.get_string();
    series_.restore(r, [](StateReader& in, Series& s) {
      const auto flags = in.get<uint8_t>();
      s.seen = flags & 1;
      s.pending = flags & 2;
      s.watermark = in.get<int64_t>();
      s.bucket = in.get<int64_t>();
      for (double* x : {&s.open, &s.high, &s.low, &s.close, &s.volume}) *x = in.get<double>();
    });
  }

 private:
  // One symbol's progress. `bucket` is the start of the bucket being filled (pending) or of the
  // last one emitted, whose close the flat bars of a gap carry.
  struct Series {
    bool seen = false;      // an input was accepted: watermark, bucket and close are set
    bool pending = false;   // bucket `bucket` holds input not yet emitted
    int64_t watermark = 0;  // input before this is late: the previous tick's time, the previous bar's end
    int64_t bucket = 0;
    double open = 0, high = 0, low = 0, close = 0, volume = 0;
  };
  // One input as a piece of a bar: a tick is a bar of one price ending where it starts.
  struct Piece {
    double open, high, low, close, volume;
    int64_t end;
  };

  static bool choice(const std::string& v, const char* name, const char* no, const char* yes) {
    if (v != no && v != yes) throw std::invalid_argument(std::string(name) + " must be " + no + " or " + yes + ", got '" + v + "'");
    return v == yes;
  }

  int64_t bucket_of(int64_t t) const { return origin_ + floor_div(t - origin_, interval_) * interval_; }

  std::string name(const Context& ctx, uint32_t symbol) const {
    const std::string_view n = ctx.lookup(symbol);
    return n.empty() ? "symbol #" + std::to_string(symbol) : std::string(n);
  }

  Piece piece(const Context& ctx, const qf_event& ev) const {
    const auto refuse = [&](const std::string& what) {
      return std::invalid_argument(name(ctx, ev.symbol) + ": " + kind_name(ev.kind) + " at " + format_time(ev.time_ns) +
                                   " " + what);
    };
    if (ev.kind == QF_KIND_TICK) {
      const qf_tick& t = ev.u.tick;
      if (!std::isfinite(t.price) || !std::isfinite(t.size)) throw refuse("has a non-finite price or size");
      return Piece{t.price, t.price, t.price, t.price, t.size, ev.time_ns};
    }
    if (ev.kind != QF_KIND_BAR) throw refuse("cannot be resampled: the input takes ticks and bars");
    const qf_bar& b = ev.u.bar;
    for (double x : {b.open, b.high, b.low, b.close, b.volume})
      if (!std::isfinite(x)) throw refuse("has a non-finite price or volume");
    if (b.interval_ns <= 0 || interval_ % b.interval_ns != 0)
      throw refuse("is a " + format_duration(b.interval_ns) + " bar, which cannot make " + format_duration(interval_) +
                   " bars: the input interval must divide the target interval");
    const int64_t end = ev.time_ns + b.interval_ns;
    if (bucket_of(end - 1) != bucket_of(ev.time_ns))
      throw refuse("(a " + format_duration(b.interval_ns) + " bar) crosses the bucket boundary at " +
                   format_time(bucket_of(end - 1)) + ": input bars must lie within one " + format_duration(interval_) +
                   " bucket (origin " + format_duration(origin_) + ")");
    return Piece{b.open, b.high, b.low, b.close, b.volume, end};
  }

  void emit(Context& ctx, uint32_t symbol, Series& s) {
    ctx.emit(0, make_bar(symbol, s.bucket, s.open, s.high, s.low, s.close, s.volume, interval_));
    s.pending = false;
  }

  void late(Context& ctx, const qf_event& ev, const Series& s) {
    const std::string what = name(ctx, ev.symbol) + " " + kind_name(ev.kind) + " at " + format_time(ev.time_ns) +
                             " (bucket " + format_time(bucket_of(ev.time_ns)) + ") arrived after input up to " +
                             format_time(s.watermark) + " (bucket " + format_time(s.bucket) + ")";
    if (!drop_)
      throw std::runtime_error("late or out-of-order input: " + what +
                               "; set late: drop to skip and count such input");
    if (late_count_++ == 0) {
      first_late_ = what;
      ctx.log(LogLevel::warn, "dropping late or out-of-order input: " + what + "; further ones are counted");
    }
  }

  int64_t interval_;
  int64_t origin_ = 0;  // in [0, interval)
  bool flat_;           // empty: flat
  bool drop_;           // late: drop

  SymbolStates<Series> series_;
  uint64_t late_count_ = 0;
  std::string first_late_;
};

void register_resample(Registrar& r) { r.add<ResampleTransform>(); }

}  // namespace qflow::nodes
