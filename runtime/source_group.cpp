#include "source_group.hpp"

#include <qflow/events.hpp>
#include <qflow/state.hpp>

#include <chrono>
#include <thread>

namespace qflow {

SourceGroup::SourceGroup(const Graph& graph, std::vector<NodeRuntime*> sources, uint32_t batch_size)
    : graph_(graph), sources_(std::move(sources)), pending_(sources_.size()), batch_size_(batch_size),
      live_(graph.mode != QF_MODE_BACKTEST) {
  local_of_.assign(graph.nodes.size(), -1);
  owner_of_stream_.resize(graph.stream_count());
  for (size_t i = 0; i < sources_.size(); ++i) {
    sources_[i]->router = this;
    local_of_[sources_[i]->index] = static_cast<int32_t>(i);
    for (uint32_t p = 0; p < sources_[i]->type->outputs.size(); ++p)
      owner_of_stream_[graph.stream(sources_[i]->index, p)] = {sources_[i]->index, static_cast<uint16_t>(p)};
  }
}

void SourceGroup::emit(NodeRuntime& node, uint32_t port, const qf_event& ev) {
  const NodeType& t = *node.type;
  if (port >= t.outputs.size() || ev.kind >= QF_KIND_COUNT_ || !(t.outputs[port].kinds & QF_KIND_BIT(ev.kind))) {
    node.contract_violation = std::string("emitted a ") + kind_name(ev.kind) + " event on output port " +
                              std::to_string(port) + " which does not carry it";
    return;
  }
  Pending& p = pending_[static_cast<size_t>(local_of_[node.index])];
  if (!p.events.empty() && ev.time_ns < p.events.back().time_ns) {
    node.contract_violation = "emitted events out of time order (" + std::to_string(ev.time_ns) + " after " +
                              std::to_string(p.events.back().time_ns) + ")";
    return;
  }
  p.events.push_back(ev);
  p.events.back().stream = graph_.stream(node.index, port);
  ++node.events_out;
}

bool SourceGroup::start(bool resumed) {
  std::vector<size_t> restored;
  for (const Pending& p : pending_) restored.push_back(p.events.size());
  for (NodeRuntime* s : sources_) {
    if (!s->vt().start) continue;
    if (s->vt().start(s->instance.self, &s->ctx) < 0) {
      error_ = s->failure("start");
      return false;
    }
    if (!s->contract_violation.empty()) {
      error_ = s->describe() + " broke the node contract in start: " + s->contract_violation;
      return false;
    }
  }
  if (resumed)
    for (size_t i = 0; i < pending_.size(); ++i) pending_[i].events.resize(restored[i]);
  return true;
}

store::Contribution SourceGroup::checkpoint() {
  store::Contribution c;
  store::BlobWriter blob;
  StateWriter w(blob.raw());
  w.put(seq_);
  w.put(last_time_);
  w.put<uint64_t>(events());
  for (const Pending& p : pending_) {
    w.put<uint8_t>(p.done ? 1 : 0);
    w.put<uint64_t>(p.events.size() - p.head);
    for (size_t k = p.head; k < p.events.size(); ++k) {
      qf_event e = p.events[k];
      const std::string_view name = sources_.front()->services->symbols.lookup(e.symbol);
      e.symbol = 0;
      w.put(e);
      w.put_string(name);
    }
  }
  if (facts_) {
    facts_->flush_all();
    facts_->save(w);
  }
  c.runtime = std::move(blob.bytes());
  c.events = events();
  for (NodeRuntime* n : sources_)
    if (std::optional<std::string> state = n->save_state()) c.node_states.emplace_back(n->def->id, std::move(*state));
  return c;
}

void SourceGroup::restore(const std::string& runtime_part, SymbolTable& symbols) {
  StateReader r(runtime_part.data(), runtime_part.size());
  seq_ = r.get<uint64_t>();
  last_time_ = r.get<int64_t>();
  events_ = r.get<uint64_t>();
  for (Pending& p : pending_) {
    p.done = r.get<uint8_t>() != 0;
    p.head = 0;
    p.events.clear();
    const auto n = r.get<uint64_t>();
    for (uint64_t k = 0; k < n; ++k) {
      qf_event e = r.get<qf_event>();
      e.symbol = symbols.intern(r.get_string());
      p.events.push_back(e);
    }
  }
  if (facts_) facts_->restore(r);
  if (!r.at_end()) throw std::runtime_error("the checkpoint's source positions do not match this pipeline's sources");
}

// Makes sure source i has an event waiting unless it is done. False on failure. A live source
// (paper mode) is asked once: with nothing to give now, it is simply not in this batch.
bool SourceGroup::refill(size_t i) {
  Pending& p = pending_[i];
  NodeRuntime* s = sources_[i];
  while (p.head == p.events.size() && !p.done) {
    p.events.clear();
    p.head = 0;
    const int32_t rc = s->vt().produce ? s->vt().produce(s->instance.self, &s->ctx, batch_size_) : QF_SOURCE_DONE;
    if (rc < 0) {
      error_ = s->failure("produce");
      return false;
    }
    if (!s->contract_violation.empty()) {
      error_ = s->describe() + " broke the node contract in produce: " + s->contract_violation;
      return false;
    }
    if (rc == QF_SOURCE_DONE) p.done = true;
    if (rc == QF_SOURCE_IDLE && p.events.empty()) {
      if (live_) break;
      // A backtest waits for every source, so that events merge in time order.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return true;
}

bool SourceGroup::next(std::vector<qf_event>& out) {
  if (failed()) return false;
  out.clear();
  bool all_done = true;
  asked_.assign(sources_.size(), 0);
  while (out.size() < batch_size_) {
    int best = -1;
    all_done = true;
    for (size_t i = 0; i < sources_.size(); ++i) {
      // A live source is asked once per batch: it may wait a little when it has nothing.
      if (!live_ || !asked_[i]) {
        if (!refill(i)) return false;
        asked_[i] = 1;
      }
      const Pending& p = pending_[i];
      if (!p.done || p.head < p.events.size()) all_done = false;
      if (p.head == p.events.size()) continue;
      if (best < 0 || p.events[p.head].time_ns < pending_[static_cast<size_t>(best)].events[pending_[static_cast<size_t>(best)].head].time_ns)
        best = static_cast<int>(i);
    }
    if (best < 0) break;
    Pending& p = pending_[static_cast<size_t>(best)];
    if (sources_.size() == 1) {
      // One source: move its whole pending run at once.
      const size_t n = std::min(p.events.size() - p.head, static_cast<size_t>(batch_size_) - out.size());
      for (size_t k = 0; k < n; ++k) {
        out.push_back(p.events[p.head + k]);
        out.back().seq = ++seq_;
        if (facts_) record(out.back());
      }
      p.head += n;
    } else {
      out.push_back(p.events[p.head++]);
      out.back().seq = ++seq_;
      if (facts_) record(out.back());
    }
    // Live: what has arrived goes now, without waiting for a full batch.
    if (live_ && p.head == p.events.size()) break;
  }
  if (!out.empty()) last_time_ = out.back().time_ns;
  events_.fetch_add(out.size(), std::memory_order_relaxed);
  // A live group hands on empty batches while its sources are quiet: the pipeline keeps
  // checkpointing and noticing Ctrl-C.
  return !out.empty() || (live_ && !all_done);
}

bool SourceGroup::finish() {
  bool ok = true;
  for (NodeRuntime* s : sources_) {
    if (!s->vt().stop) continue;
    if (s->vt().stop(s->instance.self, &s->ctx) < 0) {
      if (error_.empty()) error_ = s->failure("stop");
      ok = false;
    }
  }
  return ok;
}

}  // namespace qflow
