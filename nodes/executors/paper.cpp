// executor.paper — simulated execution against the market stream, backtrader's conventions.
//
// Orders arriving on `orders` are validated and answered at once (ACCEPTED, or REJECTED with
// QF_REJECT_INVALID; a QF_ORDER_CANCEL removes the pending order with the same origin and id).
// An accepted order waits for the first market event of its symbol that comes in a later cycle
// and is stamped at or after order time + `latency`: a market order decided on bar t fills at
// the open of bar t+1. Prices per market event: a bar's open/high/low/close; a tick's price, a
// quote's ask (buys) or bid (sells) stand for a bar whose four prices are that one price.
//   market      the open
//   limit       buy if low <= limit at min(open, limit); sell if high >= limit at max(open, limit)
//   stop        buy if high >= stop at max(open, stop); sell if low <= stop at min(open, stop)
//   stop-limit  backtrader's rule: once the stop is reached it is a limit order; on the bar that
//               reaches it intrabar, close vs open decides whether the limit was still reachable
// Slippage moves the price against the order (buys *(1+bps/1e4), sells *(1-bps/1e4)); limit
// and triggered stop-limit orders never fill beyond their limit. Fills are complete (no volume
// model). Commission is `commission` times the traded value, per side. Time in force: GTC waits;
// IOC expires after its first eligible market event; DAY expires at the first market event of a
// later UTC day.
//
// Accounting: cash -= side*quantity*price + commission; positions per symbol with the
// average-cost method (adding re-averages, reducing realises (price - average) per unit, a
// reversal opens the rest at the fill price); realized_pnl is before commission. With
// `check_cash` a buy whose cost and commission exceed cash at fill time is REJECTED
// (insufficient cash); without `allow_short` a sell below a zero position is REJECTED
// (insufficient position). Fills and order updates carry the order's origin, symbol and tag.
// After every market event (its fills first) one account snapshot: equity = cash + sum of
// position * last price (bar close, tick price, quote mid). At stop, pending orders EXPIRE and
// open positions stay open, marked at their last price.
//
// Live reload: `commission` and `slippage_bps` may change while a pipeline runs (paper
// trading); the new values apply to fills from the next event on.
#include <qflow/sdk.hpp>

#include <mutex>
#include <optional>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace qflow::nodes {

namespace {

// Quantities this close to a position (relative to the order) count as all of it, so fractional
// sizes that do not add up exactly in binary can still close a position.
constexpr double kQuantityTolerance = 1e-9;
// Marks pending orders restored from a checkpoint: they arrived in a cycle before the cut.
constexpr uint64_t kEarlierCycle = UINT64_MAX;
constexpr int64_t kNanosPerDay = 86400 * kNanosPerSecond;

// The prices one market event offers one side of an order.
struct PriceBar {
  double open, high, low, close;
};

struct PendingOrder {
  qf_event order;  // as received, time filled in
  uint64_t cycle;  // seq of the cycle it arrived in
  uint8_t triggered;  // stop-limit whose stop has been reached
};

struct SymbolBook {
  uint32_t symbol = 0;
  std::string name;  // symbol ids are per process; names survive a restore elsewhere
  double quantity = 0, average_price = 0, realized_pnl = 0, last_price = 0;
  std::vector<PendingOrder> pending;  // arrival order
};

int64_t utc_day(int64_t ns) { return ns / kNanosPerDay - (ns % kNanosPerDay < 0 ? 1 : 0); }

bool is_limit_like(const qf_order& o) { return o.type == QF_ORDER_LIMIT || o.type == QF_ORDER_STOP_LIMIT; }

std::optional<double> limit_price(const qf_order& o, const PriceBar& m) {
  if (o.side == QF_SIDE_BUY) {
    if (m.low <= o.limit_price) return std::min(m.open, o.limit_price);
  } else if (m.high >= o.limit_price) {
    return std::max(m.open, o.limit_price);
  }
  return std::nullopt;
}

// The unslipped fill price of `p` on `m`, if it fills there.
std::optional<double> match(PendingOrder& p, const PriceBar& m) {
  const qf_order& o = p.order.u.order;
  const bool buy = o.side == QF_SIDE_BUY;
  switch (o.type) {
    case QF_ORDER_MARKET: return m.open;
    case QF_ORDER_LIMIT: return limit_price(o, m);
    case QF_ORDER_STOP:
      if (buy && m.high >= o.stop_price) return std::max(m.open, o.stop_price);
      if (!buy && m.low <= o.stop_price) return std::min(m.open, o.stop_price);
      return std::nullopt;
    default: break;  // stop-limit
  }
  const double stop = o.stop_price, limit = o.limit_price;
  if (p.triggered || (buy ? m.open >= stop : m.open <= stop)) {
    p.triggered = 1;
    return limit_price(o, m);
  }
  if (buy ? m.high < stop : m.low > stop) return std::nullopt;
  // The stop was crossed inside the bar; which way the bar went afterwards is guessed from its
  // close, as backtrader does.
  p.triggered = 1;
  if (buy) {
    if (limit >= stop) return stop;
    if (m.open > m.close && limit >= m.close) return limit;
  } else {
    if (limit <= stop) return stop;
    if (m.open <= m.close && limit <= m.close) return limit;
  }
  return std::nullopt;
}

}  // namespace

class PaperExecutor {
 public:
  static NodeSpec spec() {
    return NodeSpec("executor.paper", "executor")
        .summary("Simulated fills at the next market price, with commission, slippage and latency")
        .doc("Fills orders against later market events of their symbol (a market order decided on "
             "bar t fills at the open of bar t+1), keeps cash and average-cost positions per "
             "symbol, and emits fills, order updates and an account snapshot after every market "
             "event. Limit, stop and stop-limit orders follow backtrader's bar rules.")
        .param(ParamSpec::number("cash").default_value("100000").min(0).doc("starting cash (> 0)"))
        .param(ParamSpec::number("commission").default_value("0").min(0).max(1).reloadable()
                   .doc("fraction of the traded value charged per side"))
        .param(ParamSpec::number("slippage_bps").default_value("0").min(0).reloadable()
                   .doc("price moved against every fill, in basis points"))
        .param(ParamSpec::boolean("allow_short").default_value("false").doc("allow sells below a zero position"))
        .param(ParamSpec::boolean("check_cash").default_value("true")
                   .doc("reject buys whose cost and commission exceed the cash"))
        .param(ParamSpec::duration("latency").default_value("0")
                   .doc("an order fills no earlier than a market event stamped order time + latency"))
        .input("market", Kind::bar | Kind::tick | Kind::quote, "the prices orders fill against")
        .input("orders", Kind::order, "orders from strategies or risk nodes", QF_PORT_MULTIPLE)
        .output("fills", Kind::fill, "one per executed order")
        .output("updates", Kind::order_update, "accepted, filled, rejected, cancelled, expired")
        .output("account", Kind::account, "cash and equity, initially and after every market event")
        .simulates_market();
  }

  explicit PaperExecutor(const NodeConfig& cfg)
      : initial_cash_(cfg.params().number("cash")),
        commission_(cfg.params().number("commission")),
        slippage_(cfg.params().number("slippage_bps") / 1e4),
        allow_short_(cfg.params().boolean("allow_short")),
        check_cash_(cfg.params().boolean("check_cash")),
        latency_(cfg.params().duration_ns("latency")),
        cash_(initial_cash_) {
    if (!(initial_cash_ > 0) || !std::isfinite(initial_cash_)) throw std::invalid_argument("cash must be > 0");
    for (const qf_slot_info& s : cfg.slots()) slot_port_.push_back(s.port);
  }

  void start(Context& ctx) {
    resolve_symbols(ctx);
    emit_account(ctx, ctx.now(), QF_EVENT_INITIAL);
  }

  void on_event(Context& ctx, uint32_t slot, const qf_event& ev) {
    resolve_symbols(ctx);
    if (slot >= slot_port_.size()) throw std::invalid_argument("event on an unknown slot");
    if (slot_port_[slot] == kMarketPort) {
      if (ev.kind != QF_KIND_BAR && ev.kind != QF_KIND_TICK && ev.kind != QF_KIND_QUOTE)
        throw std::invalid_argument(std::string("unexpected ") + kind_name(ev.kind) + " event on market");
      on_market(ctx, ev);
    } else if (ev.kind == QF_KIND_ORDER) {
      on_order(ctx, ev);
    } else {
      throw std::invalid_argument(std::string("unexpected ") + kind_name(ev.kind) + " event on orders");
    }
  }

  void stop(Context& ctx) {
    resolve_symbols(ctx);
    for (SymbolBook& b : books_) {
      for (const PendingOrder& p : b.pending)
        emit_update(ctx, p.order, QF_ORDER_EXPIRED, QF_REJECT_NONE, 0, 0, ctx.now());
      b.pending.clear();
    }
  }

  void prepare_reload(const ParamView& p) {
    if (p.number("cash") != initial_cash_ || p.boolean("allow_short") != allow_short_ ||
        p.boolean("check_cash") != check_cash_ || p.duration_ns("latency") != latency_)
      throw std::invalid_argument("only commission and slippage_bps can change while running");
    std::lock_guard lock(reload_mutex_);
    pending_ = std::pair{p.number("commission"), p.number("slippage_bps") / 1e4};
  }
  void commit_reload(Context& ctx) {
    std::lock_guard lock(reload_mutex_);
    if (!pending_) throw std::runtime_error("no prepared parameters to apply");
    commission_ = pending_->first;
    slippage_ = pending_->second;
    pending_.reset();
    ctx.log(LogLevel::info, "commission " + std::to_string(commission_) + ", slippage " + std::to_string(slippage_ * 1e4) + " bps");
  }
  void abort_reload() {
    std::lock_guard lock(reload_mutex_);
    pending_.reset();
  }

  void save_state(StateWriter& w) const {
    w.put<double>(cash_);
    w.put<double>(commission_paid_);
    w.put<uint64_t>(next_fill_id_);
    w.put<uint64_t>(books_.size());
    for (const SymbolBook& b : books_) {
      w.put_string(b.name);
      w.put<uint32_t>(b.symbol);
      w.put<double>(b.quantity);
      w.put<double>(b.average_price);
      w.put<double>(b.realized_pnl);
      w.put<double>(b.last_price);
      w.put<uint64_t>(b.pending.size());
      for (const PendingOrder& p : b.pending) {
        w.put<qf_event>(p.order);
        w.put<uint8_t>(p.triggered);
      }
    }
  }

  void restore_state(StateReader& r) {
    cash_ = r.get<double>();
    commission_paid_ = r.get<double>();
    next_fill_id_ = r.get<uint64_t>();
    books_.clear();
    const uint64_t n = r.get<uint64_t>();
    for (uint64_t i = 0; i < n; ++i) {
      SymbolBook& b = books_.emplace_back();
      b.name = r.get_string();
      b.symbol = r.get<uint32_t>();
      b.quantity = r.get<double>();
      b.average_price = r.get<double>();
      b.realized_pnl = r.get<double>();
      b.last_price = r.get<double>();
      const uint64_t pending = r.get<uint64_t>();
      for (uint64_t j = 0; j < pending; ++j) {
        const qf_event order = r.get<qf_event>();
        b.pending.push_back(PendingOrder{order, kEarlierCycle, r.get<uint8_t>()});
      }
    }
    symbols_stale_ = true;
  }

 private:
  static constexpr uint32_t kMarketPort = 0, kFillsPort = 0, kUpdatesPort = 1, kAccountPort = 2;

  // After a restore, symbol ids are re-interned from the saved names (ids are per process).
  void resolve_symbols(Context& ctx) {
    if (!symbols_stale_) return;
    index_.clear();
    for (size_t i = 0; i < books_.size(); ++i) {
      SymbolBook& b = books_[i];
      if (!b.name.empty()) b.symbol = ctx.intern(b.name);
      for (PendingOrder& p : b.pending) p.order.symbol = b.symbol;
      index_[b.symbol] = i;
    }
    symbols_stale_ = false;
  }

  SymbolBook& book(Context& ctx, uint32_t symbol) {
    const auto it = index_.find(symbol);
    if (it != index_.end()) return books_[it->second];
    index_.emplace(symbol, books_.size());
    SymbolBook& b = books_.emplace_back();
    b.symbol = symbol;
    b.name = std::string(ctx.lookup(symbol));
    return b;
  }

  void on_order(Context& ctx, const qf_event& ev) {
    qf_event order = ev;
    if (order.time_ns == 0) order.time_ns = ctx.now();
    const qf_order& o = order.u.order;
    if (o.type == QF_ORDER_CANCEL) return cancel(ctx, order);
    if (const char* why = invalid(order)) {
      ctx.log(LogLevel::warn, "order " + std::to_string(o.order_id) + " rejected: " + why);
      return emit_update(ctx, order, QF_ORDER_REJECTED, QF_REJECT_INVALID, 0, 0, order.time_ns);
    }
    book(ctx, order.symbol).pending.push_back(PendingOrder{order, ev.seq, 0});
    emit_update(ctx, order, QF_ORDER_ACCEPTED, QF_REJECT_NONE, 0, 0, order.time_ns);
  }

  const char* invalid(const qf_event& ev) {
    const qf_order& o = ev.u.order;
    if (ev.symbol == 0) return "no symbol";
    if (!(o.quantity > 0) || !std::isfinite(o.quantity)) return "quantity must be positive and finite";
    if (o.side != QF_SIDE_BUY && o.side != QF_SIDE_SELL) return "side must be +1 or -1";
    if (o.type < QF_ORDER_MARKET || o.type > QF_ORDER_STOP_LIMIT) return "unknown order type";
    if (o.time_in_force < QF_TIF_GTC || o.time_in_force > QF_TIF_IOC) return "unknown time in force";
    if (is_limit_like(o) && !std::isfinite(o.limit_price)) return "limit price must be finite";
    if ((o.type == QF_ORDER_STOP || o.type == QF_ORDER_STOP_LIMIT) && !std::isfinite(o.stop_price))
      return "stop price must be finite";
    if (find(ev.origin, o.order_id)) return "an order with this id is pending";
    return nullptr;
  }

  struct PendingRef {
    SymbolBook* book;
    size_t index;
  };
  std::optional<PendingRef> find(uint32_t origin, uint64_t order_id) {
    for (SymbolBook& b : books_)
      for (size_t i = 0; i < b.pending.size(); ++i)
        if (b.pending[i].order.origin == origin && b.pending[i].order.u.order.order_id == order_id)
          return PendingRef{&b, i};
    return std::nullopt;
  }

  void cancel(Context& ctx, const qf_event& request) {
    const std::optional<PendingRef> hit = find(request.origin, request.u.order.order_id);
    if (!hit) {
      ctx.log(LogLevel::warn, "cancel of order " + std::to_string(request.u.order.order_id) + " rejected: not pending");
      return emit_update(ctx, request, QF_ORDER_REJECTED, QF_REJECT_INVALID, 0, 0, request.time_ns);
    }
    std::vector<PendingOrder>& pending = hit->book->pending;
    const qf_event order = pending[hit->index].order;
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(hit->index));
    emit_update(ctx, order, QF_ORDER_CANCELLED, QF_REJECT_NONE, 0, 0, request.time_ns);
  }

  void on_market(Context& ctx, const qf_event& ev) {
    SymbolBook& b = book(ctx, ev.symbol);
    if (!b.pending.empty()) match_pending(ctx, b, ev);
    b.last_price = mark(ev);
    emit_account(ctx, ev.time_ns, 0);
  }

  // Fills, expires or keeps each waiting order of this symbol, in arrival order.
  void match_pending(Context& ctx, SymbolBook& b, const qf_event& ev) {
    std::vector<PendingOrder> waiting;
    for (PendingOrder& p : b.pending) {
      const qf_order& o = p.order.u.order;
      if (p.cycle == ev.seq) {
        waiting.push_back(p);
      } else if (o.time_in_force == QF_TIF_DAY && utc_day(ev.time_ns) > utc_day(p.order.time_ns)) {
        emit_update(ctx, p.order, QF_ORDER_EXPIRED, QF_REJECT_NONE, 0, 0, ev.time_ns);
      } else if (ev.time_ns - p.order.time_ns < latency_) {
        waiting.push_back(p);
      } else if (const std::optional<double> price = match(p, prices(ev, o.side))) {
        execute(ctx, b, p.order, slipped(o, *price), ev.time_ns);
      } else if (o.time_in_force == QF_TIF_IOC) {
        emit_update(ctx, p.order, QF_ORDER_EXPIRED, QF_REJECT_NONE, 0, 0, ev.time_ns);
      } else {
        waiting.push_back(p);
      }
    }
    b.pending = std::move(waiting);
  }

  static PriceBar prices(const qf_event& ev, int32_t side) {
    switch (ev.kind) {
      case QF_KIND_BAR: return {ev.u.bar.open, ev.u.bar.high, ev.u.bar.low, ev.u.bar.close};
      case QF_KIND_TICK: return {ev.u.tick.price, ev.u.tick.price, ev.u.tick.price, ev.u.tick.price};
      default: {
        const double p = side == QF_SIDE_BUY ? ev.u.quote.ask : ev.u.quote.bid;
        return {p, p, p, p};
      }
    }
  }
  static double mark(const qf_event& ev) {
    switch (ev.kind) {
      case QF_KIND_BAR: return ev.u.bar.close;
      case QF_KIND_TICK: return ev.u.tick.price;
      default: return (ev.u.quote.bid + ev.u.quote.ask) / 2;
    }
  }

  double slipped(const qf_order& o, double price) const {
    const double p = o.side == QF_SIDE_BUY ? price * (1 + slippage_) : price * (1 - slippage_);
    if (!is_limit_like(o)) return p;
    return o.side == QF_SIDE_BUY ? std::min(p, o.limit_price) : std::max(p, o.limit_price);
  }

  void execute(Context& ctx, SymbolBook& b, const qf_event& order, double price, int64_t time) {
    const qf_order& o = order.u.order;
    const double commission = o.quantity * price * commission_;
    if (o.side == QF_SIDE_BUY && check_cash_ && o.quantity * price + commission > cash_)
      return emit_update(ctx, order, QF_ORDER_REJECTED, QF_REJECT_INSUFFICIENT_CASH, 0, 0, time);
    if (o.side == QF_SIDE_SELL && !allow_short_ && o.quantity > b.quantity * (1 + kQuantityTolerance))
      return emit_update(ctx, order, QF_ORDER_REJECTED, QF_REJECT_INSUFFICIENT_POSITION, 0, 0, time);

    cash_ -= o.side * o.quantity * price + commission;
    commission_paid_ += commission;
    move_position(b, o.side * o.quantity, price);

    qf_event fill = reply(order, Kind::fill, time);
    fill.u.fill = qf_fill{o.order_id, o.quantity, price, commission, o.side, o.tag, next_fill_id_++};
    ctx.emit(kFillsPort, fill);
    emit_update(ctx, order, QF_ORDER_FILLED, QF_REJECT_NONE, o.quantity, price, time);
  }

  // Average-cost accounting of a signed quantity traded at `price`.
  static void move_position(SymbolBook& b, double delta, double price) {
    const double before = b.quantity;
    double after = before + delta;
    if (std::abs(after) <= kQuantityTolerance * std::abs(delta)) after = 0;
    if (before == 0 || (before > 0) == (delta > 0)) {
      b.average_price = (std::abs(before) * b.average_price + std::abs(delta) * price) / std::abs(after);
    } else {
      const double closed = std::min(std::abs(delta), std::abs(before));
      b.realized_pnl += closed * (price - b.average_price) * (before > 0 ? 1 : -1);
      if (after == 0) b.average_price = 0;
      else if ((after > 0) != (before > 0)) b.average_price = price;
    }
    b.quantity = after;
  }

  static qf_event reply(const qf_event& order, Kind kind, int64_t time) {
    qf_event ev = make_event(kind, order.symbol, time);
    ev.origin = order.origin;
    return ev;
  }

  void emit_update(Context& ctx, const qf_event& order, int32_t status, int32_t reason, double filled,
                   double average_price, int64_t time) const {
    const qf_order& o = order.u.order;
    qf_event ev = reply(order, Kind::order_update, time);
    // Terminal states leave nothing remaining (FIX's LeavesQty).
    const double remaining = status == QF_ORDER_ACCEPTED ? o.quantity : 0;
    ev.u.order_update = qf_order_update{o.order_id, filled, remaining, average_price, status, reason, o.tag, 0};
    ctx.emit(kUpdatesPort, ev);
  }

  void emit_account(Context& ctx, int64_t time, uint16_t flags) const {
    double value = 0, realized = 0;
    for (const SymbolBook& b : books_) {
      value += b.quantity * b.last_price;
      realized += b.realized_pnl;
    }
    qf_event ev = make_event(Kind::account, 0, time);
    ev.flags = flags;
    ev.u.account = qf_account{cash_, cash_ + value, value, realized, commission_paid_, 0};
    ctx.emit(kAccountPort, ev);
  }

  // configuration
  double initial_cash_, commission_, slippage_;
  std::mutex reload_mutex_;  // guards pending_: prepared on the reload thread, applied on ours
  std::optional<std::pair<double, double>> pending_;  // commission, slippage
  bool allow_short_, check_cash_;
  int64_t latency_;
  std::vector<uint32_t> slot_port_;

  // mutable state
  double cash_;
  double commission_paid_ = 0;
  uint64_t next_fill_id_ = 1;
  std::vector<SymbolBook> books_;  // first-seen order, so sums are deterministic
  std::unordered_map<uint32_t, size_t> index_;
  bool symbols_stale_ = false;
};

void register_paper(Registrar& r) { r.add<PaperExecutor>(); }

}  // namespace qflow::nodes
