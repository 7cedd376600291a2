#include "reload_manager.hpp"

#include "stage.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <pthread.h>

namespace qflow {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kQuiet = std::chrono::milliseconds(150);  // debounce: this long without a change
constexpr auto kMaxDelay = std::chrono::milliseconds(500);
constexpr auto kCommitTimeout = std::chrono::seconds(10);

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::absolute(path, ec);
  return (ec ? fs::path(path) : p).lexically_normal().string();
}

bool supports_reload(const NodeRuntime& n) {
  const qf_node_vtable& vt = n.vt();
  return QF_VTABLE_HAS(&vt, commit_reload) && vt.prepare_reload && vt.commit_reload;
}

std::string version_of(const NodeRuntime& n) {
  const qf_node_vtable& vt = n.vt();
  if (!QF_VTABLE_HAS(&vt, version) || !vt.version) return "";
  const char* v = vt.version(n.instance.self);
  return v ? v : "";
}

const ParamDecl* decl_of(const GraphNode& n, const std::string& name) {
  for (const ParamDecl& d : n.type->params)
    if (d.name == name) return &d;
  for (const ParamDecl& d : n.extra_params)
    if (d.name == name) return &d;
  return nullptr;
}

std::vector<std::string> param_names(const ParamSet& p) {
  std::vector<std::string> out;
  for (const qf_param_value& v : p.values()) out.emplace_back(v.name);
  return out;
}

// Why `next` cannot replace `running` without a restart, or "" when it can.
std::string structural_difference(const Graph& running, const Graph& next) {
  if (running.mode != next.mode) return "the mode changed";
  if (running.output != next.output) return "the output folder changed";
  if (running.batch_size != next.batch_size || running.max_batches_in_flight != next.max_batches_in_flight ||
      running.vectorize != next.vectorize || running.facts != next.facts ||
      running.checkpoint_every_ns != next.checkpoint_every_ns || running.checkpoint_events != next.checkpoint_events)
    return "the engine settings changed";
  for (const GraphNode& n : next.nodes) {
    const auto it = std::find_if(running.nodes.begin(), running.nodes.end(), [&](const GraphNode& r) { return r.id == n.id; });
    if (it == running.nodes.end()) return "node '" + n.id + "' was added";
  }
  if (running.nodes.size() != next.nodes.size()) {
    for (const GraphNode& r : running.nodes) {
      const auto it = std::find_if(next.nodes.begin(), next.nodes.end(), [&](const GraphNode& n) { return n.id == r.id; });
      if (it == next.nodes.end()) return "node '" + r.id + "' was removed";
    }
  }
  for (size_t i = 0; i < running.nodes.size(); ++i) {
    const GraphNode& r = running.nodes[i];
    const GraphNode& n = next.nodes[i];
    if (r.id != n.id) return "the nodes were reordered ('" + n.id + "' where '" + r.id + "' was)";
    if (r.type->name != n.type->name) return "node '" + r.id + "' changed type from " + r.type->name + " to " + n.type->name;
    bool same_inputs = r.slots.size() == n.slots.size();
    for (size_t s = 0; same_inputs && s < r.slots.size(); ++s)
      same_inputs = r.slots[s].port == n.slots[s].port && r.slots[s].producer == n.slots[s].producer &&
                    r.slots[s].producer_port == n.slots[s].producer_port;
    if (!same_inputs) return "the inputs of node '" + r.id + "' changed";
  }
  return "";
}

}  // namespace

ReloadManager::ReloadManager(const Graph& graph, const std::vector<NodeRuntime*>& nodes,
                             std::function<Stage*(uint32_t)> stage_of, GraphLoader load_graph)
    : graph_(graph), nodes_(nodes), stage_of_(std::move(stage_of)), load_graph_(std::move(load_graph)),
      pipeline_file_(absolute(graph.file)) {
  for (const GraphNode& n : graph.nodes) params_.push_back(n.params);
  for (uint32_t i = 0; i < nodes_.size(); ++i) {
    if (!supports_reload(*nodes_[i]) || !stage_of_(i)) continue;
    for (const qf_param_value& v : params_[i].values())
      if (v.type == QF_PARAM_PATH && v.is_set && v.s.size) files_[absolute(std::string(v.s.data, v.s.size))].push_back({i, v.name});
  }
}

ReloadManager::~ReloadManager() { stop(); }

namespace {

std::optional<uint64_t> fingerprint(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size > (4u << 20)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ull;
    }
    if (!in) break;
  }
  return h;
}

}  // namespace

std::map<std::string, uint64_t> file_fingerprints(const Graph& graph) {
  std::map<std::string, uint64_t> out;
  std::set<std::string> files{absolute(graph.file)};
  for (const GraphNode& n : graph.nodes)
    for (const qf_param_value& v : n.params.values())
      if (v.type == QF_PARAM_PATH && v.is_set && v.s.size) files.insert(absolute(std::string(v.s.data, v.s.size)));
  for (const std::string& f : files)
    if (const auto h = fingerprint(f)) out[f] = *h;
  return out;
}

void ReloadManager::start() {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error("cannot watch files for reloads: inotify is not available");
  watch_files();
  // Saved after the nodes read them but before the watch began: as if inotify had said so.
  for (const auto& [file, hash] : loaded_)
    if ((file == pipeline_file_ || files_.count(file)) && fingerprint(file) != std::optional<uint64_t>(hash))
      changed_before_start_.insert(file);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "qf-reload");
    loop();
  });
}

void ReloadManager::watch_files() {
  std::set<std::string> dirs;
  dirs.insert(fs::path(pipeline_file_).parent_path().string());
  for (const auto& [file, who] : files_) dirs.insert(fs::path(file).parent_path().string());
  for (const std::string& dir : dirs) {
    // Editors save in place (close-write) or write a new file and rename it over the old one.
    const int wd = inotify_add_watch(inotify_fd_, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
    if (wd < 0) {
      spdlog::warn("reload: cannot watch {}: {}", dir, std::strerror(errno));
      continue;
    }
    dirs_[wd] = dir;
  }
}

void ReloadManager::stop() {
  if (thread_.joinable()) {
    stopping_ = true;
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  inotify_fd_ = wake_fd_ = -1;
}

void ReloadManager::loop() {
  std::set<std::string> pending = changed_before_start_;
  Clock::time_point first = Clock::now(), last = first;
  alignas(inotify_event) char buf[8192];
  while (!stopping_) {
    int timeout = -1;
    if (!pending.empty()) {
      const auto now = Clock::now();
      const auto due = std::min(last + kQuiet, first + kMaxDelay);
      timeout = due <= now ? 0 : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count()) + 1;
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int rc = ::poll(fds, 2, timeout);
    if (stopping_) break;
    if (rc > 0 && (fds[0].revents & POLLIN)) {
      for (;;) {
        const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t at = 0; at < n;) {
          const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
          at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
          const auto dir = dirs_.find(e->wd);
          if (dir == dirs_.end() || e->len == 0) continue;
          const std::string path = (fs::path(dir->second) / e->name).lexically_normal().string();
          if (path != pipeline_file_ && !files_.count(path)) continue;
          const auto now = Clock::now();
          if (pending.empty()) first = now;
          last = now;
          pending.insert(path);
        }
      }
    }
    if (!pending.empty()) {
      const auto now = Clock::now();
      if (now - last >= kQuiet || now - first >= kMaxDelay) {
        std::vector<ReloadEvent> out;
        std::lock_guard lock(work_mutex_);
        handle(pending, "", out);
        pending.clear();
      }
    }
  }
}

std::vector<ReloadEvent> ReloadManager::request(const std::string& node) {
  std::set<std::string> files{pipeline_file_};
  for (const auto& [file, who] : files_) files.insert(file);
  std::vector<ReloadEvent> out;
  std::lock_guard lock(work_mutex_);
  handle(files, node, out);
  return out;
}

void ReloadManager::handle(const std::set<std::string>& files, const std::string& only_node, std::vector<ReloadEvent>& out) {
  struct Step {
    ParamSet params;
    std::string file;
  };
  std::map<uint32_t, Step> plan;
  auto refuse = [&](const std::string& node, const std::string& file, const std::string& why) {
    ReloadEvent e;
    e.node = node;
    e.file = file;
    e.error = why;
    record(std::move(e), out);
  };
  if (!only_node.empty() &&
      std::none_of(graph_.nodes.begin(), graph_.nodes.end(), [&](const GraphNode& n) { return n.id == only_node; })) {
    refuse(only_node, "", "the pipeline has no node '" + only_node + "'");
    return;
  }
  std::optional<Graph> next;
  if (files.count(pipeline_file_) && load_graph_) {
    std::string error;
    next = load_graph_(error);
    if (!next) {
      refuse("pipeline", pipeline_file_, "the pipeline no longer loads; the running version goes on: " + error);
      return;
    }
    const std::string why = structural_difference(graph_, *next);
    if (!why.empty()) {
      refuse("pipeline", pipeline_file_, why + ": that needs a restart; the running pipeline goes on unchanged");
      return;
    }
    for (uint32_t i = 0; i < graph_.nodes.size(); ++i) {
      const GraphNode& r = graph_.nodes[i];
      std::vector<std::string> changed;
      std::vector<std::string> names = param_names(params_[i]);
      for (const std::string& name : param_names(next->nodes[i].params))
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      for (const std::string& name : names)
        if (params_[i].text(name) != next->nodes[i].params.text(name)) changed.push_back(name);
      if (changed.empty()) continue;
      std::string list;
      for (const std::string& c : changed) list += (list.empty() ? "'" : ", '") + c + "'";
      if (!supports_reload(*nodes_[i]) || !stage_of_(i)) {
        refuse(r.id, pipeline_file_, "parameter " + list + " of node '" + r.id + "' (" + r.type->name +
                                         ") changed, but that node cannot be reloaded: that needs a restart; nothing was applied");
        return;
      }
      for (const std::string& c : changed) {
        const ParamDecl* d = decl_of(next->nodes[i], c);
        if (!d) d = decl_of(r, c);
        if (!d || !(d->flags & QF_PARAM_RELOADABLE)) {
          refuse(r.id, pipeline_file_, "parameter '" + c + "' of node '" + r.id + "' (" + r.type->name +
                                           ") is not reloadable: that needs a restart; nothing was applied");
          return;
        }
      }
      plan[i] = Step{next->nodes[i].params, pipeline_file_};
    }
  }
  for (const std::string& file : files) {
    const auto it = files_.find(file);
    if (it == files_.end()) continue;
    for (const Watched& w : it->second)
      if (!plan.count(w.node)) plan[w.node] = Step{params_[w.node], file};
  }
  if (!only_node.empty()) {
    for (auto it = plan.begin(); it != plan.end();)
      it = graph_.nodes[it->first].id == only_node ? std::next(it) : plan.erase(it);
    if (plan.empty()) {
      uint32_t i = 0;
      while (graph_.nodes[i].id != only_node) ++i;
      if (!supports_reload(*nodes_[i]) || !stage_of_(i)) {
        refuse(only_node, "", "node '" + only_node + "' (" + graph_.nodes[i].type->name + ") cannot be reloaded");
        return;
      }
      plan[i] = Step{params_[i], ""};
    }
  }
  for (auto& [index, step] : plan) {
    ReloadEvent e = reload_node(index, step.params, step.file);
    if (e.applied) params_[index] = step.params;
    record(std::move(e), out);
  }
}

ReloadEvent ReloadManager::reload_node(uint32_t index, const ParamSet& params, const std::string& file) {
  NodeRuntime& n = *nodes_[index];
  ReloadEvent e;
  e.node = n.def->id;
  e.file = file;
  e.old_version = version_of(n);
  // Off the hot path: the node builds its next version here while its stage keeps running.
  qf_error err{};
  const std::vector<qf_param_value>& values = params.values();
  if (n.vt().prepare_reload(n.instance.self, values.data(), static_cast<uint32_t>(values.size()), &err) != QF_OK) {
    e.error = err.message[0] ? err.message : "the node refused the reload without saying why";
    return e;
  }
  // Between two batches, on the stage's thread.
  Stage* stage = stage_of_(index);
  // 0: waiting for the stage, 1: the stage took it, 2: given up (the stage then aborts it).
  auto claim = std::make_shared<std::atomic<int>>(0);
  auto done = std::make_shared<std::promise<std::pair<std::string, double>>>();
  std::future<std::pair<std::string, double>> result = done->get_future();
  stage->post([&n, done, claim] {
    if (claim->exchange(1) == 2) {
      if (QF_VTABLE_HAS(&n.vt(), abort_reload) && n.vt().abort_reload) n.vt().abort_reload(n.instance.self);
      return;
    }
    const auto t0 = Clock::now();
    n.reported_error.clear();
    const int32_t rc = n.vt().commit_reload(n.instance.self, &n.ctx);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    done->set_value({rc == QF_OK ? std::string() : n.failure("commit_reload"), ms});
  });
  if (result.wait_for(kCommitTimeout) != std::future_status::ready && claim->exchange(2) == 0) {
    // The stage is not taking batches (the run is ending): the prepared version is dropped.
    e.error = "the pipeline did not reach a point where the new version could take over";
    return e;
  }
  const auto [error, ms] = result.get();
  e.swap_ms = ms;
  if (!error.empty()) {
    e.error = error;
    return e;
  }
  e.applied = true;
  e.new_version = version_of(n);
  return e;
}

void ReloadManager::record(ReloadEvent e, std::vector<ReloadEvent>& out) {
  e.time_ns = wall_ns();
  if (e.applied)
    spdlog::info("reload: node '{}' now runs {} (was {}; swapped in {:.3f} ms)", e.node, e.new_version.empty() ? "its new parameters" : e.new_version,
                 e.old_version.empty() ? "-" : e.old_version, e.swap_ms);
  else
    spdlog::error("reload refused for {}: {}", e.node == "pipeline" ? std::string("the pipeline") : "node '" + e.node + "'", e.error);
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(e);
  }
  if (on_event) on_event(e);
  out.push_back(std::move(e));
}

std::vector<ReloadEvent> ReloadManager::events() const {
  std::lock_guard lock(events_mutex_);
  return events_;
}

}  // namespace qflow
