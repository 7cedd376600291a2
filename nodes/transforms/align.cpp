// transform.align — bars of several symbols joined on their timestamp.
//
// The legs are the symbols listed in `symbols`, in that order. Bars of every leg arrive on one
// input (several sources may be wired to it) and are grouped by event time (the bar's open time):
// an *instant* is one such time. For each instant the node emits every leg's bar, in the order of
// `symbols`, all stamped with the instant, in one callback — so a pair node downstream receives
// both legs of an instant in the same cycle.
//
// When an instant is decided: the runtime merges sources in time order, so once an input with a
// later time arrives every input of the earlier instant has been seen. An instant is therefore
// emitted at once when its last missing leg arrives, and otherwise decided when the first input
// of a later instant arrives (or at stop, for the last one):
//   mode: inner  an instant missing a leg is dropped;
//   mode: ffill  a missing leg is carried forward from its previous bar: open = high = low =
//                close = that bar's close, volume 0, that bar's interval, the instant's time —
//                provided the previous bar is at most `max_stale` older than the instant
//                (0 = no limit). A leg with no bar yet, or a staler one, drops the instant.
//                Staleness is measured from the leg's last real bar: carried bars do not renew it.
// Input for an instant already decided (older than it, or a leg repeated within an instant) is
// skipped and counted; bars of symbols not in `symbols` are ignored and counted. At stop the
// node logs how many instants it dropped, how many legs it carried and those counts.
//
// The state — the pending instant's bars, each leg's last real bar, the last decided instant
// and the counters — is keyed by leg position, so it needs no symbol ids.
#include "transforms.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace qflow::nodes {

class AlignTransform {
 public:
  static NodeSpec spec() {
    return NodeSpec("transform.align", "transform")
        .summary("Bars of several symbols joined on timestamp (inner join or forward fill)")
        .doc("Groups the bars of the legs listed in `symbols` by time and emits, for each instant with "
             "every leg, all legs' bars in the order of `symbols`, stamped with the instant. An instant "
             "is emitted as soon as its last leg arrives, else decided when input of a later instant "
             "arrives: inner drops it; ffill carries each missing leg's previous close (OHLC = close, "
             "volume 0) if that bar is at most max_stale old, and drops the instant otherwise. Dropped "
             "instants and skipped inputs are counted and logged at stop.")
        .warmup("the first instant with every leg (ffill: every leg seen and within max_stale)")
        .param(ParamSpec::string("symbols").required()
                   .doc("the legs, comma-separated (\"BTCUSDT,ETHUSDT\"); output order"))
        .param(ParamSpec::choice("mode", {"inner", "ffill"}).default_value("inner")
                   .doc("inner = only instants where every leg has a bar; ffill = carry a missing "
                        "leg's previous close forward"))
        .param(ParamSpec::duration("max_stale").default_value("0")
                   .doc("ffill: the oldest previous bar carried forward (instant - its time); "
                        "0 = no limit"))
        .input("bars", Kind::bar, "bars of the legs, in time order",
               QF_PORT_MULTIPLE)
        .output("bars", Kind::bar, "per complete instant, each leg's bar in the order of symbols");
  }

  explicit AlignTransform(const NodeConfig& cfg)
      : names_(parse_symbols(cfg.params().string("symbols"))),
        ffill_(cfg.params().string("mode") == "ffill"),
        max_stale_(cfg.params().duration_ns("max_stale")),
        legs_(names_.size()) {
    const std::string mode = cfg.params().string("mode");
    if (mode != "inner" && mode != "ffill") throw std::invalid_argument("mode must be inner or ffill, got '" + mode + "'");
  }

  void start(Context& ctx) { resolve(ctx); }

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    resolve(ctx);
    const auto it = std::find(ids_.begin(), ids_.end(), ev.symbol);
    if (ev.kind != QF_KIND_BAR || it == ids_.end()) {
      if (ignored_++ == 0) first_ignored_ = std::string(kind_name(ev.kind)) + " of " + std::string(ctx.lookup(ev.symbol));
      return;
    }
    const int64_t t = ev.time_ns;
    if ((decided_any_ && t <= decided_) || (pending_ && t < instant_)) {
      ++skipped_;
      return;
    }
    if (pending_ && t > instant_) decide(ctx);
    if (!pending_) {
      pending_ = true;
      instant_ = t;
      for (Leg& l : legs_) l.present = false;
    }
    Leg& leg = legs_[static_cast<size_t>(it - ids_.begin())];
    if (leg.present) {  // the same leg twice in one instant: the first one stands
      ++skipped_;
      return;
    }
    leg.present = true;
    leg.bar = ev.u.bar;
    leg.has_last = true;
    leg.last = ev.u.bar;
    leg.last_time = t;
    if (std::all_of(legs_.begin(), legs_.end(), [](const Leg& l) { return l.present; })) decide(ctx);
  }

  void stop(Context& ctx) {
    resolve(ctx);
    if (pending_) decide(ctx);
    std::string msg = "emitted " + std::to_string(emitted_) + " instants, dropped " + std::to_string(dropped_) +
                      " with a missing leg";
    if (ffill_) msg += ", carried " + std::to_string(carried_) + " legs forward";
    if (skipped_) msg += "; skipped " + std::to_string(skipped_) + " late or repeated bars";
    if (ignored_) msg += "; ignored " + std::to_string(ignored_) + " events not of a leg (first: " + first_ignored_ + ")";
    ctx.log(skipped_ || ignored_ ? LogLevel::warn : LogLevel::info, msg);
  }

  void save_state(StateWriter& w) const {
    w.put<uint64_t>(legs_.size());
    w.put<uint8_t>(static_cast<uint8_t>((pending_ ? 1 : 0) | (decided_any_ ? 2 : 0)));
    w.put<int64_t>(instant_);
    w.put<int64_t>(decided_);
    for (uint64_t c : {emitted_, dropped_, carried_, skipped_, ignored_}) w.put<uint64_t>(c);
    w.put_string(first_ignored_);
    for (const Leg& l : legs_) {
      w.put<uint8_t>(static_cast<uint8_t>((l.present ? 1 : 0) | (l.has_last ? 2 : 0)));
      w.put<qf_bar>(l.bar);
      w.put<qf_bar>(l.last);
      w.put<int64_t>(l.last_time);
    }
  }

  void restore_state(StateReader& r) {
    const uint64_t n = r.get<uint64_t>();
    if (n != legs_.size())
      throw std::runtime_error("align state has " + std::to_string(n) + " legs, but symbols lists " +
                               std::to_string(legs_.size()));
    const auto flags = r.get<uint8_t>();
    pending_ = flags & 1;
    decided_any_ = flags & 2;
    instant_ = r.get<int64_t>();
    decided_ = r.get<int64_t>();
    for (uint64_t* c : {&emitted_, &dropped_, &carried_, &skipped_, &ignored_}) *c = r.get<uint64_t>();
    first_ignored_ = r.get_string();
    for (Leg& l : legs_) {
      const auto leg_flags = r.get<uint8_t>();
      l.present = leg_flags & 1;
      l.has_last = leg_flags & 2;
      l.bar = r.get<qf_bar>();
      l.last = r.get<qf_bar>();
      l.last_time = r.get<int64_t>();
    }
  }

 private:
  struct Leg {
    bool present = false;   // has a bar at the pending instant: `bar`
    bool has_last = false;  // has had a bar: `last`, at `last_time`
    qf_bar bar{};
    qf_bar last{};
    int64_t last_time = 0;
  };

  static std::vector<std::string> parse_symbols(const std::string& list) {
    std::vector<std::string> out;
    size_t from = 0;
    for (;;) {
      const size_t comma = list.find(',', from);
      std::string s = list.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
      if (s.empty())
        throw std::invalid_argument("symbols must list the legs, comma-separated (\"BTCUSDT,ETHUSDT\"), got '" + list +
                                    "'" + (list.find_first_not_of(" \t") == std::string::npos ? "" : " (an empty name)"));
      if (std::find(out.begin(), out.end(), s) != out.end())
        throw std::invalid_argument("symbols lists '" + s + "' twice");
      out.push_back(std::move(s));
      if (comma == std::string::npos) return out;
      from = comma + 1;
    }
  }

  void resolve(Context& ctx) {
    if (ids_.size() == names_.size()) return;
    ids_.clear();
    for (const std::string& n : names_) ids_.push_back(ctx.intern(n));
  }

  // The pending instant is complete or will get no more input: emit it, filled, or drop it.
  void decide(Context& ctx) {
    pending_ = false;
    decided_any_ = true;
    decided_ = instant_;
    uint64_t carry = 0;
    for (const Leg& l : legs_) {
      if (l.present) continue;
      const bool fresh = max_stale_ == 0 || instant_ - l.last_time <= max_stale_;
      if (!ffill_ || !l.has_last || !fresh) {
        ++dropped_;
        return;
      }
      ++carry;
    }
    for (size_t k = 0; k < legs_.size(); ++k) {
      const Leg& l = legs_[k];
      const qf_bar& b = l.present ? l.bar : l.last;
      const double c = b.close;
      ctx.emit(0, l.present ? make_bar(ids_[k], instant_, b.open, b.high, b.low, b.close, b.volume, b.interval_ns)
                            : make_bar(ids_[k], instant_, c, c, c, c, 0, b.interval_ns));
    }
    carried_ += carry;
    ++emitted_;
  }

  const std::vector<std::string> names_;  // the legs, in output order
  const bool ffill_;
  const int64_t max_stale_;  // 0 = no limit

  std::vector<uint32_t> ids_;  // symbol id per leg, interned at start
  std::vector<Leg> legs_;
  bool pending_ = false;      // instant_ has at least one leg's bar and is undecided
  int64_t instant_ = 0;
  bool decided_any_ = false;  // decided_ is set
  int64_t decided_ = 0;       // the last instant emitted or dropped: input up to it is late
  uint64_t emitted_ = 0, dropped_ = 0, carried_ = 0, skipped_ = 0, ignored_ = 0;
  std::string first_ignored_;
};

void register_align(Registrar& r) { r.add<AlignTransform>(); }

}  // namespace qflow::nodes
