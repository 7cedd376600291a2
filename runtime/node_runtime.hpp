// One live node instance and the host API it calls. The runtime hands every node the same
// qf_host_api; the node's qf_context says which instance is calling and where its events go
// (its stage, or its source group).
#pragma once

#include "graph.hpp"
#include "symbol_table.hpp"

#include <qflow/abi.h>
#include <qflow/events.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace qflow {

struct NodeRuntime;

// Where a node's emitted events go and what its input() calls see.
class EventRouter {
 public:
  virtual ~EventRouter() = default;
  virtual void emit(NodeRuntime& node, uint32_t port, const qf_event& ev) = 0;
  virtual void emit_many(NodeRuntime& node, const uint32_t* ports, const qf_event* events, uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) emit(node, ports[i], events[i]);
  }
  virtual void emit_values(NodeRuntime& node, const qf_value_answer* answers, uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) emit(node, answers[i].port, make_value(answers[i]));
  }
  virtual const qf_event* input(NodeRuntime& node, uint32_t slot) = 0;
  virtual int64_t now(const NodeRuntime& node) = 0;
};

// Shared by all nodes of one run.
struct RunServices {
  SymbolTable symbols;
  std::string output_dir;
};

}  // namespace qflow

struct qf_context {
  qflow::NodeRuntime* node;
};

namespace qflow {

// A counter one thread writes and others read: plain loads and stores, no read-modify-write.
class Counter {
 public:
  Counter& operator++() {
    v_.store(v_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return *this;
  }
  Counter& operator+=(uint64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    return *this;
  }
  operator uint64_t() const { return v_.load(std::memory_order_relaxed); }  // NOLINT: reads like a number

 private:
  std::atomic<uint64_t> v_{0};
};

// How long a node's callbacks take, in power-of-two buckets of nanoseconds (bucket b holds
// durations in [2^(b-1), 2^b)); written by the node's thread, read by the control server.
struct NodeTiming {
  static constexpr int kBuckets = 40;
  Counter calls, busy_ns, errors;
  Counter buckets[kBuckets];
  void record(uint64_t ns) {
    ++calls;
    busy_ns += ns;
    int b = ns == 0 ? 0 : 64 - __builtin_clzll(ns);
    ++buckets[b < kBuckets ? b : kBuckets - 1];
  }
  // The q-quantile's bucket, reported as its upper bound in ns (0 when nothing was recorded).
  uint64_t quantile(double q) const;
};

struct NodeRuntime {
  qf_context ctx{this};
  uint32_t index = 0;  // in the graph
  const GraphNode* def = nullptr;
  std::shared_ptr<const NodeType> type;  // keeps the library loaded while the instance lives
  qf_node_instance instance{};
  std::vector<qf_slot_info> slot_infos;
  RunServices* services = nullptr;
  EventRouter* router = nullptr;
  std::shared_ptr<spdlog::logger> logger;
  std::string reported_error;       // from report_error during the current callback
  std::string contract_violation;   // the node broke the ABI contract (bad port or kind)
  std::atomic<double> progress{-1};
  Counter events_in, events_out;
  NodeTiming timing;  // collected in paper and live mode

  NodeRuntime() = default;
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;
  ~NodeRuntime();

  const qf_node_vtable& vt() const { return *instance.vtable; }
  uint32_t origin_handle() const { return index + 1; }
  // "node 'fast' (indicator.sma)"
  std::string describe() const;
  // The failure message of a callback that returned QF_ERROR.
  std::string failure(const char* callback) const;
  // The node's state blob; nullopt when the node keeps none (no save_state). Throws
  // std::runtime_error naming the node when saving fails.
  std::optional<std::string> save_state();
  // Restores a blob saved by save_state. Throws std::runtime_error naming the node.
  void restore_state(const std::string& blob);
};

const qf_host_api* host_api();

// Creates every node of the graph, in graph order. Throws std::runtime_error naming the node
// when a node cannot be created.
std::vector<std::unique_ptr<NodeRuntime>> create_nodes(const Graph& graph, RunServices& services);

}  // namespace qflow
