#include "stage.hpp"

#include "store/fact_table.hpp"

#include <qflow/events.hpp>
#include <qflow/state.hpp>

#include <oneapi/tbb/parallel_for.h>

#include <algorithm>

namespace qflow {

void Stage::Arena::next_chunk() {
  if (chunk_ == chunks_.size()) chunks_.push_back(std::make_unique<qf_event[]>(kChunk));
  next_ = chunks_[chunk_++].get();
  end_ = next_ + kChunk;
}

qf_event* Stage::Arena::push(const qf_event& e) {
  qf_event* p = alloc();
  *p = e;
  return p;
}

Stage::Stage(std::string name, const Graph& graph, std::vector<NodeRuntime*> nodes, std::vector<bool> exported,
             bool vectorize)
    : name_(std::move(name)), nodes_(std::move(nodes)), exported_(exported.begin(), exported.end()), graph_(graph) {
  local_of_.assign(graph.nodes.size(), -1);
  std::vector<std::vector<Target>> routes(graph.stream_count());  // per stream id
  for (uint32_t l = 0; l < nodes_.size(); ++l) {
    NodeRuntime* rt = nodes_[l];
    rt->router = this;
    local_of_[rt->index] = static_cast<int32_t>(l);
    LocalNode ln;
    ln.rt = rt;
    ln.current.assign(rt->def->slots.size(), nullptr);
    ln.current_cycle.assign(rt->def->slots.size(), 0);
    const qf_node_vtable& vt = rt->vt();
    const bool on_events = QF_VTABLE_HAS(&vt, on_events) && vt.on_events;
    ln.has_on_event = vt.on_event != nullptr || on_events;
    ln.only_on_events = vt.on_event == nullptr && on_events;
    local_.push_back(std::move(ln));
  }
  // Batch nodes, in topological order: their input comes from outside or from another one.
  batch_node_of_.assign(nodes_.size(), -1);
  for (uint32_t l = 0; l < nodes_.size() && vectorize; ++l) {
    const NodeRuntime& rt = *nodes_[l];
    const qf_node_vtable& vt = rt.vt();
    if (!vt.on_batch || vt.on_cycle || vt.on_feedback || rt.type->simulates_market() || rt.def->slots.size() != 1) continue;
    const Slot& s = rt.def->slots[0];
    const int32_t producer = local_of_[s.producer];
    if (producer >= 0 && batch_node_of_[static_cast<size_t>(producer)] < 0) continue;
    batch_node_of_[l] = static_cast<int32_t>(batch_nodes_.size());
    BatchNode bn;
    bn.local = l;
    bn.input_stream = graph.stream(s.producer, s.producer_port);
    bn.upstream = producer >= 0 ? batch_node_of_[static_cast<size_t>(producer)] : -1;
    batch_nodes_.push_back(std::move(bn));
  }
  only_batch_nodes_ = !batch_nodes_.empty() && batch_nodes_.size() == nodes_.size();
  // A sink taking many events at once, alone here: nothing else in the stage can tell when it
  // got them, as it emits nothing and has no cycle callback.
  if (vectorize && nodes_.size() == 1 && batch_nodes_.empty()) {
    const NodeRuntime& rt = *nodes_[0];
    const qf_node_vtable& vt = rt.vt();
    const bool alone = !vt.on_cycle && !vt.on_feedback && !rt.type->simulates_market() && rt.type->outputs.empty();
    bulk_ = alone && QF_VTABLE_HAS(&vt, on_events) && vt.on_events;
    columns_ = alone && QF_VTABLE_HAS(&vt, on_values) && vt.on_values;
    if (bulk_) {
      bulk_events_.resize(kBulk);
      bulk_slots_.resize(kBulk);
    }
    if (bulk_ || columns_) {
      bulk_slot_of_.assign(graph.stream_count(), kNoSlot);
      for (uint32_t k = 0; k < rt.def->slots.size(); ++k) {
        uint32_t& slot = bulk_slot_of_[graph.stream(rt.def->slots[k].producer, rt.def->slots[k].producer_port)];
        slot = slot == kNoSlot ? k : kManySlots;
      }
    }
  }
  // Answers travel compact when they can only be values and no node of the stage reads them.
  for (BatchNode& bn : batch_nodes_) {
    const NodeRuntime& rt = *nodes_[bn.local];
    bn.compact = only_batch_nodes_;
    for (uint32_t port = 0; port < rt.type->outputs.size(); ++port) {
      if (exported_[graph.stream(rt.index, port)]) bn.exported = true;
      if (rt.type->outputs[port].kinds != QF_KIND_BIT(QF_KIND_VALUE)) bn.compact = false;
    }
  }
  for (const BatchNode& bn : batch_nodes_)
    if (bn.upstream >= 0) batch_nodes_[static_cast<size_t>(bn.upstream)].compact = false;
  relevant_.assign(routes.size(), 0);
  for (uint32_t l = 0; l < nodes_.size(); ++l) {
    const auto& slots = nodes_[l]->def->slots;
    for (uint32_t k = 0; k < slots.size(); ++k) {
      const uint32_t stream = graph.stream(slots[k].producer, slots[k].producer_port);
      relevant_[stream] = 1;
      if (batch_node_of_[l] < 0) routes[stream].push_back(Target{l, k});  // batch nodes get theirs in bulk
    }
  }
  for (size_t s = 0; s < relevant_.size(); ++s)
    if (exported_[s]) relevant_[s] = 1;
  // Market-simulating nodes see each event first: the exchange moves before the strategy looks.
  for (auto& r : routes)
    std::stable_sort(r.begin(), r.end(), [&](const Target& a, const Target& b) {
      return nodes_[a.local]->type->simulates_market() > nodes_[b.local]->type->simulates_market();
    });
  // Flattened for route(), which every event takes: one record per stream, its targets side by side.
  stream_routes_.resize(routes.size());
  for (size_t s = 0; s < routes.size(); ++s) {
    stream_routes_[s] = StreamRoute{static_cast<uint32_t>(targets_.size()), static_cast<uint32_t>(routes[s].size()), exported_[s] != 0};
    targets_.insert(targets_.end(), routes[s].begin(), routes[s].end());
  }
  // Account snapshots go to every node upstream of an executor along order connections.
  for (uint32_t l = 0; l < nodes_.size(); ++l) {
    std::vector<uint32_t> todo{nodes_[l]->index};
    std::vector<bool> seen(graph.nodes.size(), false);
    while (!todo.empty()) {
      const uint32_t g = todo.back();
      todo.pop_back();
      for (const Slot& s : graph.nodes[g].slots) {
        if (!(s.kinds & QF_KIND_BIT(QF_KIND_ORDER)) || seen[s.producer]) continue;
        seen[s.producer] = true;
        if (local_of_[s.producer] >= 0) local_[l].feedback_clients.push_back(static_cast<uint32_t>(local_of_[s.producer]));
        todo.push_back(s.producer);
      }
    }
  }
}

void Stage::fail(LocalNode& n, const std::string& message) {
  n.failed = true;
  if (error_.empty()) error_ = message;
}

bool Stage::check_failed(LocalNode& n, int32_t rc, const char* callback) {
  if (!n.rt->contract_violation.empty()) {
    fail(n, n.rt->describe() + " broke the node contract in " + callback + ": " + n.rt->contract_violation);
    return false;
  }
  if (rc < 0) {
    fail(n, n.rt->failure(callback));
    return false;
  }
  return true;
}

// During on_batch: the answer `ev` is kept for the cycle of the input it names, with its
// stream and time. False (and the node has broken its contract) if it cannot be.
bool Stage::collect(BatchNode& bn, NodeRuntime& node, uint32_t port, const qf_event& ev) {
  const NodeType& t = *node.type;
  if (port >= t.outputs.size() || ev.kind >= QF_KIND_COUNT_ || !(t.outputs[port].kinds & QF_KIND_BIT(ev.kind))) [[unlikely]] {
    node.contract_violation = "emitted on output port " + std::to_string(port) + " an event it does not carry";
    return false;
  }
  // The input it answers: answers come in seq order, so a cursor finds it.
  while (bn.in_at < bn.in_count && bn.in_seq[bn.in_at] < ev.seq) ++bn.in_at;
  if (bn.in_at == bn.in_count || bn.in_seq[bn.in_at] != ev.seq) [[unlikely]] {
    node.contract_violation = "emitted from on_batch an event for seq " + std::to_string(ev.seq) +
                              ", which is none of its inputs' or comes after a later one's";
    return false;
  }
  const int64_t time = ev.time_ns != 0 ? ev.time_ns : bn.in[bn.in_at].time_ns;
  ++node.events_out;
  if (bn.compact) {
    bn.answers.emplace_back(ev.seq, time, ev.u.value.value, ev.symbol, port);
    return true;
  }
  qf_event& o = bn.outputs.emplace_back(ev);
  o.stream = graph_.stream(node.index, port);
  o.time_ns = time;
  return true;
}

Stage::BatchNode* Stage::collecting(const NodeRuntime& node) {
  const int32_t local = local_of_[node.index];
  if (local < 0) return nullptr;
  const int32_t b = batch_node_of_[static_cast<size_t>(local)];
  if (b < 0 || !batch_nodes_[static_cast<size_t>(b)].active) return nullptr;
  return &batch_nodes_[static_cast<size_t>(b)];
}

int64_t Stage::now(const NodeRuntime& node) {
  if (const BatchNode* bn = collecting(node)) return bn->time;
  return cycle_time_;
}

void Stage::emit_many(NodeRuntime& node, const uint32_t* ports, const qf_event* events, uint32_t count) {
  BatchNode* bn = collecting(node);
  if (!bn) {
    EventRouter::emit_many(node, ports, events, count);
    return;
  }
  for (uint32_t i = 0; i < count; ++i)
    if (!collect(*bn, node, ports[i], events[i])) [[unlikely]]
      return;
}

void Stage::emit_values(NodeRuntime& node, const qf_value_answer* answers, uint32_t count) {
  BatchNode* collector = collecting(node);
  if (!collector || !collector->compact) {
    EventRouter::emit_values(node, answers, count);  // through emit: one event at a time
    return;
  }
  // An indicator's answers to its batch, kept as they will travel: every port of the node
  // carries values only, so a declared port is all there is to check besides the seq.
  BatchNode& bn = *collector;
  const uint32_t ports_declared = static_cast<uint32_t>(node.type->outputs.size());
  // The cursor in locals: the stores to `out` could alias the node's members. It names an input
  // (at < in_count) throughout, and only moves on to a matching one.
  size_t at = bn.in_at;
  const size_t in_count = bn.in_count;
  const uint64_t* const in_seq = bn.in_seq;
  if (at >= in_count) [[unlikely]] {  // answered past its last input before: already refused
    if (count != 0) collect(bn, node, answers[0].port, make_value(answers[0]));
    return;
  }
  const size_t first = bn.answers.size();
  bn.answers.resize(first + count);
  ValueAnswer* out = bn.answers.data() + first;
  for (uint32_t i = 0; i < count; ++i) {
    const qf_value_answer& a = answers[i];
    const uint64_t seq = a.seq;
    if (in_seq[at] != seq) {  // an answer to a later input than the last one (or a bad seq)
      do ++at;
      while (at < in_count && in_seq[at] < seq);
      if (at == in_count || in_seq[at] != seq) [[unlikely]] {
        refuse_answers(bn, node, first, i, at, a);
        return;
      }
    }
    if (a.port >= ports_declared) [[unlikely]] {
      refuse_answers(bn, node, first, i, at, a);
      return;
    }
    // The lane's record has the same layout: copied whole, then completed. (Copying the whole
    // chunk first and checking it in place is two instructions fewer an answer, but slower: a
    // second pass over memory.)
    std::memcpy(static_cast<void*>(&out[i]), &a, sizeof a);
    if (a.time_ns == 0) out[i].time_ns = bn.in[at].time_ns;
  }
  bn.in_at = at;
  node.events_out += count;
}

// emit_values met a bad answer, `bad`, after `good` good ones: those stay, and collect, from
// the cursor `at`, says what is wrong with it.
void Stage::refuse_answers(BatchNode& bn, NodeRuntime& node, size_t first, uint32_t good, size_t at, const qf_value_answer& bad) {
  bn.answers.resize(first + good);
  node.events_out += good;
  bn.in_at = at;  // where the good ones left the cursor (or past the last input)
  collect(bn, node, bad.port, make_value(bad));
}

void Stage::emit(NodeRuntime& node, uint32_t port, const qf_event& ev) {
  const NodeType& t = *node.type;
  if (BatchNode* bn = collecting(node)) {
    collect(*bn, node, port, ev);
    return;
  }
  if (port >= t.outputs.size()) {
    node.contract_violation = "emitted on output port " + std::to_string(port) + ", but it declares " +
                              std::to_string(t.outputs.size());
    return;
  }
  if (ev.kind >= QF_KIND_COUNT_ || !(t.outputs[port].kinds & QF_KIND_BIT(ev.kind))) {
    node.contract_violation = std::string("emitted a ") + kind_name(ev.kind) + " event on output '" + t.outputs[port].name +
                              "', which carries " + kinds_to_string(t.outputs[port].kinds);
    return;
  }
  if (discard_) {
    ++node.events_out;
    return;
  }
  qf_event* e = arena_.push(ev);
  e->seq = cycle_seq_;
  if (e->time_ns == 0) e->time_ns = cycle_time_;
  e->stream = graph_.stream(node.index, port);
  if (e->kind == QF_KIND_ORDER && e->origin == 0) e->origin = node.origin_handle();
  ++node.events_out;
  if (control_) [[unlikely]] {
    if (e->kind == QF_KIND_ORDER && e->u.order.type != QF_ORDER_CANCEL && !flattening_ &&
        control_->halted.load(std::memory_order_relaxed)) {
      refuse_halted(node, port, e);
      return;
    }
    if (e->kind == QF_KIND_FILL && e->origin != 0) {
      const int32_t side = e->u.fill.side;
      held_[{e->origin, e->symbol}] += side * e->u.fill.quantity;
      if (e->u.fill.order_id >= kFlattenOrderIds) closing_[{e->origin, e->symbol}] -= side * e->u.fill.quantity;
    }
    if (e->kind == QF_KIND_ORDER_UPDATE && e->u.order_update.order_id >= kFlattenOrderIds) {
      const int32_t status = e->u.order_update.status;
      const auto it = closing_orders_.find({e->origin, e->u.order_update.order_id});
      if (it != closing_orders_.end() && status != QF_ORDER_ACCEPTED && status != QF_ORDER_PARTIALLY_FILLED) {
        if (status != QF_ORDER_FILLED) closing_[{e->origin, e->symbol}] -= it->second * e->u.order_update.remaining_quantity;
        closing_orders_.erase(it);
      }
    }
    if (monitor_ && e->kind >= QF_KIND_ORDER && e->kind <= QF_KIND_ACCOUNT) monitor_(*e, node.index);
  }
  if (facts_) {
    facts_->record(*e, node.index, static_cast<uint16_t>(port), e->stream, cycle_interval_);
    if (e->kind == QF_KIND_SIGNAL) record_signal_inputs(*e, node);
  }
  route(e);
  if ((e->kind == QF_KIND_FILL || e->kind == QF_KIND_ORDER_UPDATE) && e->origin != 0 && e->origin != node.origin_handle()) {
    const uint32_t g = e->origin - 1;
    if (g < local_of_.size() && local_of_[g] >= 0) queue_.push_back(Delivery{static_cast<uint32_t>(local_of_[g]), kFeedback, e});
  } else if (e->kind == QF_KIND_ACCOUNT || e->kind == QF_KIND_POSITION) {
    for (uint32_t c : local_[static_cast<size_t>(local_of_[node.index])].feedback_clients)
      queue_.push_back(Delivery{c, kFeedback, e});
  }
}

void Stage::record_signal_inputs(const qf_event& signal, NodeRuntime& node) {
  const LocalNode& n = local_[static_cast<size_t>(local_of_[node.index])];
  for (uint32_t k = 0; k < n.current.size(); ++k) {
    if (n.current_cycle[k] != cycle_ || !n.current[k]) continue;
    const qf_event& in = *n.current[k];
    double v = 0;
    switch (in.kind) {
      case QF_KIND_VALUE: v = in.u.value.value; break;
      case QF_KIND_SIGNAL: v = in.u.signal.value; break;
      case QF_KIND_BAR: v = in.u.bar.close; break;
      case QF_KIND_TICK: v = in.u.tick.price; break;
      case QF_KIND_QUOTE: v = (in.u.quote.bid + in.u.quote.ask) / 2; break;
      case QF_KIND_POSITION: v = in.u.position.quantity; break;
      case QF_KIND_ACCOUNT: v = in.u.account.equity; break;
      default: continue;
    }
    facts_->record_input(signal, node.index, static_cast<uint16_t>(k), v, in.kind);
  }
}

const qf_event* Stage::input(NodeRuntime& node, uint32_t slot) {
  const LocalNode& n = local_[static_cast<size_t>(local_of_[node.index])];
  if (slot < n.current.size() && n.current_cycle[slot] == cycle_) return n.current[slot];
  return nullptr;
}

// `now`: the event is one of the cycle's inputs, delivered at once rather than queued. Inputs
// still reach every node before anything emitted in the cycle does (that is queued), so the
// order is the same as queueing them, without the queue.
[[gnu::always_inline]] inline void Stage::route(const qf_event* e, bool now) {
  const StreamRoute& r = stream_routes_[e->stream];
  if (r.exported) out_->push_back(*e);
  for (const Target *t = targets_.data() + r.first, *end = t + r.count; t != end; ++t) {
    LocalNode& n = local_[t->local];
    if (n.has_on_event) {
      if (now)
        deliver(n, t->slot, e);
      else
        queue_.push_back(Delivery{t->local, t->slot, e});
    } else {
      // Only on_cycle will look, through input(): record it now, in the same order.
      n.current[t->slot] = e;
      n.current_cycle[t->slot] = cycle_;
      n.dirty = true;
      ++n.rt->events_in;
    }
  }
}

[[gnu::always_inline]] inline void Stage::deliver(LocalNode& n, uint32_t slot, const qf_event* ev) {
  if (n.failed) return;
  NodeRuntime& rt = *n.rt;
  n.current[slot] = ev;
  n.current_cycle[slot] = cycle_;
  n.dirty = true;
  ++rt.events_in;
  if (n.only_on_events) [[unlikely]] {
    check(n, timed(rt, [&] { return rt.vt().on_events(rt.instance.self, &rt.ctx, &slot, ev, 1); }), "on_events");
    return;
  }
  check(n, timed(rt, [&] { return rt.vt().on_event(rt.instance.self, &rt.ctx, slot, ev); }), "on_event");
}

void Stage::drain() {
  while (head_ < queue_.size()) {
    const Delivery d = queue_[head_++];
    LocalNode& n = local_[d.local];
    if (n.failed) continue;
    NodeRuntime& rt = *n.rt;
    if (d.slot == kFeedback) {
      if (rt.vt().on_feedback) check(n, timed(rt, [&] { return rt.vt().on_feedback(rt.instance.self, &rt.ctx, d.ev); }), "on_feedback");
      continue;
    }
    deliver(n, d.slot, d.ev);
  }
  queue_.clear();
  head_ = 0;
}

void Stage::call_cycle_callbacks() {
  for (LocalNode& n : local_) {
    if (!n.dirty) continue;
    n.dirty = false;
    if (n.failed || !n.rt->vt().on_cycle) continue;
    check(n, timed(*n.rt, [&] { return n.rt->vt().on_cycle(n.rt->instance.self, &n.rt->ctx); }), "on_cycle");
    drain();
  }
}

void Stage::run_batch_nodes(const Batch& in) {
  // Batch stages read sources, whose batches have no lanes; anything else is flattened first.
  const std::vector<qf_event>* events = &in.events;
  if (in.has_lanes()) {
    flat_.clear();
    in.append_in_cycle_order(flat_);
    events = &flat_;
  }
  input_seqs_.clear();
  for (const qf_event& e : *events) input_seqs_.push_back(e.seq);
  // One node's batch, on whichever thread runs it: it touches only its own BatchNode and node.
  auto run = [&](BatchNode& bn) {
    bn.outputs.clear();
    bn.answers.clear();
    bn.cursor = 0;
    bn.ran = false;
    // Buffers handed on come back as whatever the pool's batch held: make room at once rather
    // than growing (and copying) a dozen times per batch.
    bn.outputs.reserve(bn.last_outputs);
    bn.answers.reserve(bn.last_answers);
    // The common case, one stream filling the whole batch, needs no copy.
    const std::vector<qf_event>& pool = bn.upstream < 0 ? *events : batch_nodes_[static_cast<size_t>(bn.upstream)].outputs;
    const bool whole = std::all_of(pool.begin(), pool.end(), [&](const qf_event& e) { return e.stream == bn.input_stream; });
    if (!whole) {
      bn.inputs.clear();
      for (const qf_event& e : pool)
        if (e.stream == bn.input_stream) bn.inputs.push_back(e);
    }
    const std::vector<qf_event>& inputs = whole ? pool : bn.inputs;
    LocalNode& n = local_[bn.local];
    if (inputs.empty() || n.failed) return;
    NodeRuntime& rt = *n.rt;
    bn.in = inputs.data();
    bn.in_count = inputs.size();
    // Their seqs side by side, for the cursor matching answers to inputs.
    if (bn.upstream < 0 && whole) {
      bn.in_seq = input_seqs_.data();
    } else {
      bn.seqs.clear();
      for (const qf_event& e : inputs) bn.seqs.push_back(e.seq);
      bn.in_seq = bn.seqs.data();
    }
    bn.in_at = 0;
    bn.time = inputs.front().time_ns;
    bn.interval = inputs.front().kind == QF_KIND_BAR ? inputs.front().u.bar.interval_ns : 0;
    bn.active = true;
    bn.rc = timed(rt, [&] { return rt.vt().on_batch(rt.instance.self, &rt.ctx, 0, inputs.data(), static_cast<uint32_t>(inputs.size())); });
    bn.active = false;
    bn.ran = true;
    rt.events_in += inputs.size();
  };
  // Nodes reading the stage's input do not depend on each other: they run in parallel. Those
  // reading another batch node run after it, in order.
  size_t independent = 0;
  for (const BatchNode& bn : batch_nodes_) independent += bn.upstream < 0;
  if (independent > 1) {
    oneapi::tbb::parallel_for(size_t{0}, batch_nodes_.size(), [&](size_t b) {
      if (batch_nodes_[b].upstream < 0) run(batch_nodes_[b]);
    });
    for (BatchNode& bn : batch_nodes_)
      if (bn.upstream >= 0) run(bn);
  } else {
    for (BatchNode& bn : batch_nodes_) run(bn);
  }
  // As if they had run one after the other: facts node by node (the writer is the stage's
  // alone, so they are recorded here, from the answers), the clock where the last one left it.
  for (BatchNode& bn : batch_nodes_) {
    if (!bn.ran) continue;
    cycle_time_ = bn.time;
    if (facts_) {
      const uint32_t node = local_[bn.local].rt->index, base = graph_.stream(node, 0);
      for (const ValueAnswer& a : bn.answers)
        facts_->record(a.event(base + a.port), node, static_cast<uint16_t>(a.port), base + a.port, bn.interval);
      for (const qf_event& o : bn.outputs) facts_->record(o, node, static_cast<uint16_t>(o.stream - base), o.stream, bn.interval);
    }
    check(local_[bn.local], bn.rc, "on_batch");
  }
}

// A stage of batch nodes only has no cycle to run: it passes on the input events read
// downstream, and each node's answers as a lane of their own, which the stage downstream
// delivers in the cycle of the input each answers (after the input, node by node).
void Stage::hand_on_lanes(const Batch& in, Batch& out) {
  // An input with lanes was flattened into flat_ for the batch nodes (run_batch_nodes).
  for (const qf_event& e : in.has_lanes() ? flat_ : in.events)
    if (exported_[e.stream]) out.events.push_back(e);
  if (out.lanes.size() < batch_nodes_.size()) out.lanes.resize(batch_nodes_.size());
  // Swapped buffers keep their capacity for the next batch.
  for (size_t b = 0; b < batch_nodes_.size(); ++b) {
    BatchNode& bn = batch_nodes_[b];
    bn.last_outputs = std::max(bn.last_outputs, bn.outputs.size());
    bn.last_answers = std::max(bn.last_answers, bn.answers.size());
    if (!bn.exported) continue;
    if (bn.compact) {
      const NodeRuntime& rt = *local_[bn.local].rt;
      out.lanes[b].values.swap(bn.answers);
      out.lanes[b].first_stream = graph_.stream(rt.index, 0);
      out.lanes[b].ports = static_cast<uint32_t>(rt.type->outputs.size());
    } else {
      out.lanes[b].events.swap(bn.outputs);
    }
  }
}

// Delivers what batch nodes answered for the current cycle, as if they emitted it now.
void Stage::inject_batch_outputs() {
  for (BatchNode& bn : batch_nodes_) {
    while (bn.cursor < bn.outputs.size() && bn.outputs[bn.cursor].seq <= cycle_seq_) {
      const qf_event& o = bn.outputs[bn.cursor++];
      if (o.seq != cycle_seq_) {
        fail(local_[bn.local], local_[bn.local].rt->describe() + " broke the node contract in on_batch: emitted for seq " +
                                   std::to_string(o.seq) + ", which is none of its inputs");
        return;
      }
      // `outputs` stays put until the next batch, so it can be routed in place.
      if (o.time_ns != 0) {
        route(&o);
      } else {
        qf_event* e = arena_.push(o);
        e->time_ns = cycle_time_;
        route(e);
      }
    }
  }
}

void Stage::begin_cycle(const qf_event& first) {
  ++cycle_;
  cycle_seq_ = first.seq;
  cycle_time_ = first.time_ns;
  cycle_interval_ = first.kind == QF_KIND_BAR ? first.u.bar.interval_ns : 0;
  if (control_ && control_->flatten_epoch.load(std::memory_order_relaxed) != 0) [[unlikely]]
    flatten();
}

void Stage::end_cycle() {
  if (!batch_nodes_.empty()) inject_batch_outputs();
  drain();
  call_cycle_callbacks();
  arena_.reset();
}

bool Stage::start(std::vector<qf_event>& out, bool resumed) {
  out_ = &out;
  discard_ = resumed;
  ++cycle_;
  if (!resumed) {
    cycle_seq_ = 0;
    cycle_time_ = 0;
  }
  for (LocalNode& n : local_) {
    if (n.failed || !n.rt->vt().start) continue;
    check(n, n.rt->vt().start(n.rt->instance.self, &n.rt->ctx), "start");
    drain();
  }
  arena_.reset();
  discard_ = false;
  return !failed();
}

// The stage's part: its clock (what now() and the seq of events emitted at stop depend on)
// and, with facts, where its fact series stand.
store::Contribution Stage::checkpoint() {
  store::Contribution c;
  store::BlobWriter blob;
  StateWriter w(blob.raw());
  w.put(cycle_time_);
  w.put(cycle_seq_);
  w.put<uint8_t>(facts_ ? 1 : 0);
  if (facts_) {
    facts_->flush_all();
    facts_->save(w);
  }
  c.runtime = std::move(blob.bytes());
  for (NodeRuntime* n : nodes_)
    if (std::optional<std::string> state = n->save_state()) c.node_states.emplace_back(n->def->id, std::move(*state));
  return c;
}

void Stage::restore(const std::string& runtime_part) {
  StateReader r(runtime_part.data(), runtime_part.size());
  cycle_time_ = r.get<int64_t>();
  cycle_seq_ = r.get<uint64_t>();
  const bool had_facts = r.get<uint8_t>() != 0;
  if (had_facts != (facts_ != nullptr))
    throw std::runtime_error("the checkpoint was taken with facts " + std::string(had_facts ? "on" : "off") +
                             " and this run has them " + (facts_ ? "on" : "off"));
  if (facts_) facts_->restore(r);
  if (!r.at_end()) throw std::runtime_error("stage " + name_ + "'s part of the checkpoint does not match this pipeline");
}

bool Stage::process(const Batch& in, Batch& out) {
  if (failed()) return false;
  if (in.number <= last_batch_) {
    error_ = "stage " + name_ + " received batch " + std::to_string(in.number) + " after " + std::to_string(last_batch_);
    return false;
  }
  last_batch_ = in.number;
  out_ = &out.events;
  if (!batch_nodes_.empty()) run_batch_nodes(in);
  if (only_batch_nodes_) {
    if (!failed()) hand_on_lanes(in, out);
    return !failed();
  }
  if (columns_ && run_columns(in)) return !failed();
  if (bulk_) {
    run_bulk(in);
    return !failed();
  }
  run_cycles(in);
  for (const BatchNode& bn : batch_nodes_)
    if (bn.cursor != bn.outputs.size() && !failed())
      fail(local_[bn.local], local_[bn.local].rt->describe() +
                                 " broke the node contract in on_batch: emitted for a seq after its last input");
  return !failed();
}

void Stage::run_cycles(const Batch& in) {
  if (in.has_lanes()) {
    run_lane_cycles(in);
    return;
  }
  const std::vector<qf_event>& ev = in.events;
  for (size_t i = 0; i < ev.size() && !failed();) {
    // Events nobody here subscribes to start no cycle (a sink sees only its own streams).
    if (!relevant_[ev[i].stream]) {
      ++i;
      continue;
    }
    begin_cycle(ev[i]);
    const bool now = queue_.empty();  // else the kill switch's orders go first, queued
    const uint64_t seq = ev[i].seq;
    for (; i < ev.size() && ev[i].seq == seq; ++i) route(&ev[i], now);
    end_cycle();
  }
}

// The cycles of a batch with lanes, in Batch's order. Values are made into events only if read
// here, in the arena, where they stay put for the cycle. Twenty values a bar pass through here:
// the delivery is inlined.
void Stage::run_lane_cycles(const Batch& in) {
  const uint8_t* const relevant = relevant_.data();
  bool begun = false, now = true;
  auto take = [&](const qf_event* e) __attribute__((always_inline)) {
    if (!begun) [[unlikely]] {
      begin_cycle(*e);
      begun = true;
      now = queue_.empty();  // else the kill switch's orders go first, queued
    }
    route(e, now);
  };
  if (failed()) return;
  in.walk_cycles(
      lane_cursors_,
      [&](const qf_event& e) __attribute__((always_inline)) {
        if (relevant[e.stream]) take(&e);
      },
      [&](const ValueAnswer& v, uint32_t stream) __attribute__((always_inline)) {
        if (!relevant[stream]) return;
        qf_event* e = arena_.alloc();
        v.write(*e, stream);
        take(e);
      },
      [&] {
        if (begun) end_cycle();
        begun = false;
        return !failed();
      });
}

// The batch for a node taking many events at once: every event it subscribes to, in cycle order
// (with lanes, values made into events here), gathered and handed over kBulk at a time. Cycles
// are still counted and timed, for now() and the run's figures; the node has no on_cycle.
void Stage::run_bulk(const Batch& in) {
  if (local_[0].failed) return;
  const uint32_t* const slot_of = bulk_slot_of_.data();
  const StreamRoute* const routes = stream_routes_.data();
  const Target* const targets = targets_.data();
  qf_event* const events = bulk_events_.data();
  qf_event* const full = events + kBulk;
  uint32_t* const slots = bulk_slots_.data();
  qf_event* at = events;     // where the next event goes
  uint32_t* slot_at = slots;  // and its slot
  bool begun = false;
  // Room for one more event, for `slot`, handing over what is gathered when full. The cycle of
  // the events handed over is the current one: the next begins after its first event is written.
  auto take = [&](uint32_t slot) -> qf_event& __attribute__((always_inline)) {
    if (at == full) [[unlikely]] {
      hand_over_bulk(kBulk);
      at = events;
      slot_at = slots;
    }
    *slot_at++ = slot;
    return *at++;
  };
  auto begin = [&](const qf_event& first) __attribute__((always_inline)) {
    if (!begun) [[unlikely]] {
      begin_cycle(first);
      begun = true;
    }
  };
  // `make(e)` writes the event into the slot it is given; most streams go to one slot.
  auto gather = [&](uint32_t stream, auto&& make) __attribute__((always_inline)) {
    const uint32_t slot = slot_of[stream];
    if (slot == kNoSlot) return;
    if (slot != kManySlots) [[likely]] {
      qf_event& e = take(slot);
      make(e);
      begin(e);
      return;
    }
    const StreamRoute& r = routes[stream];
    for (const Target *t = targets + r.first, *end = t + r.count; t != end; ++t) {
      qf_event& e = take(t->slot);
      make(e);
      begin(e);
    }
  };
  in.walk_cycles(
      lane_cursors_,
      [&](const qf_event& e) __attribute__((always_inline)) { gather(e.stream, [&](qf_event& to) { to = e; }); },
      [&](const ValueAnswer& v, uint32_t stream) __attribute__((always_inline)) {
        gather(stream, [&](qf_event& to) { v.write(to, stream); });
      },
      [&] {
        begun = false;
        return !failed();
      });
  if (at != events) hand_over_bulk(static_cast<uint32_t>(at - events));
}

// The batch's values for the node in columns, one per lane, as the batch stage left them: when
// they are all it gets from this batch (no event of the batch or of a lane is for it) and no
// stream of them feeds two of its slots. Otherwise returns false, having done nothing.
bool Stage::run_columns(const Batch& in) {
  if (local_[0].failed) return true;
  const uint32_t* const slot_of = bulk_slot_of_.data();
  auto for_node = [slot_of](const std::vector<qf_event>& events) {
    return std::any_of(events.begin(), events.end(), [slot_of](const qf_event& e) { return slot_of[e.stream] != kNoSlot; });
  };
  if (for_node(in.events)) return false;
  columns_of_.clear();
  column_slots_.clear();
  column_first_.clear();
  uint64_t values = 0;
  const ValueAnswer* last = nullptr;  // the value of the latest cycle the node hears of
  for (const Lane& lane : in.lanes) {
    if (for_node(lane.events)) return false;
    if (lane.values.empty()) continue;
    const size_t first = column_slots_.size();
    uint32_t fed = 0;  // ports feeding a slot
    for (uint32_t p = 0; p < lane.ports; ++p) {
      const uint32_t slot = slot_of[lane.first_stream + p];
      if (slot == kManySlots) return false;
      fed += slot != kNoSlot;
      column_slots_.push_back(slot);
    }
    if (fed == 0) {
      column_slots_.resize(first);
      continue;
    }
    // The column's pointer to its slots is set below, once column_slots_ stops growing.
    columns_of_.push_back(qf_value_column{lane.values.data(), static_cast<uint32_t>(lane.values.size()), lane.ports, nullptr});
    column_first_.push_back(first);
    const uint32_t* const slots = column_slots_.data() + first;
    const ValueAnswer* v = nullptr;
    if (fed == lane.ports) {
      values += lane.values.size();
      v = &lane.values.back();
    } else {
      for (const ValueAnswer& a : lane.values)
        if (slots[a.port] != kNoSlot) {
          ++values;
          v = &a;
        }
    }
    if (v && (!last || v->seq > last->seq)) last = v;
  }
  if (!last) return true;  // nothing for the node
  for (size_t c = 0; c < columns_of_.size(); ++c) columns_of_[c].slot_of_port = column_slots_.data() + column_first_[c];
  // One cycle stands for the batch: now() is its last for the node.
  qf_event cycle;
  last->write(cycle, 0);
  begin_cycle(cycle);
  LocalNode& n = local_[0];
  NodeRuntime& rt = *n.rt;
  rt.events_in += values;
  check(n, timed(rt, [&] { return rt.vt().on_values(rt.instance.self, &rt.ctx, columns_of_.data(), static_cast<uint32_t>(columns_of_.size())); }),
        "on_values");
  return true;
}

void Stage::hand_over_bulk(uint32_t count) {
  LocalNode& n = local_[0];
  if (n.failed) return;
  NodeRuntime& rt = *n.rt;
  rt.events_in += count;
  check(n, timed(rt, [&] { return rt.vt().on_events(rt.instance.self, &rt.ctx, bulk_slots_.data(), bulk_events_.data(), count); }),
        "on_events");
}

bool Stage::finish(std::vector<qf_event>& out) {
  // Stop is called even after a failure, on every node that did not fail, so that sinks write
  // what they have: nothing already produced is lost.
  // What nodes emit at stop makes one last cycle: in topological order, a node first gets
  // on_cycle for what the nodes before it emitted (a resample's last, partial bar reaching a
  // script), then its stop.
  out_ = &out;
  ++cycle_;
  ++cycle_seq_;
  for (LocalNode& n : local_) {
    if (n.dirty) {
      n.dirty = false;
      if (!n.failed && n.rt->vt().on_cycle) {
        check(n, timed(*n.rt, [&] { return n.rt->vt().on_cycle(n.rt->instance.self, &n.rt->ctx); }), "on_cycle");
        drain();
      }
    }
    if (n.failed || !n.rt->vt().stop) continue;
    check(n, n.rt->vt().stop(n.rt->instance.self, &n.rt->ctx), "stop");
    drain();
  }
  arena_.reset();
  return !failed();
}

void Stage::post(std::function<void()> task) {
  std::lock_guard lock(posted_mutex_);
  posted_.push_back(std::move(task));
  has_posted_.store(true, std::memory_order_release);
}

void Stage::run_posted_now() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
    has_posted_.store(false, std::memory_order_release);
  }
  for (auto& t : tasks) t();
}

// The kill switch is on: the order is recorded as placed, goes nowhere, and its node hears
// back at once, as from an executor: REJECTED, reason HALTED.
void Stage::refuse_halted(NodeRuntime& node, uint32_t port, const qf_event* order) {
  if (facts_) facts_->record(*order, node.index, static_cast<uint16_t>(port), order->stream, cycle_interval_);
  control_->orders_blocked.fetch_add(1, std::memory_order_relaxed);
  qf_event* u = arena_.push(make_event(Kind::order_update, order->symbol, cycle_time_));
  u->seq = cycle_seq_;
  u->origin = order->origin;
  u->u.order_update = qf_order_update{order->u.order.order_id, 0, order->u.order.quantity, 0, QF_ORDER_REJECTED,
                                      QF_REJECT_HALTED, order->u.order.tag, 0};
  if (facts_) facts_->record_in(store::Family::order_updates, *u, store::kRuntimeNode, 0);
  if (monitor_) monitor_(*u, store::kRuntimeNode);
  queue_.push_back(Delivery{static_cast<uint32_t>(local_of_[node.index]), kFeedback, u});
}

// Flatten: every position this stage's executors filled for a strategy is closed by a market
// order in that strategy's name, routed like its own orders. Orders placed before the kill can
// still fill afterwards, so this runs at the start of every cycle from then on, and orders again
// whatever the fills and the closing orders still open do not already close.
void Stage::flatten() {
  for (auto& [key, quantity] : held_) {
    const auto [origin, symbol] = key;
    const double open = quantity + closing_[key];
    if (std::abs(open) < 1e-12) continue;
    const uint32_t g = origin - 1;
    if (g >= local_of_.size() || local_of_[g] < 0) continue;
    NodeRuntime& node = *local_[static_cast<size_t>(local_of_[g])].rt;
    uint32_t port = 0;
    while (port < node.type->outputs.size() && !(node.type->outputs[port].kinds & QF_KIND_BIT(QF_KIND_ORDER))) ++port;
    if (port == node.type->outputs.size()) continue;
    const int32_t side = open > 0 ? QF_SIDE_SELL : QF_SIDE_BUY;
    const uint64_t id = kFlattenOrderIds + ++flatten_orders_;
    qf_event order = make_market_order(symbol, id, side, std::abs(open), node.services->symbols.intern("kill switch"));
    order.time_ns = cycle_time_;
    closing_[key] += side * std::abs(open);
    closing_orders_[{origin, id}] = side;
    flattening_ = true;
    emit(node, port, order);
    flattening_ = false;
  }
}

}  // namespace qflow
