// The logical graph: a validated pipeline with every node type resolved, every parameter
// converted to its typed value and every input resolved to a producer's output port.
#pragma once

#include "node_registry.hpp"
#include "pipeline.hpp"

#include <qflow/abi.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qflow {

// Typed parameter values with the storage their strings point into.
class ParamSet {
 public:
  ParamSet() = default;
  ParamSet(const ParamSet& o) { *this = o; }
  ParamSet& operator=(const ParamSet& o);
  ParamSet(ParamSet&&) = default;
  ParamSet& operator=(ParamSet&&) = default;

  void add(qf_param_value v, const std::string& name, const std::string& text);
  const std::vector<qf_param_value>& values() const { return values_; }
  const qf_param_value* find(const std::string& name) const;
  std::string text(const std::string& name) const;  // as written (after substitution), for display

 private:
  std::vector<qf_param_value> values_;
  std::deque<std::string> names_, strings_, texts_;
};

struct Slot {
  uint32_t port = 0;           // destination input port
  uint32_t producer = 0;       // node index
  uint32_t producer_port = 0;  // output port index
  uint32_t kinds = 0;          // what the producer's port emits
  std::string label;           // the reference as written
};

struct GraphNode {
  std::string id;
  std::shared_ptr<const NodeType> type;
  std::vector<ParamDecl> extra_params;  // from the type's describe()
  ParamSet params;
  std::vector<Slot> slots;
  Position pos;
};

struct Graph {
  std::string file;
  std::string name;
  qf_mode mode = QF_MODE_BACKTEST;
  uint64_t seed = 0;
  std::string output;
  uint32_t batch_size = 1024;
  uint32_t max_batches_in_flight = 8;
  bool vectorize = true;
  bool facts = true;
  int64_t checkpoint_every_ns = 1'000'000'000;
  uint64_t checkpoint_events = 0;
  std::optional<SimulatorDef> simulator;  // started for paper and live runs
  std::vector<GraphNode> nodes;
  std::vector<uint32_t> topo_order;
  std::vector<uint32_t> stream_base;  // stream id of (node i, output p) = stream_base[i] + p

  uint32_t stream(uint32_t node, uint32_t port) const { return stream_base[node] + port; }
  uint32_t stream_count() const;
};

// Checks a loaded pipeline against the registry. All problems are reported; the graph is
// returned only when there are none.
std::optional<Graph> build_graph(const PipelineDef& def, const NodeRegistry& registry, Diagnostics& diags);

}  // namespace qflow
