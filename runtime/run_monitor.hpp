// A running pipeline, as the control server shows it: status, Prometheus metrics, the kill
// switch, reloads, and the live stream the dashboard draws.
//
// Stages and source groups hand it what they see (observe(): bars, orders, order updates,
// fills, positions, account snapshots) without waiting: events go into a queue that a
// publisher thread turns into JSON messages four times a second. When more arrive in one
// period than kMaxPerTick, the oldest of that period are not published (the dashboard is a
// view; the run's facts keep everything) and are counted. Log lines at info and above, reload
// attempts and kill-switch changes are published too. A page that connects mid-session first
// gets a "hello" with the recent history: bars per symbol, fills, the equity curve, reloads,
// the log, the account and the node table.
//
// Day's PnL: equity now minus the equity of the first account snapshot of the current UTC day
// (by event time).
#pragma once

#include "graph.hpp"
#include "net/control_server.hpp"
#include "node_runtime.hpp"
#include "reload_manager.hpp"
#include "run_control.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spdlog::sinks {
class sink;
}

namespace qflow {

struct MonitorOptions {
  std::string host = "127.0.0.1";
  int port = 8321;     // 0: any free port
  std::string token;   // empty: control endpoints are open (to this machine)
};

class RunMonitor {
 public:
  static constexpr size_t kMaxPerTick = 5000;

  RunMonitor(const Graph& graph, std::vector<NodeRuntime*> nodes, RunControl& control, SymbolTable& symbols,
             std::string run_id, MonitorOptions options);
  ~RunMonitor();
  RunMonitor(const RunMonitor&) = delete;
  RunMonitor& operator=(const RunMonitor&) = delete;

  // Binds and starts serving; throws std::runtime_error naming the address on failure.
  void start();
  void stop();
  std::string url() const;

  // Any thread, never blocks for long.
  void observe(const qf_event& e, uint32_t node);
  void set_reloads(ReloadManager* manager);  // nullptr when it stops
  void on_reload(const ReloadEvent& e);
  void on_log(int level, std::string text);
  // A log sink that publishes info lines and above (add it to the loggers for the run).
  std::shared_ptr<spdlog::sinks::sink> log_sink();
  void set_events(uint64_t events) { events_.store(events, std::memory_order_relaxed); }
  void set_ready(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  // The handlers, also for tests.
  nlohmann::json status() const;
  std::string metrics() const;
  nlohmann::json kill(bool flatten);

 private:
  struct Observed {
    qf_event e;
    uint32_t node;
  };
  void loop();
  void publish_tick();
  nlohmann::json hello() const;
  nlohmann::json nodes_message() const;
  std::string node_state(const NodeRuntime& n) const;
  nlohmann::json risk_message() const;
  nlohmann::json account_message() const;
  void publish(const nlohmann::json& message);
  std::string name(uint32_t id) const;

  const Graph& graph_;
  std::vector<NodeRuntime*> nodes_;
  RunControl& control_;
  SymbolTable& symbols_;
  std::string run_id_;
  MonitorOptions options_;
  std::unique_ptr<net::ControlServer> server_;
  const int64_t started_ms_;
  std::atomic<uint64_t> events_{0};
  std::atomic<bool> ready_{false};

  std::mutex queue_mutex_;  // guards queue_, logs_, dropped_
  std::vector<Observed> queue_;
  std::vector<nlohmann::json> pending_messages_;  // logs and reloads, in order
  uint64_t dropped_ = 0;

  mutable std::mutex state_mutex_;  // guards everything below (the publisher's view of the run)
  std::map<std::string, std::deque<nlohmann::json>> bars_;  // per symbol, the latest kHistoryBars
  std::deque<nlohmann::json> fills_, reloads_, log_, equity_;
  std::map<std::pair<uint32_t, uint64_t>, qf_event> orders_;  // (origin, id) → the order, while open
  std::map<std::pair<uint32_t, uint32_t>, qf_position> positions_;  // (executor, symbol)
  std::map<uint32_t, double> last_price_;
  qf_account account_{};
  bool has_account_ = false;
  int64_t account_time_ = 0;
  int64_t day_ = INT64_MIN;
  double day_start_equity_ = 0;
  ReloadManager* reload_manager_ = nullptr;

  std::thread thread_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace qflow
