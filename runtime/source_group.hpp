// The sources feeding one part of the graph, merged into a single stream of batches in event
// time order (ties: the source listed first in the pipeline). Each event becomes one cycle
// downstream; the group numbers them with increasing sequence numbers.
//
// In paper and live mode the sources are live: a batch holds what has arrived, without waiting
// for a full batch or for a quiet source, and the group hands on empty batches while nothing
// arrives. Each source's events stay in its own time order; across sources they go out in the
// order they arrive (the earliest first among those that have).
//
// Used by one thread at a time (the TBB input node's body), except `progress()`.
#pragma once

#include "batch.hpp"
#include "node_runtime.hpp"
#include "store/checkpoint.hpp"
#include "store/facts.hpp"

#include <atomic>
#include <string>
#include <vector>

namespace qflow {

class SourceGroup final : public EventRouter {
 public:
  SourceGroup(const Graph& graph, std::vector<NodeRuntime*> sources, uint32_t batch_size);

  // `resumed`: restored from a checkpoint; what sources emit in start is dropped.
  bool start(bool resumed = false);
  // Fills `out` with up to batch_size events; false when every source is exhausted and
  // nothing was added, or on failure (see error()).
  bool next(std::vector<qf_event>& out);
  bool finish();

  // Market events are recorded as facts by `facts` (may be null) as they enter a batch.
  void attach_facts(store::FactWriter* facts) { facts_ = facts; }
  store::FactWriter* facts() const { return facts_; }
  // The group's part of a checkpoint taken right after a batch was filled: its sources' states,
  // what it has read ahead of that batch, its sequence numbers. Throws on failure.
  store::Contribution checkpoint();
  // Before start: continues from a checkpoint part (the sources' own states are restored by
  // the caller). Symbol ids are re-interned by name.
  void restore(const std::string& runtime_part, SymbolTable& symbols);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }
  const std::vector<NodeRuntime*>& sources() const { return sources_; }

  // EventRouter
  void emit(NodeRuntime& node, uint32_t port, const qf_event& ev) override;
  const qf_event* input(NodeRuntime&, uint32_t) override { return nullptr; }
  int64_t now(const NodeRuntime&) override { return last_time_; }

 private:
  struct Pending {
    std::vector<qf_event> events;
    size_t head = 0;
    bool done = false;
  };
  bool refill(size_t i);
  void record(const qf_event& e) {
    const auto [node, port] = owner_of_stream_[e.stream];
    facts_->record(e, node, port, e.stream, e.kind == QF_KIND_BAR ? e.u.bar.interval_ns : 0);
  }

  const Graph& graph_;
  std::vector<NodeRuntime*> sources_;
  std::vector<Pending> pending_;
  std::vector<int32_t> local_of_;
  std::vector<std::pair<uint32_t, uint16_t>> owner_of_stream_;  // stream → (node, port)
  store::FactWriter* facts_ = nullptr;
  uint32_t batch_size_;
  const bool live_;
  std::vector<char> asked_;  // live: which sources were asked for events during this batch
  uint64_t seq_ = 0;
  int64_t last_time_ = 0;
  std::atomic<uint64_t> events_{0};
  std::string error_;
};

}  // namespace qflow
