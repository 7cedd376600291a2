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
// Memory is one open trip per symbol with a position, whatever the number of fills.
#pragma once

#include <qflow/sdk.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

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
};

class RoundTripBook {
 public:
  static constexpr double kRelativeTolerance = 1e-9;

  // Applies one fill (`time_ns` is when it happened); returns the trip it closed, if any.
  std::optional<RoundTrip> apply(uint32_t symbol, int64_t time_ns, const qf_fill& fill) {
    check(fill);
    const double q = fill.quantity;
    const auto it = open_.find(symbol);
    if (it == open_.end()) {
      open_.emplace(symbol, opened(symbol, time_ns, fill.side, q, fill.price, fill.commission));
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
    if (remainder > 0)
      pos = opened(symbol, time_ns, fill.side, remainder, fill.price, fill.commission * remainder / q);
    else
      open_.erase(it);
    return done;
  }

  size_t open_trips() const { return open_.size(); }

 private:
  struct OpenTrip {
    double held = 0;  // quantity held, > 0; the direction is trip.direction
    RoundTrip trip;
  };

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
};

}  // namespace qflow::nodes
