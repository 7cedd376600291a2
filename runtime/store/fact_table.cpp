#include "fact_table.hpp"

#include <qflow/events.hpp>
#include <qflow/time.hpp>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace qflow::store {

namespace {

std::vector<std::string> own_columns(Family f) {
  switch (f) {
    case Family::bars: return {"open", "high", "low", "close", "volume"};
    case Family::ticks: return {"price", "size", "aggressor", "trade_id"};
    case Family::quotes: return {"bid", "ask", "bid_size", "ask_size"};
    case Family::values: return {"value"};
    case Family::signals: return {"value", "confidence", "inputs"};
    case Family::orders:
      return {"origin", "order_id", "side", "type", "quantity", "limit_price", "stop_price", "time_in_force", "tag"};
    case Family::order_updates:
      return {"origin", "order_id", "status", "reason", "filled_quantity", "remaining_quantity", "average_price", "tag"};
    case Family::fills: return {"origin", "order_id", "fill_id", "side", "quantity", "price", "commission", "tag"};
    case Family::positions: return {"quantity", "average_price", "realized_pnl", "unrealized_pnl"};
    case Family::equity: return {"cash", "equity", "position_value", "realized_pnl", "commission"};
    case Family::alerts: return {"level", "code", "text", "value"};
    case Family::signal_inputs: return {"kind", "value"};
    case Family::events: return {"level", "event", "text"};
    case Family::count_: break;
  }
  throw std::logic_error("unknown fact family");
}

const char* kind_text(uint16_t kind) {
  switch (kind) {
    case QF_KIND_VALUE: return "value";
    case QF_KIND_SIGNAL: return "signal";
    case QF_KIND_BAR: return "bar";
    case QF_KIND_TICK: return "tick";
    case QF_KIND_QUOTE: return "quote";
    case QF_KIND_POSITION: return "position";
    case QF_KIND_ACCOUNT: return "account";
  }
  return "other";
}

const char* level_name(int32_t l) {
  switch (l) {
    case QF_LOG_TRACE: return "trace";
    case QF_LOG_DEBUG: return "debug";
    case QF_LOG_INFO: return "info";
    case QF_LOG_WARN: return "warn";
    case QF_LOG_ERROR: return "error";
  }
  return "unknown";
}

FactCell num(double x) { return {format_number(x), true}; }
FactCell integer(long long x) { return {std::to_string(x), true}; }
FactCell unsigned_int(unsigned long long x) { return {std::to_string(x), true}; }
FactCell text(std::string s) { return {std::move(s), false}; }

// "#12" (built piecewise: GCC 12 warns falsely on a literal + std::string).
std::string numbered(uint32_t id) {
  std::string s = "#";
  s += std::to_string(id);
  return s;
}

}  // namespace

std::string format_number(double x) {
  if (x == 0) x = 0;
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  if (ec != std::errc()) return "nan";
  return std::string(buf, end);
}

std::string format_interval(int64_t ns) {
  if (ns <= 0) return "";
  struct Unit {
    int64_t ns;
    const char* suffix;
  };
  for (const Unit u : {Unit{86'400'000'000'000, "d"}, Unit{3'600'000'000'000, "h"}, Unit{60'000'000'000, "m"},
                       Unit{1'000'000'000, "s"}, Unit{1'000'000, "ms"}})
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.suffix;
  return std::to_string(ns) + "ns";
}

FactTable::FactTable(Family f, const RunRecord& run, std::map<uint32_t, std::string> names)
    : family_(f), run_(run), names_(std::move(names)) {
  columns_ = {"time", "seq", "symbol", "node", "output"};
  if (f == Family::bars || f == Family::values) columns_.push_back("interval");
  for (std::string& c : own_columns(f)) columns_.push_back(std::move(c));
}

const char* runtime_event_name(uint32_t code) {
  switch (static_cast<RuntimeEvent>(code)) {
    case RuntimeEvent::error: return "error";
    case RuntimeEvent::resumed: return "resumed";
    case RuntimeEvent::interrupted: return "interrupted";
    case RuntimeEvent::reload: return "reload";
  }
  return "unknown";
}

std::string FactTable::node_name(uint32_t node) const {
  if (node == kRuntimeNode) return "runtime";
  if (node < run_.nodes.size()) return run_.nodes[node];
  return numbered(node);
}

std::vector<FactCell> FactTable::row(const Fact& fact) const {
  const SeriesKey& s = fact.series;
  const qf_event e = fact.row.event(0, s.symbol);
  std::vector<FactCell> r;
  r.reserve(columns_.size());
  r.push_back(text(format_time(e.time_ns)));
  r.push_back(unsigned_int(e.seq));
  const auto name = names_.find(s.symbol);
  r.push_back(text(name != names_.end() ? name->second : s.symbol ? numbered(s.symbol) : std::string()));
  r.push_back(text(node_name(s.node)));
  // signal_inputs: the "output" column names the input slot, by its label.
  const auto& ports = family_ == Family::signal_inputs ? run_.inputs : run_.outputs;
  const bool known_port = s.node < ports.size() && s.port < ports[s.node].size();
  r.push_back(text(known_port ? ports[s.node][s.port] : std::to_string(s.port)));
  if (family_ == Family::bars || family_ == Family::values) r.push_back(text(format_interval(s.interval)));
  auto origin = [&] { return text(e.origin ? node_name(e.origin - 1) : ""); };
  // An order's tag is an interned string (the script version that placed it), 0 for none.
  auto tag = [&](uint32_t t) {
    if (t == 0) return text("");
    const auto it = names_.find(t);
    return it != names_.end() ? text(it->second) : unsigned_int(t);
  };
  switch (family_) {
    case Family::bars:
      for (double x : {e.u.bar.open, e.u.bar.high, e.u.bar.low, e.u.bar.close, e.u.bar.volume}) r.push_back(num(x));
      break;
    case Family::ticks:
      r.push_back(num(e.u.tick.price));
      r.push_back(num(e.u.tick.size));
      r.push_back(text(side_name(e.u.tick.aggressor)));
      r.push_back(integer(e.u.tick.trade_id));
      break;
    case Family::quotes:
      for (double x : {e.u.quote.bid, e.u.quote.ask, e.u.quote.bid_size, e.u.quote.ask_size}) r.push_back(num(x));
      break;
    case Family::values: r.push_back(num(e.u.value.value)); break;
    case Family::signals: {
      r.push_back(num(e.u.signal.value));
      r.push_back(num(e.u.signal.confidence));
      std::string inputs;
      if (inputs_)
        if (const auto it = inputs_->find({s.node, e.seq}); it != inputs_->end()) inputs = it->second;
      r.push_back(text(std::move(inputs)));
      break;
    }
    case Family::events: {
      r.push_back(text(level_name(e.u.alert.level)));
      r.push_back(text(runtime_event_name(e.u.alert.code)));
      const auto t = names_.find(e.u.alert.text);
      r.push_back(text(t != names_.end() ? t->second : ""));
      break;
    }
    case Family::signal_inputs: {
      r.push_back(text(kind_text(static_cast<uint16_t>(fact.row.payload[1]))));
      double v;
      std::memcpy(&v, &fact.row.payload[0], sizeof v);
      r.push_back(num(v));
      break;
    }
    case Family::orders:
      r.push_back(origin());
      r.push_back(unsigned_int(e.u.order.order_id));
      r.push_back(text(side_name(e.u.order.side)));
      r.push_back(text(order_type_name(e.u.order.type)));
      r.push_back(num(e.u.order.quantity));
      r.push_back(num(e.u.order.limit_price));
      r.push_back(num(e.u.order.stop_price));
      r.push_back(text(time_in_force_name(e.u.order.time_in_force)));
      r.push_back(tag(e.u.order.tag));
      break;
    case Family::order_updates:
      r.push_back(origin());
      r.push_back(unsigned_int(e.u.order_update.order_id));
      r.push_back(text(order_status_name(e.u.order_update.status)));
      r.push_back(text(e.u.order_update.reason == QF_REJECT_NONE ? "" : reject_reason_name(e.u.order_update.reason)));
      r.push_back(num(e.u.order_update.filled_quantity));
      r.push_back(num(e.u.order_update.remaining_quantity));
      r.push_back(num(e.u.order_update.average_price));
      r.push_back(tag(e.u.order_update.tag));
      break;
    case Family::fills:
      r.push_back(origin());
      r.push_back(unsigned_int(e.u.fill.order_id));
      r.push_back(unsigned_int(e.u.fill.fill_id));
      r.push_back(text(side_name(e.u.fill.side)));
      r.push_back(num(e.u.fill.quantity));
      r.push_back(num(e.u.fill.price));
      r.push_back(num(e.u.fill.commission));
      r.push_back(tag(e.u.fill.tag));
      break;
    case Family::positions:
      for (double x : {e.u.position.quantity, e.u.position.average_price, e.u.position.realized_pnl, e.u.position.unrealized_pnl})
        r.push_back(num(x));
      break;
    case Family::equity:
      for (double x : {e.u.account.cash, e.u.account.equity, e.u.account.position_value, e.u.account.realized_pnl,
                       e.u.account.commission})
        r.push_back(num(x));
      break;
    case Family::alerts: {
      r.push_back(text(level_name(e.u.alert.level)));
      r.push_back(unsigned_int(e.u.alert.code));
      const auto t = names_.find(e.u.alert.text);
      r.push_back(text(t != names_.end() ? t->second : ""));
      r.push_back(num(e.u.alert.value));
      break;
    }
    case Family::count_: break;
  }
  return r;
}

}  // namespace qflow::store
