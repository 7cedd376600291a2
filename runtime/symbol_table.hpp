// Interned strings shared by every node of a process: symbols and alert texts travel in events
// as 32-bit ids. Ids are stable for the life of the process; 0 is the empty string.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qflow {

class SymbolTable {
 public:
  SymbolTable() { strings_.emplace_back(); }

  uint32_t intern(std::string_view s) {
    {
      std::shared_lock lock(mutex_);  // guards ids_ and strings_
      auto it = ids_.find(s);
      if (it != ids_.end()) return it->second;
    }
    std::unique_lock lock(mutex_);
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const auto id = static_cast<uint32_t>(strings_.size());
    const std::string& kept = strings_.emplace_back(s);
    ids_.emplace(std::string_view(kept), id);
    return id;
  }

  // Every string in id order (index = id; 0 is the empty string).
  std::vector<std::string> snapshot() const {
    std::shared_lock lock(mutex_);
    return {strings_.begin(), strings_.end()};
  }

  std::string_view lookup(uint32_t id) const {
    std::shared_lock lock(mutex_);
    return id < strings_.size() ? std::string_view(strings_[id]) : std::string_view();
  }

 private:
  mutable std::shared_mutex mutex_;
  std::deque<std::string> strings_;  // deque: stable addresses for the views in ids_
  std::unordered_map<std::string_view, uint32_t> ids_;
};

}  // namespace qflow
