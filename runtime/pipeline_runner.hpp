// Runs a validated graph: creates the nodes, plans the stages, wires them into a oneTBB flow
// graph and drives it to the end of the data (or to Ctrl-C, or to the first node failure).
//
// Memory stays bounded however long the data: a source stage produces a batch only while fewer
// than `max_batches_in_flight` of its batches (and the batches derived from them downstream)
// are alive. Outputs are identical whatever the number of threads: every stage is serial and
// consumes its input batches in order.
//
// With the store on, the run's facts go to <output>/qflow.db as they are produced, checkpoints
// are taken as the pipeline's engine settings say (checkpoint.hpp), and `resume` continues a
// run that crashed or was interrupted from its last checkpoint, with exactly the outputs an
// uninterrupted run gives.
#pragma once

#include "graph.hpp"
#include "reload_manager.hpp"
#include "run_monitor.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace qflow {

struct RunOptions {
  int threads = 0;  // 0: all cores
  const std::atomic<bool>* interrupted = nullptr;
  bool progress = false;  // live progress line on stderr
  bool stats = false;     // per-node event counts at the end
  // The run's store (<output>/qflow.db): facts, checkpoints and the run record. Off: nothing
  // is written there (the benchmark's baseline).
  bool store = true;
  std::string run_id;  // empty: default_run_id()
  bool resume = false;  // continue the run from its last checkpoint
  bool force = false;   // resume or replace although the pipeline changed
  // Time origin for first_event_seconds (default: entry into run_pipeline).
  std::optional<std::chrono::steady_clock::time_point> started;
  // Live reload (paper and live mode): watch the pipeline file and the scripts, and apply
  // their changes while the pipeline runs. `load_graph` loads the pipeline file again; without
  // it, changes to the pipeline file itself are not applied (scripts still are).
  bool reload = true;
  ReloadManager::GraphLoader load_graph;
  // Called with the reload manager once the pipeline runs, and with nullptr when it stops
  // (the control server's `POST /api/reload`).
  std::function<void(ReloadManager*)> on_reload_manager;
  // The control and dashboard server of a paper or live run (none when unset, and never in a
  // backtest). The URL is logged when it listens.
  std::optional<MonitorOptions> monitor;
  // Called with the dashboard's URL once it listens (tests read the port from it).
  std::function<void(const std::string&)> on_monitor_url;
  // Benchmarks: the in-process simulator records when it sent each frame, handed over here
  // when the run ends.
  std::function<void(std::vector<int64_t> send_times)> on_simulator_send_times;
};

struct RunResult {
  enum class Status { ok, failed, interrupted };
  Status status = Status::ok;
  std::string error;
  uint64_t events = 0;  // market events read from the sources (in every attempt of a run)
  double seconds = 0;
  std::string output_dir;
  std::string run_id;
  bool resumed = false;           // continued from a checkpoint
  uint64_t resumed_events = 0;    // events read before that checkpoint
  double first_event_seconds = -1;  // from `started` until the first batch was processed
};

RunResult run_pipeline(const Graph& graph, const RunOptions& options);

}  // namespace qflow
