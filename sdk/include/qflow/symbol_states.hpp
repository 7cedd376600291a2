// One state per symbol, for nodes that follow every symbol of a stream separately (each
// indicator core, each bar being built), checkpointed under the symbol's NAME: symbol ids
// belong to one process, and a resumed run may intern its symbols in another order. A restored
// state waits under its name and joins its symbol's id when the first event of that name
// arrives. A node that still has something to emit at stop (a partial bar) calls `join_all`
// first, which interns the names no event has claimed, so their states leave as they would
// have without the checkpoint. Fresh states are copies of a prototype (by default State{}).
#pragma once

#include <qflow/node.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qflow {

template <class State>
class SymbolStates {
 public:
  explicit SymbolStates(State prototype = State{}) : prototype_(std::move(prototype)) {}

  // The state of `symbol`: at its first event, the restored one of its name or a fresh one.
  State& of(const Context& ctx, uint32_t symbol) {
    if (symbol < by_id_.size() && by_id_[symbol]) [[likely]]
      return by_id_[symbol]->state;
    return join(ctx, symbol);
  }

  // Gives the restored states that no event has claimed their symbol's id.
  void join_all(const Context& ctx) {
    for (auto& [name, state] : restored_) {
      const uint32_t id = ctx.intern(name);
      if (id >= by_id_.size()) by_id_.resize(id + 1);
      if (!by_id_[id]) by_id_[id].emplace(Entry{name, std::move(state)});
    }
    restored_.clear();
  }

  // f(symbol id, state) for every joined state, in id order.
  template <class F>
  void for_each(F&& f) {
    for (size_t id = 0; id < by_id_.size(); ++id)
      if (by_id_[id]) f(static_cast<uint32_t>(id), by_id_[id]->state);
  }

  // The count, then per state its symbol's name and put(w, state): joined and waiting alike.
  template <class F>
  void save(StateWriter& w, F&& put) const {
    uint64_t n = restored_.size();
    for (const auto& e : by_id_) n += e.has_value();
    w.put<uint64_t>(n);
    for (const auto& e : by_id_)
      if (e) {
        w.put_string(e->name);
        put(w, e->state);
      }
    for (const auto& [name, state] : restored_) {
      w.put_string(name);
      put(w, state);
    }
  }

  // Replaces every state by those of `save`, get(r, state) reading each into a fresh state.
  template <class F>
  void restore(StateReader& r, F&& get) {
    by_id_.clear();
    restored_.clear();
    const uint64_t n = r.get<uint64_t>();
    for (uint64_t i = 0; i < n; ++i) {
      std::string name = r.get_string();
      State s = prototype_;
      get(r, s);
      restored_.emplace_back(std::move(name), std::move(s));
    }
  }

 private:
  // A symbol's first event: out of line, so that `of` inlines into a node's per-event loop.
  [[gnu::noinline]] State& join(const Context& ctx, uint32_t symbol) {
    if (symbol >= by_id_.size()) by_id_.resize(symbol + 1);
    std::string name(ctx.lookup(symbol));
    if (name.empty()) name.append(1, '#').append(std::to_string(symbol));  // an id the host never named
    for (auto it = restored_.begin(); it != restored_.end(); ++it)
      if (it->first == name) {
        by_id_[symbol].emplace(Entry{std::move(name), std::move(it->second)});
        restored_.erase(it);
        return by_id_[symbol]->state;
      }
    by_id_[symbol].emplace(Entry{std::move(name), prototype_});
    return by_id_[symbol]->state;
  }

  struct Entry {
    std::string name;
    State state;
  };
  State prototype_;
  std::vector<std::optional<Entry>> by_id_;                // by symbol id
  std::vector<std::pair<std::string, State>> restored_;  // by name, until their symbol shows up
};

}  // namespace qflow
