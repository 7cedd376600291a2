// Live reload of a running pipeline: edited scripts and reloadable parameters take effect
// without a restart.
//
// What triggers a reload:
//   - a file changes on disk (inotify): the pipeline file, or a file a reloadable node reads
//     through a path parameter (a Lua script). Saves are debounced: the manager acts once the
//     files have been quiet for 150 ms (at most 500 ms after the first change), so an editor's
//     burst of writes, or a storm of saves, becomes one reload;
//   - request(): the control API (`POST /api/reload`).
// A changed pipeline file is loaded and validated again and compared with the running graph.
// A structural change (a node added, removed or retyped, an input rewired, the engine or mode
// changed) is refused: a restart is needed. So is a changed parameter that its node does not
// declare reloadable. Otherwise every node with a changed parameter, or reading a changed
// file, is reloaded: the node prepares its next version on the manager's thread (compile, check,
// initialise), then the stage that runs the node swaps it in between two batches, on its own
// thread. A node that fails either step keeps running its current version.
//
// Every attempt becomes a ReloadEvent (time, node, file, old and new version, outcome, error,
// and how long the swap held the stage), logged, handed to `on_event` (the dashboard) and kept
// for the run's facts.
#pragma once

#include "graph.hpp"
#include "node_runtime.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace qflow {

class Stage;

struct ReloadEvent {
  int64_t time_ns = 0;  // wall clock
  std::string node;     // the node's id; "pipeline" for a refused pipeline change
  std::string file;     // what changed ("" for a request)
  std::string old_version, new_version;
  bool applied = false;
  std::string error;     // why not
  double swap_ms = 0;    // how long the swap held the node's stage
};

// The files a pipeline's nodes read that are small enough to be scripts (at most 4 MiB; data
// files are not reloaded), and the pipeline file: absolute path -> a hash of the content.
std::map<std::string, uint64_t> file_fingerprints(const Graph& graph);

class ReloadManager {
 public:
  // Loads and validates the pipeline file again; nullopt with `error` set when it cannot.
  using GraphLoader = std::function<std::optional<Graph>(std::string& error)>;

  // `stage_of` gives the stage running a node (nullptr for a source: not reloadable).
  ReloadManager(const Graph& graph, const std::vector<NodeRuntime*>& nodes, std::function<Stage*(uint32_t)> stage_of,
                GraphLoader load_graph);
  ~ReloadManager();
  ReloadManager(const ReloadManager&) = delete;
  ReloadManager& operator=(const ReloadManager&) = delete;

  // What the files of reloadable nodes and the pipeline file held when the nodes read them
  // (file_fingerprints, taken before the nodes are created): start() reloads a file saved
  // between then and the moment the watching began, which inotify could not report.
  void set_loaded(std::map<std::string, uint64_t> fingerprints) { loaded_ = std::move(fingerprints); }

  // Starts the watching thread. Throws std::runtime_error when inotify is not available.
  void start();
  void stop();

  // Reloads `node` (every reloadable node when empty) from its current files and parameters,
  // or from the pipeline file when it changed. Returns the attempts' events. Any thread.
  std::vector<ReloadEvent> request(const std::string& node = "");

  std::vector<ReloadEvent> events() const;
  // Called on the manager's thread for every attempt.
  std::function<void(const ReloadEvent&)> on_event;

 private:
  struct Watched {
    uint32_t node;
    std::string param;  // the path parameter that names the file
  };
  void loop();
  std::map<std::string, uint64_t> loaded_;
  std::set<std::string> changed_before_start_;
  void handle(const std::set<std::string>& files, const std::string& only_node, std::vector<ReloadEvent>& out);
  ReloadEvent reload_node(uint32_t index, const ParamSet& params, const std::string& file);
  void record(ReloadEvent e, std::vector<ReloadEvent>& out);
  void watch_files();

  const Graph& graph_;
  std::vector<NodeRuntime*> nodes_;
  std::function<Stage*(uint32_t)> stage_of_;
  GraphLoader load_graph_;
  std::vector<ParamSet> params_;  // each node's parameters as running now
  std::string pipeline_file_;     // absolute
  std::map<std::string, std::vector<Watched>> files_;  // absolute path → who reads it

  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop
  std::map<int, std::string> dirs_;  // watch descriptor → directory
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex work_mutex_;  // one reload at a time (the watcher's or a request's)

  mutable std::mutex events_mutex_;
  std::vector<ReloadEvent> events_;
};

}  // namespace qflow
