// Facts as tables: the columns of each family and the text of each cell, shared by
// `qflow query`, `qflow export` and anything else that shows facts to people.
//
// Every row starts with time (ISO 8601 UTC), seq, symbol, node and output (the port that
// emitted it); bars and values add interval. The family's own columns follow:
//   bars           open, high, low, close, volume
//   ticks          price, size, aggressor, trade_id
//   quotes         bid, ask, bid_size, ask_size
//   values         value
//   signals        value, confidence
//   orders         origin, order_id, side, type, quantity, limit_price, stop_price, time_in_force, tag
//   order_updates  origin, order_id, status, reason, filled_quantity, remaining_quantity, average_price, tag
//   fills          origin, order_id, fill_id, side, quantity, price, commission, tag
//   positions      quantity, average_price, realized_pnl, unrealized_pnl
//   equity         cash, equity, position_value, realized_pnl, commission
//   alerts         level, code, text, value
//   signal_inputs  kind, value   (output = the input's label; one row per input of the cycle)
//   events         level, event, text   (the runtime's: node "runtime" or the node concerned)
// Signals' `inputs` column lists what the node's inputs held when it emitted the signal,
// "label=value" separated by spaces, when the inputs were given (set_signal_inputs).
// Numbers are the shortest text that reads back to the same double (as the CSV sinks write
// them), so facts and sink files can be compared exactly. `origin` is the node that placed the
// order.
#pragma once

#include "facts.hpp"
#include "runs.hpp"

#include <map>
#include <string>
#include <vector>

namespace qflow::store {

// The runtime's events (family `events`): the alert layout, `code` one of these.
enum class RuntimeEvent : uint32_t { error = 1, resumed = 2, interrupted = 3, reload = 4 };
const char* runtime_event_name(uint32_t code);
// The node of events that concern the whole run.
inline constexpr uint32_t kRuntimeNode = 0xffffffffu;

struct FactCell {
  std::string text;
  bool number = false;  // JSON: unquoted
};

class FactTable {
 public:
  FactTable(Family f, const RunRecord& run, std::map<uint32_t, std::string> names);
  const std::vector<std::string>& columns() const { return columns_; }
  std::vector<FactCell> row(const Fact& fact) const;
  std::string node_name(uint32_t node) const;
  // For the signals family: (node, seq) → "fast=101.5 slow=99.25".
  void set_signal_inputs(const std::map<std::pair<uint32_t, uint64_t>, std::string>* inputs) { inputs_ = inputs; }

 private:
  Family family_;
  const RunRecord& run_;
  std::map<uint32_t, std::string> names_;
  std::vector<std::string> columns_;
  const std::map<std::pair<uint32_t, uint64_t>, std::string>* inputs_ = nullptr;
};

std::string format_number(double x);
std::string format_interval(int64_t ns);

}  // namespace qflow::store
