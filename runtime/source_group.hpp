// The sources feeding one part of the graph, merged into a single stream of batches in event
// time order (ties: the source listed first in the pipeline). Each event becomes one cycle
// downstream; the group numbers them with increasing sequence numbers.
//
// Used by one thread at a time (the TBB input node's body), except `progress()`.
#pragma once

#include "batch.hpp"
#include "node_runtime.hpp"

#include <atomic>
#include <string>
#include <vector>

namespace qflow {

class SourceGroup final : public EventRouter {
 public:
  SourceGroup(const Graph& graph, std::vector<NodeRuntime*> sources, uint32_t batch_size);

  bool start();
  // Fills `out` with up to batch_size events; false when every source is exhausted and
  // nothing was added, or on failure (see error()).
  bool next(std::vector<qf_event>& out);
  bool finish();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }
  const std::vector<NodeRuntime*>& sources() const { return sources_; }

  // EventRouter
  void emit(NodeRuntime& node, uint32_t port, const qf_event& ev) override;
  const qf_event* input(NodeRuntime&, uint32_t) override { return nullptr; }
  int64_t now() const override { return last_time_; }

 private:
  struct Pending {
    std::vector<qf_event> events;
    size_t head = 0;
    bool done = false;
  };
  bool refill(size_t i);

  const Graph& graph_;
  std::vector<NodeRuntime*> sources_;
  std::vector<Pending> pending_;
  std::vector<int32_t> local_of_;
  uint32_t batch_size_;
  uint64_t seq_ = 0;
  int64_t last_time_ = 0;
  std::atomic<uint64_t> events_{0};
  std::string error_;
};

}  // namespace qflow
