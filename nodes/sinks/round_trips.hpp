// Round trips: the life of a position from flat to flat, per symbol, from a stream of fills.
//
// A fill from flat opens a trip in its direction, a fill on the position's side adds to it, a
// fill against it closes up to the quantity held. A fill larger than the position is split: the
// part that makes it flat closes the trip, the rest opens the next trip in the other direction,
// and the fill's commission is shared between the two in proportion to quantity.
//
// pnl_gross is the realized pnl of the average-cost method, where each close realizes
// (price - average cost) * quantity * direction. Each close removes quantity * average cost
// from the cost basis and each opening fill adds quantity * price, so once the trip is flat the
// sum of those realizations is exactly direction * (value of the closing fills - value of the
// opening fills). That is how it is computed: no running average whose rounding accumulates.
//
// Quantities are doubles, and 0.1 + 0.2 is not 0.3: a closing quantity within 1e-9 (relative)
// of the quantity held counts as exactly that quantity, so a position does not linger at 1e-17.
//
// Memory is one open trip per symbol with a position, whatever the number of fills. The state
// a sink checkpoints is those open trips, each under its symbol's name: symbol ids belong to one
// process, so a restored book files its trips under this process's ids at its first fill.
#pragma once

#include <qflow/sdk.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qflow::nodes {

struct RoundTrip {
  uint32_t symbol = 0;
  int32_t direction = 0;  // +1 long, -1 short
  int64_t entry_time = 0;  // first opening fill
  int64_t exit_time = 0;   // last closing fill
  double entry_quantity = 0, entry_value = 0;  // sums of quantity and quantity * price
  double exit_quantity = 0, exit_value = 0;
  double pnl_gross = 0;  // set when the trip closes
  double commission = 0;
  // When every fill of a side had the same price, that price exactly: value / quantity may be
  // an ulp away from it (100 * 24.959999 / 100 is not 24.959999).
  double entry_uniform_price = 0, exit_uniform_price = 0;
  bool entry_uniform = true, exit_uniform = true;

  double size() const { return entry_quantity; }
  double entry_price() const { return entry_uniform ? entry_uniform_price : entry_value / entry_quantity; }
  double exit_price() const {
    if (exit_quantity <= 0) return 0.0;
    return exit_uniform ? exit_uniform_price : exit_value / exit_quantity;
  }
  void add_entry(double q, double price) {
    if (entry_quantity > 0 && price != entry_uniform_price) entry_uniform = false;
    entry_uniform_price = price;
    entry_quantity += q;
    entry_value += q * price;
  }
  void add_exit(double q, double price) {
    if (exit_quantity > 0 && price != exit_uniform_price) exit_uniform = false;
    exit_uniform_price = price;
    exit_quantity += q;
    exit_value += q * price;
  }
  double pnl_net() const { return pnl_gross - commission; }

  void save(StateWriter& w) const {
    w.put<uint32_t>(symbol);
    w.put<int32_t>(direction);
    w.put<int64_t>(entry_time);
    w.put<int64_t>(exit_time);
    for (const double x : {entry_quantity, entry_value, exit_quantity, exit_value, pnl_gross, commission,
                           entry_uniform_price, exit_uniform_price})
      w.put<double>(x);
    w.put<uint8_t>(entry_uniform);
    w.put<uint8_t>(exit_uniform);
  }
  void restore(StateReader& r) {
    symbol = r.get<uint32_t>();
    direction = r.get<int32_t>();
    entry_time = r.get<int64_t>();
    exit_time = r.get<int64_t>();
    for (double* x : {&entry_quantity, &entry_value, &exit_quantity, &exit_value, &pnl_gross, &commission,
                      &entry_uniform_price, &exit_uniform_price})
      *x = r.get<double>();
    entry_uniform = r.get<uint8_t>() != 0;
    exit_uniform = r.get<uint8_t>() != 0;
  }
};

class RoundTripBook {
 public:
  static constexpr double kRelativeTolerance = 1e-9;

  // Applies one fill (`time_ns` is when it happened); returns the trip it closed, if any. `ctx`
  // names the symbol of a trip it opens and, after a restore, interns the saved names.
  std::optional<RoundTrip> apply(const Context& ctx, uint32_t symbol, int64_t time_ns, const qf_fill& fill) {
    check(fill);
    if (restored_) rekey(ctx);
    const double q = fill.quantity;
    const auto it = open_.find(symbol);
    if (it == open_.end()) {
      OpenTrip& pos = open_[symbol] = opened(symbol, time_ns, fill.side, q, fill.price, fill.commission);
      pos.name = ctx.lookup(symbol);
      return std::nullopt;
    }
    OpenTrip& pos = it->second;
    RoundTrip& trip = pos.trip;
    if (fill.side == trip.direction) {
      pos.held += q;
      trip.add_entry(q, fill.price);
      trip.commission += fill.commission;
      return std::nullopt;
    }

    double closing = q, remainder = 0;
    bool flat = std::abs(q - pos.held) <= kRelativeTolerance * pos.held;
    if (!flat && q > pos.held) {
      closing = pos.held;
      remainder = q - pos.held;
      flat = true;
    }
    // Each part's share is rounded once (c * part / q), so 0.75 over 10 + 20 gives 0.25 and 0.5.
    const double closing_commission = remainder > 0 ? fill.commission * closing / q : fill.commission;
    trip.add_exit(closing, fill.price);
    trip.commission += closing_commission;
    trip.exit_time = time_ns;
    if (!flat) {
      pos.held -= closing;
      return std::nullopt;
    }
    trip.pnl_gross = trip.direction * (trip.exit_value - trip.entry_value);
    const RoundTrip done = trip;
    if (remainder > 0) {
      std::string name = std::move(pos.name);
      pos = opened(symbol, time_ns, fill.side, remainder, fill.price, fill.commission * remainder / q);
      pos.name = std::move(name);
    } else {
      open_.erase(it);
    }
    return done;
  }

  size_t open_trips() const { return open_.size(); }

  // Sorted by name, so that the same open trips always give the same bytes.
  void save(StateWriter& w) const {
    std::vector<const OpenTrip*> trips;
    for (const auto& entry : open_) trips.push_back(&entry.second);
    std::sort(trips.begin(), trips.end(), [](const OpenTrip* a, const OpenTrip* b) { return a->name < b->name; });
    w.put<uint64_t>(trips.size());
    for (const OpenTrip* p : trips) {
      w.put_string(p->name);
      w.put<double>(p->held);
      p->trip.save(w);
    }
  }
  // The trips keep the saving process's symbol ids until the next apply().
  void restore(StateReader& r) {
    open_.clear();
    restored_ = true;
    for (uint64_t n = r.get<uint64_t>(); n > 0; --n) {
      OpenTrip p;
      p.name = r.get_string();
      p.held = r.get<double>();
      p.trip.restore(r);
      if (!(p.held > 0) || (p.trip.direction != QF_SIDE_BUY && p.trip.direction != QF_SIDE_SELL) ||
          !open_.emplace(p.trip.symbol, std::move(p)).second)
        throw std::runtime_error("round trip state is invalid");
    }
  }

 private:
  struct OpenTrip {
    double held = 0;  // quantity held, > 0; the direction is trip.direction
    RoundTrip trip;
    std::string name;  // of trip.symbol
  };

  // Files each open trip under this process's id of its symbol. A trip of the unnamed symbol 0
  // keeps its id.
  void rekey(const Context& ctx) {
    std::unordered_map<uint32_t, OpenTrip> by_id;
    for (auto& entry : open_) {
      OpenTrip& p = entry.second;
      if (!p.name.empty()) p.trip.symbol = ctx.intern(p.name);
      by_id.emplace(p.trip.symbol, std::move(p));
    }
    open_ = std::move(by_id);
    restored_ = false;
  }

  static void check(const qf_fill& f) {
    if (!(f.quantity > 0) || !std::isfinite(f.quantity))
      throw std::invalid_argument("fill " + std::to_string(f.order_id) + " has quantity " + std::to_string(f.quantity) +
                                  "; fills need a positive quantity");
    if (f.side != QF_SIDE_BUY && f.side != QF_SIDE_SELL)
      throw std::invalid_argument("fill " + std::to_string(f.order_id) + " has side " + std::to_string(f.side) +
                                  "; expected +1 (buy) or -1 (sell)");
    if (!std::isfinite(f.price) || !std::isfinite(f.commission))
      throw std::invalid_argument("fill " + std::to_string(f.order_id) + " has a non-finite price or commission");
  }

  static OpenTrip opened(uint32_t symbol, int64_t time_ns, int32_t side, double q, double price, double commission) {
    OpenTrip p;
    p.held = q;
    p.trip.symbol = symbol;
    p.trip.direction = side;
    p.trip.entry_time = time_ns;
    p.trip.exit_time = time_ns;
    p.trip.add_entry(q, price);
    p.trip.commission = commission;
    return p;
  }

  std::unordered_map<uint32_t, OpenTrip> open_;
  bool restored_ = false;  // open_ is keyed by the ids of the process that saved it
};

}  // namespace qflow::nodes
