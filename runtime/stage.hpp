// A stage: nodes fused to run in lockstep on one thread at a time, processing events one cycle
// at a time in causal order (the contract in sdk/include/qflow/abi.h).
//
// A cycle starts with the events of one sequence number taken from the input batch (one market
// event, or everything an upstream stage produced for it). Each event is delivered to the slots
// subscribed to its stream, market-simulating nodes first; events the nodes emit are queued and
// delivered in order after the emitting callback returns (never re-entrantly). Then every node
// that received something on a regular slot gets on_cycle, in topological order. Fills and order
// updates also go to the node that placed the order, account snapshots to every node sending
// orders to the executor, through on_feedback. Events on exported streams are appended to the
// output batch for downstream stages.
//
// Nodes that implement on_batch (one input from outside the stage or from another such node,
// no on_cycle, no feedback: indicators) are run once per input batch before the cycles, and
// what they emit is delivered in the cycle of the input event it answers. Every other node sees
// exactly what it would see if they had run event by event. `vectorize=false` turns this off.
// A stage of such nodes only runs no cycles: it hands their answers on as lanes of its output
// batch, as written, and the stage downstream delivers them in the cycle of their input.
//
// A stage holding one node that takes many events at once (on_events, abi.h 10: a sink) gathers
// what the node receives from a batch, in cycle order, and hands it over kBulk events at a time.
// If the node takes values in columns (on_values, abi.h 11) and a batch brings it only values
// of the lanes of a batch stage, it gets those lanes as they are, one call per batch.
//
// A stage is used by one thread at a time (TBB serial function node); it holds no locks. Its
// batch nodes reading the stage's input may run their batches in parallel: each touches only
// its own node and BatchNode, and their facts are recorded from their answers afterwards.
#pragma once

#include "batch.hpp"
#include "call_clock.hpp"
#include "node_runtime.hpp"
#include "run_control.hpp"
#include "store/checkpoint.hpp"
#include "store/facts.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace qflow {

class Stage final : public EventRouter {
 public:
  // `nodes` in topological order; `exported` flags the streams downstream stages consume.
  Stage(std::string name, const Graph& graph, std::vector<NodeRuntime*> nodes, std::vector<bool> exported,
        bool vectorize = true);

  const std::string& name() const { return name_; }
  const std::vector<NodeRuntime*>& nodes() const { return nodes_; }

  // Each appends what the stage emits for downstream stages to `out`. They return false once
  // a node has failed; error() says which and why.
  // `resumed`: the nodes were restored from a checkpoint; what they emit in start was already
  // delivered before it and is dropped.
  bool start(std::vector<qf_event>& out, bool resumed = false);
  bool process(const Batch& in, Batch& out);
  bool finish(std::vector<qf_event>& out);

  // Facts: every event a node of the stage emits is recorded by `facts` (may be null).
  void attach_facts(store::FactWriter* facts) { facts_ = facts; }
  store::FactWriter* facts() const { return facts_; }
  // This stage's part of a checkpoint taken between two batches: its facts are flushed and
  // its nodes' states saved. Throws on failure (the message names the node or the store).
  store::Contribution checkpoint();
  void restore(const std::string& runtime_part);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  uint64_t cycles() const { return cycle_; }

  // Paper and live mode: the kill switch, per-node timing, and a tap that sees every order,
  // order update, fill, position and account event a node emits (the dashboard's feed).
  using Monitor = std::function<void(const qf_event&, uint32_t node)>;
  void attach_control(RunControl* control, Monitor monitor) {
    control_ = control;
    monitor_ = std::move(monitor);
    timing_ = control != nullptr;
    if (timing_) CallClock::init();
  }

  // Work for the stage's own thread between two batches (a reload's swap). Any thread may post;
  // the runner calls run_posted() before each batch.
  void post(std::function<void()> task);
  void run_posted() {
    if (has_posted_.load(std::memory_order_acquire)) run_posted_now();
  }

  // EventRouter
  void emit(NodeRuntime& node, uint32_t port, const qf_event& ev) override;
  void emit_many(NodeRuntime& node, const uint32_t* ports, const qf_event* events, uint32_t count) override;
  void emit_values(NodeRuntime& node, const qf_value_answer* answers, uint32_t count) override;
  const qf_event* input(NodeRuntime& node, uint32_t slot) override;
  int64_t now(const NodeRuntime& node) override;

 private:
  void run_posted_now();
  void refuse_halted(NodeRuntime& node, uint32_t port, const qf_event* order);
  void flatten();
  template <class F>
  int32_t timed(NodeRuntime& rt, F&& f) {
    if (!timing_) return f();
    const uint64_t t0 = CallClock::ticks();
    const int32_t rc = f();
    rt.timing.record(CallClock::to_ns(CallClock::ticks() - t0));
    if (rc < 0) ++rt.timing.errors;
    return rc;
  }
  static constexpr uint64_t kFlattenOrderIds = uint64_t{1} << 62;  // ids of the kill switch's orders
  RunControl* control_ = nullptr;
  Monitor monitor_;
  bool timing_ = false;
  bool flattening_ = false;
  uint64_t flatten_orders_ = 0;
  std::map<std::pair<uint32_t, uint32_t>, double> held_;     // (origin, symbol) → quantity filled
  std::map<std::pair<uint32_t, uint32_t>, double> closing_;  // (origin, symbol) → signed quantity of open closing orders
  std::map<std::pair<uint32_t, uint64_t>, int32_t> closing_orders_;  // (origin, order id) → side
  std::mutex posted_mutex_;  // guards posted_
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> has_posted_{false};

  struct Target {
    uint32_t local;
    uint32_t slot;
  };
  struct Delivery {
    uint32_t local;
    uint32_t slot;  // kFeedback: to on_feedback
    const qf_event* ev;
  };
  static constexpr uint32_t kFeedback = UINT32_MAX;
  struct LocalNode {
    NodeRuntime* rt;
    std::vector<const qf_event*> current;  // per slot, valid when current_cycle matches
    std::vector<uint64_t> current_cycle;
    std::vector<uint32_t> feedback_clients;  // local nodes that send orders to this one
    bool dirty = false;
    bool failed = false;
    bool has_on_event = false;  // without it, a delivery only records the slot: no queueing
    bool only_on_events = false;  // has on_events but no on_event: gets one event at a time through it
  };

  // Stable storage for events emitted during one cycle.
  class Arena {
   public:
    qf_event* push(const qf_event& e);
    // Room for one event, to be written in place; it stays put until reset.
    qf_event* alloc() {
      if (next_ == end_) [[unlikely]]
        next_chunk();
      return next_++;
    }
    void reset() {
      chunk_ = 0;
      next_ = end_ = nullptr;
    }

   private:
    void next_chunk();
    static constexpr size_t kChunk = 256;
    std::vector<std::unique_ptr<qf_event[]>> chunks_;
    size_t chunk_ = 0;  // chunks in use
    qf_event* next_ = nullptr;
    qf_event* end_ = nullptr;
  };

  struct BatchNode {
    uint32_t local;
    uint32_t input_stream;
    int32_t upstream = -1;          // index of the batch node feeding it, -1: from outside
    std::vector<qf_event> inputs;   // gathered when they are not the whole input batch
    std::vector<qf_event> outputs;  // what it emitted during on_batch, in cycle order
    size_t cursor = 0;              // next output to deliver
    bool exported = false;          // an output stream of it is read downstream
    bool compact = false;           // answers only values, handed on as such: kept in `answers`
    std::vector<ValueAnswer> answers;
    size_t last_outputs = 0, last_answers = 0;  // the most it answered to one batch so far
    // While its on_batch runs (maybe beside others'): its inputs, the one its last answer was
    // for, and the time and bar length of the first.
    const qf_event* in = nullptr;
    const uint64_t* in_seq = nullptr;  // their seqs: input_seqs_, or `seqs` for a subset
    std::vector<uint64_t> seqs;
    size_t in_count = 0, in_at = 0;
    int64_t time = 0, interval = 0;
    bool active = false, ran = false;
    int32_t rc = 0;
  };

  BatchNode* collecting(const NodeRuntime& node);
  bool collect(BatchNode& bn, NodeRuntime& node, uint32_t port, const qf_event& ev);
  void refuse_answers(BatchNode& bn, NodeRuntime& node, size_t first, uint32_t good, size_t at, const qf_value_answer& bad);
  void run_batch_nodes(const Batch& in);
  void hand_on_lanes(const Batch& in, Batch& out);
  void inject_batch_outputs();
  void run_cycles(const Batch& in);
  void run_lane_cycles(const Batch& in);
  void run_bulk(const Batch& in);
  void hand_over_bulk(uint32_t count);
  bool run_columns(const Batch& in);
  void begin_cycle(const qf_event& first);
  void end_cycle();
  void route(const qf_event* e, bool now = false);
  void deliver(LocalNode& n, uint32_t slot, const qf_event* ev);
  void drain();
  void call_cycle_callbacks();
  void fail(LocalNode& n, const std::string& message);
  void record_signal_inputs(const qf_event& signal, NodeRuntime& node);
  bool check(LocalNode& n, int32_t rc, const char* callback) {
    if (rc >= 0 && n.rt->contract_violation.empty()) [[likely]]
      return true;
    return check_failed(n, rc, callback);
  }
  bool check_failed(LocalNode& n, int32_t rc, const char* callback);

  std::string name_;
  std::vector<NodeRuntime*> nodes_;
  std::vector<LocalNode> local_;
  std::vector<int32_t> local_of_;          // graph node index → local index, -1 if elsewhere
  struct StreamRoute {
    uint32_t first, count;  // its targets in targets_
    bool exported;
  };
  std::vector<StreamRoute> stream_routes_;  // per stream id: its targets in targets_, side by side
  std::vector<Target> targets_;
  std::vector<uint8_t> exported_;            // per stream id (bytes: tested on every event)
  std::vector<uint8_t> relevant_;            // per stream id: exported, routed or feeding a batch node
  std::vector<BatchNode> batch_nodes_;       // topological order
  std::vector<int32_t> batch_node_of_;       // local index → index in batch_nodes_, -1 if none
  std::vector<Batch::LaneCursor> lane_cursors_;  // run_lane_cycles' place in each lane of its input
  std::vector<qf_event> flat_;               // an input batch with lanes, for batch nodes
  std::vector<uint64_t> input_seqs_;         // the seqs of the batch batch nodes are reading
  bool only_batch_nodes_ = false;            // no cycles to run: inputs and answers are merged
  // The stage's one node takes its events in bulk (run_bulk): gathered here, kBulk at most.
  static constexpr uint32_t kBulk = 256;
  bool bulk_ = false;
  std::vector<qf_event> bulk_events_;
  std::vector<uint32_t> bulk_slots_;
  static constexpr uint32_t kNoSlot = UINT32_MAX, kManySlots = UINT32_MAX - 1;
  // Per stream: the node's one slot reading it, or none, or many (then stream_routes_ says
  // which). Derivable from stream_routes_, but one load instead of two dependent ones saves ~3%
  // of the indicator pipeline's instructions.
  std::vector<uint32_t> bulk_slot_of_;
  static_assert(kNoSlot == QF_NO_SLOT);
  // The stage's one node takes a batch's values in columns (run_columns): these are the columns
  // and, side by side, each one's slot of each port.
  bool columns_ = false;
  std::vector<qf_value_column> columns_of_;
  std::vector<uint32_t> column_slots_;
  std::vector<size_t> column_first_;  // where each column's slots start in column_slots_
  const Graph& graph_;
  std::vector<Delivery> queue_;
  size_t head_ = 0;
  Arena arena_;
  std::vector<qf_event>* out_ = nullptr;
  uint64_t cycle_ = 0;
  uint64_t cycle_seq_ = 0;
  int64_t cycle_time_ = 0;
  int64_t cycle_interval_ = 0;  // bar length of the cycle's market event, for facts
  uint64_t last_batch_ = 0;
  bool discard_ = false;        // resumed start: emissions were delivered before the checkpoint
  store::FactWriter* facts_ = nullptr;
  std::string error_;
};

}  // namespace qflow
