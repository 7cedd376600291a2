// Event helpers over the C ABI's qf_event: kind masks and typed constructors. Events stay plain 80-byte structs; these helpers only fill them in.
#pragma once

#include <qflow/abi.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace qflow {

enum class Kind : uint16_t {
  tick = QF_KIND_TICK,
  quote = QF_KIND_QUOTE,
  bar = QF_KIND_BAR,
  value = QF_KIND_VALUE,
  signal = QF_KIND_SIGNAL,
  order = QF_KIND_ORDER,
  order_update = QF_KIND_ORDER_UPDATE,
  fill = QF_KIND_FILL,
  position = QF_KIND_POSITION,
  account = QF_KIND_ACCOUNT,
  alert = QF_KIND_ALERT,
  control = QF_KIND_CONTROL,
};

// A set of event kinds, as ports declare them.
class Kinds {
 public:
  constexpr Kinds() = default;
  constexpr Kinds(Kind k) : bits_(QF_KIND_BIT(static_cast<uint32_t>(k))) {}  // NOLINT: implicit by design
  constexpr explicit Kinds(uint32_t bits) : bits_(bits) {}
  constexpr Kinds operator|(Kinds o) const { return Kinds(bits_ | o.bits_); }
  constexpr bool contains(Kind k) const { return (bits_ & QF_KIND_BIT(static_cast<uint32_t>(k))) != 0; }
  constexpr uint32_t bits() const { return bits_; }
  static constexpr Kinds market() { return Kinds(QF_KINDS_MARKET); }
  static constexpr Kinds any() { return Kinds(QF_KINDS_ANY); }

 private:
  uint32_t bits_ = 0;
};
constexpr Kinds operator|(Kind a, Kind b) { return Kinds(a) | Kinds(b); }

inline const char* kind_name(uint32_t kind) {
  switch (kind) {
    case QF_KIND_TICK: return "tick";
    case QF_KIND_QUOTE: return "quote";
    case QF_KIND_BAR: return "bar";
    case QF_KIND_VALUE: return "value";
    case QF_KIND_SIGNAL: return "signal";
    case QF_KIND_ORDER: return "order";
    case QF_KIND_ORDER_UPDATE: return "order_update";
    case QF_KIND_FILL: return "fill";
    case QF_KIND_POSITION: return "position";
    case QF_KIND_ACCOUNT: return "account";
    case QF_KIND_ALERT: return "alert";
    case QF_KIND_CONTROL: return "control";
    default: return "unknown";
  }
}

// "bar|value" for a kind mask.
inline std::string kinds_to_string(uint32_t bits) {
  if (bits == QF_KINDS_ANY) return "any";
  std::string out;
  for (uint32_t k = 1; k < QF_KIND_COUNT_; ++k) {
    if (bits & QF_KIND_BIT(k)) {
      if (!out.empty()) out += '|';
      out += kind_name(k);
    }
  }
  return out.empty() ? "none" : out;
}

// The names orders, updates and fills go by in logs, facts, the dashboard and Lua.
inline const char* side_name(int32_t side) { return side == QF_SIDE_BUY ? "buy" : side == QF_SIDE_SELL ? "sell" : ""; }

inline const char* order_type_name(int32_t type) {
  switch (type) {
    case QF_ORDER_MARKET: return "market";
    case QF_ORDER_LIMIT: return "limit";
    case QF_ORDER_STOP: return "stop";
    case QF_ORDER_STOP_LIMIT: return "stop_limit";
    case QF_ORDER_CANCEL: return "cancel";
    default: return "unknown";
  }
}

inline const char* time_in_force_name(int32_t tif) { return tif == QF_TIF_DAY ? "day" : tif == QF_TIF_IOC ? "ioc" : "gtc"; }

inline const char* order_status_name(int32_t status) {
  switch (status) {
    case QF_ORDER_ACCEPTED: return "accepted";
    case QF_ORDER_PARTIALLY_FILLED: return "partially_filled";
    case QF_ORDER_FILLED: return "filled";
    case QF_ORDER_CANCELLED: return "cancelled";
    case QF_ORDER_REJECTED: return "rejected";
    case QF_ORDER_EXPIRED: return "expired";
    default: return "unknown";
  }
}

inline const char* reject_reason_name(int32_t reason) {
  switch (reason) {
    case QF_REJECT_NONE: return "none";
    case QF_REJECT_INSUFFICIENT_CASH: return "insufficient_cash";
    case QF_REJECT_INSUFFICIENT_POSITION: return "insufficient_position";
    case QF_REJECT_INVALID: return "invalid";
    case QF_REJECT_RISK: return "risk";
    case QF_REJECT_HALTED: return "halted";
    default: return "unknown";
  }
}

inline qf_event make_event(Kind kind, uint32_t symbol, int64_t time_ns = 0) {
  qf_event ev;
  std::memset(&ev, 0, sizeof ev);
  ev.kind = static_cast<uint16_t>(kind);
  ev.symbol = symbol;
  ev.time_ns = time_ns;
  return ev;
}

inline qf_event make_bar(uint32_t symbol, int64_t time_ns, double open, double high, double low,
                         double close, double volume, int64_t interval_ns) {
  qf_event ev = make_event(Kind::bar, symbol, time_ns);
  ev.u.bar = qf_bar{open, high, low, close, volume, interval_ns};
  return ev;
}

inline qf_event make_value(uint32_t symbol, double value, int64_t time_ns = 0) {
  qf_event ev = make_event(Kind::value, symbol, time_ns);
  ev.u.value.value = value;
  return ev;
}

// The value event an answer of emit_values stands for (its port aside).
inline qf_event make_value(const qf_value_answer& a) {
  qf_event ev = make_value(a.symbol, a.value, a.time_ns);
  ev.seq = a.seq;
  return ev;
}

inline qf_event make_market_order(uint32_t symbol, uint64_t order_id, int32_t side, double quantity,
                                  uint32_t tag = 0) {
  qf_event ev = make_event(Kind::order, symbol);
  ev.u.order.order_id = order_id;
  ev.u.order.quantity = quantity;
  ev.u.order.side = side;
  ev.u.order.type = QF_ORDER_MARKET;
  ev.u.order.time_in_force = QF_TIF_GTC;
  ev.u.order.tag = tag;
  return ev;
}

// OHLCV fields by index, in the order of kBarFields (for "field" parameters).
inline constexpr const char* kBarFields[] = {"open", "high", "low", "close", "volume"};
inline double bar_field(const qf_bar& b, int field) {
  switch (field) {
    case 0: return b.open;
    case 1: return b.high;
    case 2: return b.low;
    case 3: return b.close;
    default: return b.volume;
  }
}

}  // namespace qflow
