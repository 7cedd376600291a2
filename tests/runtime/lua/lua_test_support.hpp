// Shared helpers of the Lua host tests: scripts written to the test work folder, a `lua` node
// in the harness, and readers for what it emitted.
#pragma once

#include "node_harness.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace qflow::testing::lua {

// Writes `text` to <work dir>/lua/<name>.lua and returns the file's absolute path.
inline std::string write_script(const std::string& name, const std::string& text) {
  const std::filesystem::path dir = std::filesystem::path(QFLOW_TEST_WORK_DIR) / "lua";
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / (name + ".lua");
  std::ofstream(file, std::ios::binary) << text;
  return std::filesystem::absolute(file).string();
}

inline HarnessSlot bar_slot(const std::string& label = "bars") { return {"in", label, QF_KIND_BIT(QF_KIND_BAR)}; }
inline HarnessSlot value_slot(const std::string& label) { return {"in", label, QF_KIND_BIT(QF_KIND_VALUE)}; }

// A `lua` node running `script` (a path), with extra parameters and inputs (default: one bar input).
inline NodeHarness lua_node(const std::string& script, std::map<std::string, std::string> params = {},
                            std::vector<HarnessSlot> slots = {bar_slot()}) {
  params["script"] = script;
  return NodeHarness(plugin_path("qflow_lua"), "lua", params, std::move(slots));
}

inline qf_event bar(uint32_t symbol, int64_t time_ns, double close) {
  return make_bar(symbol, time_ns, close, close + 1, close - 1, close, 1000, 60'000'000'000);
}

inline std::vector<double> signal_values(const std::vector<Output>& out) {
  std::vector<double> v;
  for (const Output& o : out)
    if (o.port_name == "signals") v.push_back(o.ev.u.signal.value);
  return v;
}

inline std::vector<qf_order> orders(const std::vector<Output>& out) {
  std::vector<qf_order> v;
  for (const Output& o : out)
    if (o.port_name == "orders") v.push_back(o.ev.u.order);
  return v;
}

inline qf_event fill(uint32_t symbol, uint64_t order_id, int32_t side, double quantity, double price,
                     double commission = 0, int64_t time_ns = 0) {
  qf_event ev = make_event(Kind::fill, symbol, time_ns);
  ev.u.fill.order_id = order_id;
  ev.u.fill.side = side;
  ev.u.fill.quantity = quantity;
  ev.u.fill.price = price;
  ev.u.fill.commission = commission;
  return ev;
}

inline qf_event order_update(uint32_t symbol, uint64_t order_id, int32_t status, int32_t reason = QF_REJECT_NONE) {
  qf_event ev = make_event(Kind::order_update, symbol);
  ev.u.order_update.order_id = order_id;
  ev.u.order_update.status = status;
  ev.u.order_update.reason = reason;
  return ev;
}

inline qf_event account(double cash, double equity, bool initial = false) {
  qf_event ev = make_event(Kind::account, 0);
  ev.flags = initial ? QF_EVENT_INITIAL : 0;
  ev.u.account.cash = cash;
  ev.u.account.equity = equity;
  return ev;
}

}  // namespace qflow::testing::lua
