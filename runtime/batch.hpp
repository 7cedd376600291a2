// What flows between stages: a batch of events in causal order. Batches are shared read-only
// by every stage that consumes them; the ticket of the source batch they derive from rides
// along, and when the last holder lets go the source may produce another (backpressure).
#pragma once

#include <qflow/abi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace qflow {

class FlowTicket {
 public:
  explicit FlowTicket(std::function<void()> on_release) : on_release_(std::move(on_release)) {}
  ~FlowTicket() {
    if (on_release_) on_release_();
  }
  FlowTicket(const FlowTicket&) = delete;
  FlowTicket& operator=(const FlowTicket&) = delete;

 private:
  std::function<void()> on_release_;
};

struct Batch {
  uint64_t number = 0;  // position in its stream of batches, from 1
  uint64_t checkpoint = 0;  // a checkpoint barrier: stages contribute after processing it
  std::vector<qf_event> events;
  std::shared_ptr<FlowTicket> ticket;
};

using BatchPtr = std::shared_ptr<const Batch>;

// Recycles batches and their event buffers: allocating and freeing a fresh buffer per batch
// costs page faults and re-growth on every batch. Must outlive every batch it hands out.
class BatchPool {
 public:
  explicit BatchPool(size_t reserve) : reserve_(reserve) {}
  ~BatchPool() {
    for (Batch* b : free_) delete b;
  }
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;

  std::shared_ptr<Batch> make() {
    Batch* b = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
      }
    }
    if (!b) {
      b = new Batch;
      b->events.reserve(reserve_);
    }
    return std::shared_ptr<Batch>(b, [this](Batch* p) { recycle(p); });
  }

 private:
  void recycle(Batch* b) {
    b->events.clear();
    b->checkpoint = 0;
    b->ticket.reset();  // may release the source's next batch; not under our lock
    std::lock_guard lock(mutex_);
    free_.push_back(b);
  }

  size_t reserve_;
  std::mutex mutex_;  // guards free_
  std::vector<Batch*> free_;
};

}  // namespace qflow
