// What flows between stages: a batch of events in causal order. Batches are shared read-only
// by every stage that consumes them; the ticket of the source batch they derive from rides
// along, and when the last holder lets go the source may produce another (backpressure).
#pragma once

#include <qflow/abi.h>

#include <cstdint>
#include <functional>
#include <memory>
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
  std::vector<qf_event> events;
  std::shared_ptr<FlowTicket> ticket;
};

using BatchPtr = std::shared_ptr<const Batch>;

}  // namespace qflow
