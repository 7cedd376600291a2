#include "node_runtime.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace qflow {

namespace {

void api_emit(qf_context* c, uint32_t port, const qf_event* ev) { c->node->router->emit(*c->node, port, *ev); }

void api_emit_many(qf_context* c, const uint32_t* ports, const qf_event* events, uint32_t count) {
  c->node->router->emit_many(*c->node, ports, events, count);
}

void api_emit_values(qf_context* c, const qf_value_answer* answers, uint32_t count) {
  c->node->router->emit_values(*c->node, answers, count);
}

const qf_event* api_input(qf_context* c, uint32_t slot) { return c->node->router->input(*c->node, slot); }

int64_t api_now(qf_context* c) { return c->node->router ? c->node->router->now(*c->node) : 0; }

uint32_t api_intern(qf_context* c, const char* s, size_t n) { return c->node->services->symbols.intern({s, n}); }

qf_str api_lookup(qf_context* c, uint32_t id) {
  const std::string_view v = c->node->services->symbols.lookup(id);
  return qf_str{v.data(), v.size()};
}

void api_log(qf_context* c, int32_t level, const char* msg, size_t n) {
  const auto lvl = static_cast<spdlog::level::level_enum>(std::clamp(level, 0, 4));
  c->node->logger->log(lvl, "{}", std::string_view(msg, n));
}

void api_report_error(qf_context* c, const char* msg, size_t n) { c->node->reported_error.assign(msg, n); }

void api_set_progress(qf_context* c, double fraction) { c->node->progress.store(fraction, std::memory_order_relaxed); }

const qf_host_api kApi = {sizeof(qf_host_api), QF_ABI_VERSION, &api_emit, &api_input, &api_now,
                          &api_intern,         &api_lookup,    &api_log,  &api_report_error, &api_set_progress,
                          &api_emit_many,      &api_emit_values};

std::shared_ptr<spdlog::logger> node_logger(const std::string& id) {
  const std::string name = "node." + id;
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, spdlog::default_logger()->sinks().begin(),
                                                 spdlog::default_logger()->sinks().end());
  logger->set_level(spdlog::default_logger()->level());
  spdlog::register_logger(logger);
  return logger;
}

// splitmix64 of the pipeline seed and the node id: each node gets its own reproducible seed.
uint64_t node_seed(uint64_t seed, const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : id) h = (h ^ ch) * 1099511628211ull;
  uint64_t z = seed + h + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

const qf_host_api* host_api() { return &kApi; }

NodeRuntime::~NodeRuntime() {
  if (instance.vtable && instance.vtable->destroy) instance.vtable->destroy(instance.self);
}

std::string NodeRuntime::describe() const { return "node '" + def->id + "' (" + type->name + ")"; }

std::string NodeRuntime::failure(const char* callback) const {
  return describe() + " failed in " + callback + ": " + (reported_error.empty() ? "no message" : reported_error);
}

namespace {
struct StringSink {
  qf_state_writer w;
  std::string bytes;
};
void append_bytes(qf_state_writer* w, const void* data, size_t n) {
  static_cast<StringSink*>(w->opaque)->bytes.append(static_cast<const char*>(data), n);
}
}  // namespace

std::optional<std::string> NodeRuntime::save_state() {
  if (!vt().save_state) return std::nullopt;
  StringSink sink{{nullptr, &append_bytes}, {}};
  sink.w.opaque = &sink;
  reported_error.clear();
  if (vt().save_state(instance.self, &ctx, &sink.w) < 0) throw std::runtime_error(failure("save_state"));
  return std::move(sink.bytes);
}

void NodeRuntime::restore_state(const std::string& blob) {
  if (!vt().restore_state) throw std::runtime_error(describe() + " has saved state but cannot restore it (no restore_state)");
  reported_error.clear();
  if (vt().restore_state(instance.self, &ctx, blob.data(), blob.size()) < 0) throw std::runtime_error(failure("restore_state"));
}

std::vector<std::unique_ptr<NodeRuntime>> create_nodes(const Graph& graph, RunServices& services) {
  std::vector<std::unique_ptr<NodeRuntime>> nodes;
  for (uint32_t i = 0; i < graph.nodes.size(); ++i) {
    const GraphNode& gn = graph.nodes[i];
    auto rt = std::make_unique<NodeRuntime>();
    rt->index = i;
    rt->def = &gn;
    rt->type = gn.type;
    rt->services = &services;
    rt->logger = node_logger(gn.id);
    for (const Slot& s : gn.slots) rt->slot_infos.push_back(qf_slot_info{s.port, s.kinds, s.label.c_str()});
    const auto& params = gn.params.values();
    const qf_node_config cfg{sizeof(qf_node_config),
                             gn.id.c_str(),
                             params.data(),
                             static_cast<uint32_t>(params.size()),
                             rt->slot_infos.data(),
                             static_cast<uint32_t>(rt->slot_infos.size()),
                             services.output_dir.c_str(),
                             node_seed(graph.seed, gn.id),
                             static_cast<int32_t>(graph.mode)};
    qf_error err{};
    if (gn.type->create(gn.type->type_data, &cfg, &kApi, &rt->instance, &err) != QF_OK || !rt->instance.vtable) {
      rt->instance = {};
      throw std::runtime_error(rt->describe() + " could not be created: " + (err.message[0] ? err.message : "no message"));
    }
    // Values come in columns only when a whole batch is values for the node: the rest needs
    // on_event or on_events (abi.h, 11).
    const qf_node_vtable& vt = *rt->instance.vtable;
    if (QF_VTABLE_HAS(&vt, on_values) && vt.on_values && !vt.on_event && !(QF_VTABLE_HAS(&vt, on_events) && vt.on_events))
      throw std::runtime_error(rt->describe() + " has on_values but neither on_event nor on_events, which the host needs "
                                                "for what does not come in columns (abi.h, 11)");
    nodes.push_back(std::move(rt));
  }
  return nodes;
}

uint64_t NodeTiming::quantile(double q) const {
  uint64_t counts[kBuckets], total = 0;
  for (int b = 0; b < kBuckets; ++b) total += counts[b] = buckets[b];
  if (total == 0) return 0;
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts[b];
    if (seen > rank) return b == 0 ? 0 : (uint64_t{1} << b) - 1;
  }
  return (uint64_t{1} << (kBuckets - 1)) - 1;
}

}  // namespace qflow
