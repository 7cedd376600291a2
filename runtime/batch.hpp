// What flows between stages: a batch of events in causal order. Batches are shared read-only
// by every stage that consumes them; the ticket of the source batch they derive from rides
// along, and when the last holder lets go the source may produce another (backpressure).
#pragma once

#include <qflow/abi.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

// A value answered by a node of a batch stage, as it travels in a lane: a qf_value_answer (32
// bytes instead of an event's 80: twenty values a bar cross between cores in less than half
// the memory), its port the answering node's output port. A lane of them is handed as it is to
// a node taking values in columns (abi.h, 11).
struct ValueAnswer : qf_value_answer {
  ValueAnswer() {}  // left unset: a vector of them is resized, then filled, without zeroing first
  ValueAnswer(uint64_t s, int64_t t, double v, uint32_t sym, uint32_t p) : qf_value_answer{s, t, v, sym, p} {}

  // The value as an event of `stream`, written in place as eight-byte words, in order: kind,
  // flags and symbol; time; seq; origin and stream; value; then zeros to the end. (An event
  // built on the stack, or in an array, and then copied costs a stalled store-to-load forward
  // per word.)
  void write(qf_event& e, uint32_t stream) const {
    static_assert(offsetof(qf_event, symbol) == 4 && offsetof(qf_event, time_ns) == 8 && offsetof(qf_event, seq) == 16 &&
                  offsetof(qf_event, origin) == 24 && offsetof(qf_event, stream) == 28 && offsetof(qf_event, u) == 32 &&
                  sizeof(qf_event) == 80 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
    unsigned char* const to = reinterpret_cast<unsigned char*>(&e);
    auto word = [to](size_t k, uint64_t w) { std::memcpy(to + 8 * k, &w, sizeof w); };
    word(0, uint64_t{QF_KIND_VALUE} | uint64_t{symbol} << 32);
    word(1, static_cast<uint64_t>(time_ns));
    word(2, seq);
    word(3, uint64_t{stream} << 32);
    word(4, std::bit_cast<uint64_t>(value));
    std::memset(to + 40, 0, sizeof e - 40);
  }
  qf_event event(uint32_t stream) const {
    qf_event e;
    write(e, stream);
    return e;
  }
};
// A lane's values are handed on as an array of qf_value_answer.
static_assert(sizeof(ValueAnswer) == sizeof(qf_value_answer) && alignof(ValueAnswer) == alignof(qf_value_answer));

// One node's answers to a batch, in seq order: as events, or as values when every output of
// the node carries values only. The node's output streams are first_stream .. + ports - 1: a
// value of port p is of stream first_stream + p.
struct Lane {
  std::vector<qf_event> events;
  std::vector<ValueAnswer> values;
  uint32_t first_stream = 0;
  uint32_t ports = 0;
  bool empty() const { return events.empty() && values.empty(); }
  void clear() {
    events.clear();
    values.clear();
  }
};

struct Batch {
  uint64_t number = 0;  // position in its stream of batches, from 1
  uint64_t checkpoint = 0;  // a checkpoint barrier: stages contribute after processing it
  std::vector<qf_event> events;
  // What a batch stage's nodes answered, one lane per node, handed on as the nodes wrote them
  // instead of being merged into `events` (a copy of every answer). A cycle's events are those
  // of `events` with its seq, then each lane's with that seq, lane by lane.
  std::vector<Lane> lanes;
  std::shared_ptr<FlowTicket> ticket;

  bool has_lanes() const {
    for (const Lane& lane : lanes)
      if (!lane.empty()) return true;
    return false;
  }
  bool empty() const { return events.empty() && !has_lanes(); }

  // Where a walk stands in one lane.
  struct LaneCursor {
    const ValueAnswer* value;
    const ValueAnswer* values_end;
    const qf_event* event;
    const qf_event* events_end;
    uint32_t first_stream;
  };
  // Walks the batch cycle by cycle, in cycle order: for each cycle, on_event(const qf_event&)
  // or on_value(const ValueAnswer&, uint32_t stream) for each of its events, then end_cycle(), which returns
  // false to stop. `cursors` is the caller's, to keep its capacity between batches.
  template <class OnEvent, class OnValue, class EndCycle>
  void walk_cycles(std::vector<LaneCursor>& cursors, OnEvent&& on_event, OnValue&& on_value, EndCycle&& end_cycle) const;
  // The batch as one sequence of events in cycle order.
  void append_in_cycle_order(std::vector<qf_event>& to) const {
    std::vector<LaneCursor> cursors;
    walk_cycles(
        cursors, [&](const qf_event& e) { to.push_back(e); }, [&](const ValueAnswer& v, uint32_t stream) { v.write(to.emplace_back(), stream); },
        [] { return true; });
  }
};

template <class OnEvent, class OnValue, class EndCycle>
void Batch::walk_cycles(std::vector<LaneCursor>& cursors, OnEvent&& on_event, OnValue&& on_value, EndCycle&& end_cycle) const {
  constexpr uint64_t kNone = UINT64_MAX;  // no seq gets this far
  const qf_event* next = events.data();
  const qf_event* const events_end = next + events.size();
  const size_t n = lanes.size();
  cursors.resize(n);
  uint64_t seq = next != events_end ? next->seq : kNone;  // the cycle to walk: the least seq left
  for (size_t k = 0; k < n; ++k) {
    const Lane& lane = lanes[k];
    LaneCursor& c = cursors[k];
    c.value = lane.values.data();
    c.values_end = c.value + lane.values.size();
    c.event = lane.events.data();
    c.events_end = c.event + lane.events.size();
    c.first_stream = lane.first_stream;
    if (c.value != c.values_end) seq = std::min(seq, c.value->seq);
    if (c.event != c.events_end) seq = std::min(seq, c.event->seq);
  }
  LaneCursor* const cursor = cursors.data();
  while (seq != kNone) {
    // The next cycle's seq is found on the way: where the batch's events and each lane stop.
    uint64_t following = kNone;
    // A cycle's events (of the batch, or of a lane) to `f` one by one; returns where they stop.
    auto take_cycle = [&](auto* at, auto* const end, auto&& f) __attribute__((always_inline)) {
      for (; at != end; ++at) {
        if (at->seq != seq) {
          following = std::min(following, at->seq);
          break;
        }
        f(*at);
      }
      return at;
    };
    next = take_cycle(next, events_end, on_event);
    for (size_t k = 0; k < n; ++k) {
      LaneCursor& c = cursor[k];
      const uint32_t first_stream = c.first_stream;
      c.value = take_cycle(c.value, c.values_end, [&](const ValueAnswer& v) __attribute__((always_inline)) {
        on_value(v, first_stream + v.port);
      });
      c.event = take_cycle(c.event, c.events_end, on_event);
    }
    if (!end_cycle()) return;
    seq = following;
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
    for (Lane& lane : b->lanes) lane.clear();  // each keeps its capacity for the next batch
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
