#include "run_monitor.hpp"

#include <qflow/events.hpp>
#include <qflow/time.hpp>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <set>

#include <pthread.h>

namespace qflow {
namespace {

constexpr size_t kHistoryBars = 2000;  // per symbol
constexpr size_t kHistoryFills = 200, kHistoryReloads = 200, kHistoryLog = 200, kHistoryEquity = 5000;
constexpr int64_t kNsPerMs = 1'000'000, kNsPerDay = 86'400'000'000'000;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

template <class T>
void push_capped(std::deque<T>& d, T v, size_t cap) {
  d.push_back(std::move(v));
  while (d.size() > cap) d.pop_front();
}

// Prometheus label values escape \, " and newlines.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Log lines at info and above, to the dashboard.
class MonitorSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit MonitorSink(RunMonitor& monitor) : monitor_(monitor) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::info) return;
    const int level = msg.level >= spdlog::level::err ? QF_LOG_ERROR : msg.level == spdlog::level::warn ? QF_LOG_WARN : QF_LOG_INFO;
    std::string text(msg.logger_name.data(), msg.logger_name.size());
    text += ": ";
    text.append(msg.payload.data(), msg.payload.size());
    monitor_.on_log(level, std::move(text));
  }
  void flush_() override {}

 private:
  RunMonitor& monitor_;
};

}  // namespace

std::shared_ptr<spdlog::sinks::sink> RunMonitor::log_sink() { return std::make_shared<MonitorSink>(*this); }

RunMonitor::RunMonitor(const Graph& graph, std::vector<NodeRuntime*> nodes, RunControl& control, SymbolTable& symbols,
                       std::string run_id, MonitorOptions options)
    : graph_(graph), nodes_(std::move(nodes)), control_(control), symbols_(symbols), run_id_(std::move(run_id)),
      options_(std::move(options)), started_ms_(wall_ms()) {}

RunMonitor::~RunMonitor() { stop(); }

void RunMonitor::start() {
  net::ControlOptions o;
  o.host = options_.host;
  o.port = options_.port;
  o.token = options_.token;
  net::ControlHandlers h;
  h.status = [this] { return status(); };
  h.metrics = [this] { return metrics(); };
  h.ready = [this] { return ready_.load(std::memory_order_relaxed); };
  h.kill = [this](bool flatten) { return kill(flatten); };
  h.reload = [this](const nlohmann::json& request) {
    std::string node;
    if (request.is_object() && request.contains("node") && request["node"].is_string()) node = request["node"];
    ReloadManager* manager;
    {
      std::lock_guard lock(state_mutex_);
      manager = reload_manager_;
    }
    nlohmann::json out = nlohmann::json::object();
    if (!manager) {
      out["error"] = "live reload is not running (backtest, or the pipeline is stopping)";
      return out;
    }
    nlohmann::json attempts = nlohmann::json::array();
    for (const ReloadEvent& e : manager->request(node))
      attempts.push_back({{"node", e.node}, {"outcome", e.applied ? "applied" : "refused"}, {"old_hash", e.old_version},
                          {"new_hash", e.new_version}, {"error", e.error.empty() ? nlohmann::json() : nlohmann::json(e.error)}});
    out["reloads"] = attempts;
    return out;
  };
  h.snapshot = [this] { return hello(); };
  server_ = std::make_unique<net::ControlServer>(std::move(o), std::move(h));
  server_->start();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "qf-monitor");
    loop();
  });
}

void RunMonitor::stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(wake_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    publish_tick();  // the last events and the final state
  }
  if (server_) server_->stop();
}

std::string RunMonitor::url() const { return server_ ? server_->url() : std::string(); }

void RunMonitor::observe(const qf_event& e, uint32_t node) {
  std::lock_guard lock(queue_mutex_);
  if (queue_.size() >= 4 * kMaxPerTick) {
    ++dropped_;
    return;
  }
  queue_.push_back({e, node});
}

void RunMonitor::set_reloads(ReloadManager* manager) {
  std::lock_guard lock(state_mutex_);
  reload_manager_ = manager;
}

void RunMonitor::on_reload(const ReloadEvent& e) {
  nlohmann::json m = {{"type", "reload"},
                      {"t", e.time_ns / kNsPerMs},
                      {"node", e.node},
                      {"file", e.file},
                      {"old_hash", e.old_version},
                      {"new_hash", e.new_version},
                      {"outcome", e.applied ? "applied" : "refused"},
                      {"error", e.error.empty() ? nlohmann::json() : nlohmann::json(e.error)},
                      {"swap_ms", e.swap_ms}};
  {
    std::lock_guard lock(state_mutex_);
    push_capped(reloads_, m, kHistoryReloads);
  }
  std::lock_guard lock(queue_mutex_);
  pending_messages_.push_back(std::move(m));
}

void RunMonitor::on_log(int level, std::string text) {
  nlohmann::json m = {{"type", "log"}, {"t", wall_ms()}, {"level", level >= QF_LOG_ERROR ? "error" : level == QF_LOG_WARN ? "warn" : "info"},
                      {"text", std::move(text)}};
  {
    std::lock_guard lock(state_mutex_);
    push_capped(log_, m, kHistoryLog);
  }
  std::lock_guard lock(queue_mutex_);
  if (pending_messages_.size() < 10000) pending_messages_.push_back(std::move(m));
}

nlohmann::json RunMonitor::kill(bool flatten) {
  const bool was = control_.halted.exchange(true);
  if (!was) control_.halted_at_ns.store(wall_ms() * kNsPerMs);
  if (flatten) control_.flatten_epoch.fetch_add(1);
  spdlog::warn("kill switch: no new order reaches an executor{}", flatten ? "; closing every position" : "");
  publish(risk_message());
  return {{"killed", true}, {"flatten", flatten}, {"already", was}};
}

void RunMonitor::loop() {
  std::unique_lock lock(wake_mutex_);
  int tick = 0;
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    publish_tick();
    if (++tick % 4 == 0) {
      publish(nodes_message());
      publish(risk_message());
      publish(status());
    }
    lock.lock();
  }
}

std::string RunMonitor::name(uint32_t id) const { return std::string(symbols_.lookup(id)); }

void RunMonitor::publish(const nlohmann::json& message) {
  if (server_) server_->publish(message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void RunMonitor::publish_tick() {
  std::vector<Observed> batch;
  std::vector<nlohmann::json> messages;
  {
    std::lock_guard lock(queue_mutex_);
    batch.swap(queue_);
    messages.swap(pending_messages_);
  }
  for (const nlohmann::json& m : messages) publish(m);
  const size_t skip = batch.size() > kMaxPerTick ? batch.size() - kMaxPerTick : 0;
  bool account_changed = false;
  std::vector<nlohmann::json> out;
  {
    std::lock_guard lock(state_mutex_);
    for (size_t i = 0; i < batch.size(); ++i) {
      const qf_event& e = batch[i].e;
      const bool shown = i >= skip;
      switch (e.kind) {
        case QF_KIND_BAR: {
          last_price_[e.symbol] = e.u.bar.close;
          nlohmann::json m = {{"type", "bar"}, {"symbol", name(e.symbol)}, {"t", e.time_ns / kNsPerMs}, {"o", e.u.bar.open},
                              {"h", e.u.bar.high},  {"l", e.u.bar.low},         {"c", e.u.bar.close},    {"v", e.u.bar.volume}};
          push_capped(bars_[m["symbol"].get<std::string>()], m, kHistoryBars);
          if (shown) out.push_back(std::move(m));
          break;
        }
        case QF_KIND_ORDER:
          if (e.u.order.type != QF_ORDER_CANCEL) orders_[{e.origin, e.u.order.order_id}] = e;
          break;
        case QF_KIND_ORDER_UPDATE: {
          const auto it = orders_.find({e.origin, e.u.order_update.order_id});
          const qf_event* o = it != orders_.end() ? &it->second : nullptr;
          const int32_t status = e.u.order_update.status;
          nlohmann::json m = {{"type", "order"},
                              {"symbol", name(e.symbol)},
                              {"t", e.time_ns / kNsPerMs},
                              {"id", e.u.order_update.order_id},
                              {"side", o ? side_name(o->u.order.side) : ""},
                              {"qty", o ? o->u.order.quantity : e.u.order_update.remaining_quantity},
                              {"order_type", o ? order_type_name(o->u.order.type) : "market"},
                              {"limit", o ? o->u.order.limit_price : 0},
                              {"stop", o ? o->u.order.stop_price : 0},
                              {"status", order_status_name(status)},
                              {"reason", e.u.order_update.reason},
                              {"node", e.origin && e.origin - 1 < graph_.nodes.size() ? graph_.nodes[e.origin - 1].id : ""},
                              {"version", name(e.u.order_update.tag)}};
          if (status != QF_ORDER_ACCEPTED && status != QF_ORDER_PARTIALLY_FILLED && it != orders_.end()) orders_.erase(it);
          if (shown) out.push_back(std::move(m));
          break;
        }
        case QF_KIND_FILL: {
          nlohmann::json m = {{"type", "fill"},
                              {"symbol", name(e.symbol)},
                              {"t", e.time_ns / kNsPerMs},
                              {"side", side_name(e.u.fill.side)},
                              {"qty", e.u.fill.quantity},
                              {"price", e.u.fill.price},
                              {"fee", e.u.fill.commission},
                              {"order_id", e.u.fill.order_id},
                              {"node", e.origin && e.origin - 1 < graph_.nodes.size() ? graph_.nodes[e.origin - 1].id : ""},
                              {"version", name(e.u.fill.tag)}};
          push_capped(fills_, m, kHistoryFills);
          if (shown) out.push_back(std::move(m));
          break;
        }
        case QF_KIND_POSITION:
          positions_[{batch[i].node, e.symbol}] = e.u.position;
          account_changed = true;
          break;
        case QF_KIND_ACCOUNT: {
          account_ = e.u.account;
          has_account_ = true;
          account_time_ = e.time_ns;
          const int64_t day = e.time_ns >= 0 ? e.time_ns / kNsPerDay : (e.time_ns - kNsPerDay + 1) / kNsPerDay;
          if (day != day_) {
            day_ = day;
            day_start_equity_ = e.u.account.equity;
          }
          account_changed = true;
          break;
        }
        default: break;
      }
    }
    if (account_changed && has_account_) push_capped(equity_, nlohmann::json{{"t", account_time_ / kNsPerMs}, {"equity", account_.equity}}, kHistoryEquity);
  }
  for (const nlohmann::json& m : out) publish(m);
  if (account_changed) publish(account_message());
}

nlohmann::json RunMonitor::account_message() const {
  std::lock_guard lock(state_mutex_);
  nlohmann::json positions = nlohmann::json::array();
  for (const auto& [key, p] : positions_) {
    if (std::abs(p.quantity) < 1e-12) continue;
    const auto last = last_price_.find(key.second);
    const double price = last != last_price_.end() ? last->second : p.average_price;
    positions.push_back({{"symbol", name(key.second)},
                         {"qty", p.quantity},
                         {"avg_price", p.average_price},
                         {"last", price},
                         {"value", p.quantity * price},
                         {"unrealized", p.unrealized_pnl}});
  }
  return {{"type", "account"},
          {"t", account_time_ / kNsPerMs},
          {"cash", account_.cash},
          {"equity", account_.equity},
          {"day_pnl", account_.equity - day_start_equity_},
          {"positions", positions}};
}

// "halted": the kill switch refuses the orders of strategies and executors; "errors": a
// callback failed (reported, and rolled back where the node can); "ok" otherwise.
std::string RunMonitor::node_state(const NodeRuntime& n) const {
  if (control_.halted.load() && (n.type->role == "strategy" || n.type->role == "executor")) return "halted";
  return static_cast<uint64_t>(n.timing.errors) > 0 ? "errors" : "ok";
}

nlohmann::json RunMonitor::nodes_message() const {
  nlohmann::json list = nlohmann::json::array();
  for (const NodeRuntime* n : nodes_) {
    const NodeTiming& t = n->timing;
    list.push_back({{"id", n->def->id},
                    {"type", n->type->name},
                    {"role", n->type->role},
                    {"events_in", static_cast<uint64_t>(n->events_in)},
                    {"events_out", static_cast<uint64_t>(n->events_out)},
                    {"errors", static_cast<uint64_t>(t.errors)},
                    {"p50_us", static_cast<double>(t.quantile(0.5)) / 1000.0},
                    {"p99_us", static_cast<double>(t.quantile(0.99)) / 1000.0},
                    {"busy_ms", static_cast<double>(static_cast<uint64_t>(t.busy_ns)) / 1e6},
                    {"state", node_state(*n)}});
  }
  return {{"type", "nodes"}, {"t", wall_ms()}, {"nodes", list}};
}

nlohmann::json RunMonitor::risk_message() const {
  return {{"type", "risk"},
          {"t", wall_ms()},
          {"killed", control_.halted.load()},
          {"flatten", control_.flatten_epoch.load() > 0},
          {"orders_blocked", control_.orders_blocked.load()},
          {"limits", nlohmann::json::array()}};
}

nlohmann::json RunMonitor::status() const {
  nlohmann::json s = {{"type", "status"},
                      {"run", run_id_},
                      {"pipeline", graph_.file},
                      {"mode", graph_.mode == QF_MODE_PAPER ? "paper" : graph_.mode == QF_MODE_LIVE ? "live" : "backtest"},
                      {"started_ms", started_ms_},
                      {"uptime_s", static_cast<double>(wall_ms() - started_ms_) / 1000.0},
                      {"events", events_.load()},
                      {"ready", ready_.load()},
                      {"killed", control_.halted.load()},
                      {"orders_blocked", control_.orders_blocked.load()}};
  nlohmann::json versions = nlohmann::json::object();
  for (const NodeRuntime* n : nodes_) {
    const qf_node_vtable& vt = n->vt();
    if (QF_VTABLE_HAS(&vt, version) && vt.version)
      if (const char* v = vt.version(n->instance.self)) versions[n->def->id] = v;
  }
  s["versions"] = versions;
  s["nodes"] = nodes_message()["nodes"];
  {
    std::lock_guard lock(state_mutex_);
    s["reloads"] = reloads_.size();
  }
  return s;
}

std::string RunMonitor::metrics() const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  auto sample = [&](const std::string& name, const std::string& labels, double v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += ' ';
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += buf;
    out += '\n';
  };
  auto labels_of = [&](const NodeRuntime* n) {
    return "node=\"" + label(n->def->id) + "\",type=\"" + label(n->type->name) + "\"";
  };
  family("qflow_events_total", "counter", "Market events read from the sources.");
  sample("qflow_events_total", "", static_cast<double>(events_.load()));
  family("qflow_killed", "gauge", "1 once the kill switch is engaged.");
  sample("qflow_killed", "", control_.halted.load() ? 1 : 0);
  family("qflow_orders_blocked_total", "counter", "Orders refused by the kill switch.");
  sample("qflow_orders_blocked_total", "", static_cast<double>(control_.orders_blocked.load()));
  family("qflow_node_events_in_total", "counter", "Events delivered to a node.");
  for (const NodeRuntime* n : nodes_) sample("qflow_node_events_in_total", labels_of(n), static_cast<double>(static_cast<uint64_t>(n->events_in)));
  family("qflow_node_events_out_total", "counter", "Events a node emitted.");
  for (const NodeRuntime* n : nodes_) sample("qflow_node_events_out_total", labels_of(n), static_cast<double>(static_cast<uint64_t>(n->events_out)));
  family("qflow_node_errors_total", "counter", "Callbacks of a node that failed.");
  for (const NodeRuntime* n : nodes_) sample("qflow_node_errors_total", labels_of(n), static_cast<double>(static_cast<uint64_t>(n->timing.errors)));
  family("qflow_node_callback_seconds", "histogram", "How long a node's callbacks took.");
  for (const NodeRuntime* n : nodes_) {
    const NodeTiming& t = n->timing;
    uint64_t cumulative = 0;
    for (int b = 0; b < NodeTiming::kBuckets; ++b) {
      cumulative += t.buckets[b];
      if (b < 10 && cumulative == 0) continue;  // below a microsecond and empty: skip
      const double le = static_cast<double>((uint64_t{1} << b)) / 1e9;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", le);
      sample("qflow_node_callback_seconds_bucket", labels_of(n) + ",le=\"" + buf + "\"", static_cast<double>(cumulative));
    }
    sample("qflow_node_callback_seconds_bucket", labels_of(n) + ",le=\"+Inf\"", static_cast<double>(static_cast<uint64_t>(t.calls)));
    sample("qflow_node_callback_seconds_sum", labels_of(n), static_cast<double>(static_cast<uint64_t>(t.busy_ns)) / 1e9);
    sample("qflow_node_callback_seconds_count", labels_of(n), static_cast<double>(static_cast<uint64_t>(t.calls)));
  }
  return out;
}

nlohmann::json RunMonitor::hello() const {
  nlohmann::json nodes = nlohmann::json::array();
  for (const GraphNode& n : graph_.nodes) nodes.push_back({{"id", n.id}, {"type", n.type->name}, {"role", n.type->role}});
  nlohmann::json h = {{"type", "hello"},
                      {"run", run_id_},
                      {"pipeline", graph_.file},
                      {"mode", graph_.mode == QF_MODE_PAPER ? "paper" : graph_.mode == QF_MODE_LIVE ? "live" : "backtest"},
                      {"started_ms", started_ms_},
                      {"nodes", nodes}};
  nlohmann::json history = nlohmann::json::object();
  std::set<std::string> symbols;
  {
    std::lock_guard lock(state_mutex_);
    nlohmann::json bars = nlohmann::json::array();
    for (const auto& [symbol, list] : bars_) {
      symbols.insert(symbol);
      for (const nlohmann::json& b : list) bars.push_back(b);
    }
    history["bars"] = bars;
    history["fills"] = nlohmann::json(std::vector<nlohmann::json>(fills_.begin(), fills_.end()));
    history["reloads"] = nlohmann::json(std::vector<nlohmann::json>(reloads_.begin(), reloads_.end()));
    history["log"] = nlohmann::json(std::vector<nlohmann::json>(log_.begin(), log_.end()));
    history["equity"] = nlohmann::json(std::vector<nlohmann::json>(equity_.begin(), equity_.end()));
    nlohmann::json open = nlohmann::json::array();
    for (const auto& [key, o] : orders_)
      open.push_back({{"type", "order"}, {"symbol", name(o.symbol)}, {"t", o.time_ns / kNsPerMs}, {"id", o.u.order.order_id},
                      {"side", side_name(o.u.order.side)}, {"qty", o.u.order.quantity}, {"order_type", order_type_name(o.u.order.type)},
                      {"limit", o.u.order.limit_price}, {"stop", o.u.order.stop_price}, {"status", "accepted"},
                      {"node", o.origin && o.origin - 1 < graph_.nodes.size() ? graph_.nodes[o.origin - 1].id : ""},
                      {"version", name(o.u.order.tag)}});
    history["orders"] = open;
  }
  bool has_account;
  {
    std::lock_guard lock(state_mutex_);
    has_account = has_account_;
  }
  if (has_account) history["account"] = account_message();
  history["nodes"] = nodes_message();
  history["risk"] = risk_message();
  history["status"] = status();
  h["history"] = history;
  h["symbols"] = nlohmann::json(std::vector<std::string>(symbols.begin(), symbols.end()));
  return h;
}

}  // namespace qflow
