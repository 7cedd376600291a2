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
  // What a batch stage's nodes answered, one lane per node, each in seq order, handed on as the
  // nodes wrote them instead of being merged into `events` (a copy of every value). A cycle's
  // events are those of `events` with its seq, then each lane's with that seq, lane by lane.
  std::vector<std::vector<qf_event>> lanes;
  std::shared_ptr<FlowTicket> ticket;

  bool has_lanes() const {
    for (const auto& lane : lanes)
      if (!lane.empty()) return true;
    return false;
  }
  bool empty() const { return events.empty() && !has_lanes(); }

  // Calls f(first, last) for each cycle's events, in order; [first, last) are pointers into the
  // batch, kept in `scratch` (reused from call to call).
  struct Scratch {
    std::vector<const qf_event*> events;
    std::vector<size_t> cursor;  // per lane
  };
  template <class F>
  void for_each_cycle(Scratch& scratch, F&& f) const;
  // The batch as one sequence of events in cycle order.
  void append_in_cycle_order(std::vector<qf_event>& to) const {
    Scratch scratch;
    for_each_cycle(scratch, [&](const qf_event* const* first, const qf_event* const* last) {
      for (; first != last; ++first) to.push_back(**first);
    });
  }
};

template <class F>
void Batch::for_each_cycle(Scratch& scratch, F&& f) const {
  size_t next = 0;
  std::vector<size_t>& cursor = scratch.cursor;
  std::vector<const qf_event*>& cycle = scratch.events;
  cursor.assign(lanes.size(), 0);
  for (;;) {
    bool any = next < events.size();
    uint64_t seq = any ? events[next].seq : 0;
    for (size_t k = 0; k < lanes.size(); ++k)
      if (cursor[k] < lanes[k].size() && (!any || lanes[k][cursor[k]].seq < seq)) {
        seq = lanes[k][cursor[k]].seq;
        any = true;
      }
    if (!any) return;
    cycle.clear();
    for (; next < events.size() && events[next].seq == seq; ++next) cycle.push_back(&events[next]);
    for (size_t k = 0; k < lanes.size(); ++k)
      for (size_t& c = cursor[k]; c < lanes[k].size() && lanes[k][c].seq == seq; ++c) cycle.push_back(&lanes[k][c]);
    f(cycle.data(), cycle.data() + cycle.size());
  }
}

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
    for (auto& lane : b->lanes) lane.clear();  // each keeps its capacity for the next batch
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
