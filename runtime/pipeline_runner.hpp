// Runs a validated graph: creates the nodes, plans the stages, wires them into a oneTBB flow
// graph and drives it to the end of the data (or to Ctrl-C, or to the first node failure).
//
// Memory stays bounded however long the data: a source stage produces a batch only while fewer
// than `max_batches_in_flight` of its batches (and the batches derived from them downstream)
// are alive. Outputs are identical whatever the number of threads: every stage is serial and
// consumes its input batches in order.
#pragma once

#include "graph.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace qflow {

struct RunOptions {
  int threads = 0;  // 0: all cores
  const std::atomic<bool>* interrupted = nullptr;
  bool progress = false;  // live progress line on stderr
  bool stats = false;     // per-node event counts at the end
};

struct RunResult {
  enum class Status { ok, failed, interrupted };
  Status status = Status::ok;
  std::string error;
  uint64_t events = 0;  // market events read from the sources
  double seconds = 0;
  std::string output_dir;
};

RunResult run_pipeline(const Graph& graph, const RunOptions& options);

}  // namespace qflow
