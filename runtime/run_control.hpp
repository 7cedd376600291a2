// What the control API changes in a running pipeline, read by the stages on their own threads.
//
// Kill switch: once `halted`, no new order reaches an executor. A stage answers each order a
// node places with an order update REJECTED (reason HALTED), delivered back to that node as any
// executor's answer would be; cancels still go through (they reduce risk). Raising
// `flatten_epoch` also makes every stage close the positions its executors hold for each
// strategy: a market order per (strategy, symbol), placed in the strategy's name in the next
// cycle, tagged "kill switch", filled like any other order; and again in later cycles for
// whatever orders placed before the kill still fill.
#pragma once

#include <atomic>
#include <cstdint>

namespace qflow {

struct RunControl {
  std::atomic<bool> halted{false};
  std::atomic<uint64_t> flatten_epoch{0};
  std::atomic<uint64_t> orders_blocked{0};
  std::atomic<int64_t> halted_at_ns{0};  // wall clock
};

}  // namespace qflow
