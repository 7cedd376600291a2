// Per-bar cost of the Lua host, measured, not asserted (run with: lua_test "[perf]").
// A minimal host drives the node's vtable directly, so the harness's own per-call bookkeeping
// stays out of the numbers. Reported in ns per bar for a few scripts.
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <random>

using namespace qflow::testing;
using namespace qflow::testing::lua;

namespace {

struct MiniHost {
  std::vector<const qf_event*> inputs;
  int64_t now = 0;
  std::vector<qf_event> orders;
  std::string error;
};

MiniHost& host_of(qf_context* c) { return *reinterpret_cast<MiniHost*>(c); }

const qf_host_api kApi = {
    sizeof(qf_host_api),
    QF_ABI_VERSION,
    [](qf_context* c, uint32_t, const qf_event* ev) {
      if (ev->kind == QF_KIND_ORDER) host_of(c).orders.push_back(*ev);
    },
    [](qf_context* c, uint32_t slot) { return slot < host_of(c).inputs.size() ? host_of(c).inputs[slot] : nullptr; },
    [](qf_context* c) { return host_of(c).now; },
    [](qf_context*, const char*, size_t) -> uint32_t { return 1; },
    [](qf_context*, uint32_t) { return qf_str{"AAPL", 4}; },
    [](qf_context*, int32_t, const char*, size_t) {},
    [](qf_context* c, const char* msg, size_t n) { host_of(c).error.assign(msg, n); },
    [](qf_context*, double) {},
    nullptr,  // no emit_many or emit_values: a host of ABI 1.2 or a harness
    nullptr,
};

double ns_per_bar(const std::string& script, int64_t budget, size_t bars) {
  static NodeHarness loader = lua_node(write_script("overhead_loader", ""));
  const qf_node_spec& spec = loader.spec();

  qf_param_value params[4]{};
  params[0] = qf_param_value{"script", QF_PARAM_PATH, 1, 0, 0, qf_str{script.data(), script.size()}};
  params[1] = qf_param_value{"instruction_budget", QF_PARAM_INT, 1, budget, double(budget), qf_str{nullptr, 0}};
  params[2] = qf_param_value{"memory_limit", QF_PARAM_INT, 1, 67108864, 67108864.0, qf_str{nullptr, 0}};
  params[3] = qf_param_value{"size", QF_PARAM_INT, 1, 100, 100.0, qf_str{nullptr, 0}};
  const qf_slot_info slots[3] = {{0, QF_KIND_BIT(QF_KIND_BAR), "bars"},
                                 {0, QF_KIND_BIT(QF_KIND_VALUE), "fast"},
                                 {0, QF_KIND_BIT(QF_KIND_VALUE), "slow"}};
  const qf_node_config cfg{sizeof(qf_node_config), "bench", params, 4, slots, 3, ".", 42, QF_MODE_BACKTEST};
  qf_node_instance node{};
  qf_error err{};
  MiniHost host;
  auto* ctx = reinterpret_cast<qf_context*>(&host);
  REQUIRE(spec.create(spec.type_data, &cfg, &kApi, &node, &err) == QF_OK);

  // A random walk with its 10- and 30-bar averages, computed up front and replayed in a loop
  // small enough to stay in cache: the node is measured, not the memory bus.
  constexpr size_t kSeries = 4096;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> step(0, 1);
  std::vector<qf_event> bar_events, fast, slow;
  double close = 100, fsum = 0, ssum = 0;
  std::vector<double> closes;
  for (size_t i = 0; i < kSeries; ++i) {
    close += step(rng);
    closes.push_back(close);
    fsum += close;
    ssum += close;
    if (i >= 10) fsum -= closes[i - 10];
    if (i >= 30) ssum -= closes[i - 30];
    const auto t = static_cast<int64_t>(i + 1) * 60'000'000'000;
    bar_events.push_back(bar(1, t, close));
    fast.push_back(qflow::make_value(1, fsum / 10, t));
    slow.push_back(qflow::make_value(1, ssum / 30, t));
  }

  host.inputs.assign(3, nullptr);
  const auto start = std::chrono::steady_clock::now();
  for (size_t k = 0; k < bars; ++k) {
    const size_t i = k % kSeries;
    // Fill the previous bar's orders at this bar's open, as the executor would.
    for (const qf_event& o : host.orders) {
      qf_event f = qflow::make_event(qflow::Kind::fill, 1, bar_events[i].time_ns);
      f.u.fill = qf_fill{o.u.order.order_id, o.u.order.quantity, bar_events[i].u.bar.open, 0, o.u.order.side, 0, 0};
      if (node.vtable->on_feedback(node.self, ctx, &f) != QF_OK) FAIL(host.error);
      qf_event u = qflow::make_event(qflow::Kind::order_update, 1, bar_events[i].time_ns);
      u.u.order_update.order_id = o.u.order.order_id;
      u.u.order_update.status = QF_ORDER_FILLED;
      if (node.vtable->on_feedback(node.self, ctx, &u) != QF_OK) FAIL(host.error);
    }
    host.orders.clear();
    host.now = bar_events[i].time_ns;
    host.inputs[0] = &bar_events[i];
    host.inputs[1] = i >= 9 ? &fast[i] : nullptr;  // a warm-up at each lap: fine for timing
    host.inputs[2] = i >= 29 ? &slow[i] : nullptr;
    if (node.vtable->on_cycle(node.self, ctx) != QF_OK) FAIL(host.error);
  }
  const auto elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  node.vtable->destroy(node.self);
  return elapsed / static_cast<double>(bars);
}

}  // namespace

TEST_CASE("lua host: per-bar overhead", "[.][perf]") {
  const size_t n = 2'000'000;
  const std::string empty = write_script("overhead_empty", "function on_bar(bar) end\n");
  const std::string values = write_script("overhead_values", "function on_bar(bar) local f, s = value('fast'), value('slow') end\n");
  const std::string fields = write_script("overhead_fields", "function on_bar(bar) local x = bar.close + bar.open + bar.high + bar.low end\n");
  const std::string none = write_script("overhead_none", "");
  const std::string cross = std::string(QFLOW_SOURCE_DIR) + "/scripts/strategies/sma_cross.lua";
  struct Run {
    const char* what;
    std::string script;
    int64_t budget;
  };
  const Run runs[] = {
      {"no on_bar defined", none, 1000000},
      {"empty on_bar", empty, 1000000},
      {"empty on_bar, budget 0 (no hook)", empty, 0},
      {"on_bar reading value() twice", values, 1000000},
      {"on_bar calling cash() twice", write_script("overhead_cash", "function on_bar(bar) local f, s = cash(), cash() end\n"), 1000000},
      {"on_bar calling a Lua function twice", write_script("overhead_luaf", "local function g(x) return x end\nfunction on_bar(bar) local f, s = g(1), g(2) end\n"), 1000000},
      {"on_bar reading 4 bar fields", fields, 1000000},
      {"sma_cross.lua", cross, 1000000},
      {"sma_cross.lua, budget 0 (no hook)", cross, 0},
  };
  for (const Run& r : runs) {
    double ns = 1e300;
    for (int rep = 0; rep < 3; ++rep) ns = std::min(ns, ns_per_bar(r.script, r.budget, n));
    std::printf("%-40s %7.1f ns/bar\n", r.what, ns);
    CHECK(ns > 0);
  }
}
