// A fake host for testing one node in isolation: loads the node's real plugin library, creates
// one instance from string parameters (as YAML would give them), pushes events into its slots
// cycle by cycle and collects what it emits. It follows the cycle contract of abi.h: on_event
// for each delivery, then on_cycle once if a regular slot received something.
#pragma once

#include <qflow/sdk.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qflow::testing {

// A connection into the node: the input port's name and the label the pipeline would give it.
struct HarnessSlot {
  std::string port;
  std::string label;
  uint32_t kinds = 0;  // 0: the port's declared kinds
};

struct Output {
  uint32_t port;
  std::string port_name;
  qf_event ev;
};

// Thrown when the node reports an error (the node's own message is the what()).
struct NodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class NodeHarness {
 public:
  NodeHarness(const std::string& library_path, const std::string& type_name,
              const std::map<std::string, std::string>& params, std::vector<HarnessSlot> slots = {},
              std::string output_dir = ".");
  ~NodeHarness();
  NodeHarness(const NodeHarness&) = delete;
  NodeHarness& operator=(const NodeHarness&) = delete;

  const qf_node_spec& spec() const { return *spec_; }
  uint32_t intern(std::string_view s);
  std::string_view lookup(uint32_t id) const;
  uint32_t output_port(std::string_view name) const;

  void start();
  // One cycle: deliver each (slot, event) in order, then on_cycle. Returns what was emitted.
  std::vector<Output> cycle(const std::vector<std::pair<uint32_t, qf_event>>& deliveries);
  std::vector<Output> push(uint32_t slot, const qf_event& ev) { return cycle({{slot, ev}}); }
  // Hands `events` (one per cycle, seq numbered from the harness's counter) to on_batch.
  std::vector<Output> push_batch(uint32_t slot, std::vector<qf_event> events);
  // Delivers a fill, order update or account snapshot through on_feedback.
  std::vector<Output> feedback(const qf_event& ev);
  std::vector<Output> produce(uint32_t max_events, SourceStatus* status);
  std::vector<Output> stop();
  std::string save_state();
  void restore_state(const std::string& bytes);

  const std::vector<std::string>& logs() const;
  double progress() const;
  uint32_t origin_handle() const { return 1; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  const qf_node_spec* spec_ = nullptr;
};

// Path of a plugin built in this tree (lib/qflow/plugins/<name>.so under the build directory).
std::string plugin_path(const std::string& library_name);

}  // namespace qflow::testing
