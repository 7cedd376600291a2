// Logical graph → physical plan.
//
// Nodes that must run in lockstep are fused into one serial stage: every non-source, non-sink
// node connected to another (a strategy with its indicators, risk node and executor, so that
// fills return before the next bar) forms a *compute* stage. Sources feeding a compute stage
// form a *source* stage that merges them in time order. Indicators that run a batch at a time
// (QF_NODE_BATCHED) and read only sources or each other form a *batch* stage between the
// sources and the compute stage: they work on the next batch while the strategy works on this
// one. Each sink gets a stage of its own, fed with batches by its compute stage, so persistence
// and reporting run beside the computation; where nothing is left to compute (sinks reading
// sources or indicators only), sinks read the sources or batch stage's batches directly.
// Independent parts of the graph get independent stages and run in parallel.
#pragma once

#include "graph.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace qflow {

struct StagePlan {
  enum class Kind { sources, batch, compute, sink };
  Kind kind = Kind::compute;
  std::string name;
  std::vector<uint32_t> nodes;  // graph node indices, topological order
  int input = -1;               // the stage whose batches this one consumes
  std::vector<bool> exported;   // per stream: consumed by a downstream stage
};

struct Plan {
  std::vector<StagePlan> stages;  // every stage after the stage it consumes
};

Plan make_plan(const Graph& graph);

// The pipeline as Graphviz DOT; with `plan`, stages are drawn as clusters.
void write_dot(std::ostream& out, const Graph& graph, const Plan* plan);

}  // namespace qflow
