#include "node_harness.hpp"

#include <dlfcn.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>

namespace qflow::testing {


struct NodeHarness::Impl {
  NodeHarness* owner = nullptr;
  void* library = nullptr;
  std::vector<qf_node_spec> registered;  // copies of what the plugin registered
  std::vector<qf_param_spec> extra_params;
  std::deque<std::string> strings;  // stable storage for names, values and labels
  std::vector<qf_param_value> values;
  std::vector<qf_slot_info> slots;
  std::string output_dir;
  std::string id = "node_under_test";
  qf_node_config config{};
  qf_host_api api{};
  qf_node_instance instance{};
  bool created = false;

  // host state
  std::vector<std::string> symbols{""};
  std::map<std::string, uint32_t, std::less<>> symbol_ids;
  std::vector<qf_event> current;  // per slot: the event of this cycle
  std::vector<uint64_t> current_seq;
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::vector<Output> emitted;
  std::string error;
  std::vector<std::string> logs;
  double progress = 0;
  bool batch_mode = false;  // on_batch: emitted events keep the seq of the input they answer

  const char* keep(std::string s) { return strings.emplace_back(std::move(s)).c_str(); }
};

}  // namespace qflow::testing

// The ABI's opaque context: here it points back at the harness.
struct qf_context {
  qflow::testing::NodeHarness::Impl* impl;
};

namespace qflow::testing {
namespace {

NodeHarness::Impl* impl_of(qf_context* c) { return c->impl; }

void host_emit(qf_context* c, uint32_t port, const qf_event* ev) {
  NodeHarness::Impl* h = impl_of(c);
  qf_event copy = *ev;
  if (!h->batch_mode) copy.seq = h->seq;
  if (copy.time_ns == 0) copy.time_ns = h->time_ns;
  if (copy.kind == QF_KIND_ORDER && copy.origin == 0) copy.origin = 1;
  if (port >= h->owner->spec().output_count) throw std::logic_error("emit on a port the node does not declare");
  h->emitted.push_back(Output{port, h->owner->spec().outputs[port].name, copy});
}

void host_emit_many(qf_context* c, const uint32_t* ports, const qf_event* events, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) host_emit(c, ports[i], &events[i]);
}

void host_emit_values(qf_context* c, const qf_value_answer* answers, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    const qf_event ev = qflow::make_value(answers[i]);
    host_emit(c, answers[i].port, &ev);
  }
}

const qf_event* host_input(qf_context* c, uint32_t slot) {
  NodeHarness::Impl* h = impl_of(c);
  if (slot >= h->current.size() || h->current_seq[slot] != h->seq) return nullptr;
  return &h->current[slot];
}

int64_t host_now(qf_context* c) { return impl_of(c)->time_ns; }

uint32_t host_intern(qf_context* c, const char* s, size_t n) { return impl_of(c)->owner->intern({s, n}); }

qf_str host_lookup(qf_context* c, uint32_t id) {
  const std::string_view v = impl_of(c)->owner->lookup(id);
  return qf_str{v.data(), v.size()};
}

void host_log(qf_context* c, int32_t level, const char* msg, size_t n) {
  NodeHarness::Impl* h = impl_of(c);
  h->logs.push_back(std::to_string(level) + ": " + std::string(msg, n));
}

void host_report_error(qf_context* c, const char* msg, size_t n) { impl_of(c)->error.assign(msg, n); }

void host_set_progress(qf_context* c, double fraction) { impl_of(c)->progress = fraction; }

qf_param_value convert(NodeHarness::Impl& h, const qf_param_spec& spec, const std::string& text) {
  qf_param_value v{};
  v.name = spec.name;
  v.type = spec.type;
  v.is_set = 1;
  const auto bad = [&] { return std::invalid_argument("harness: bad value '" + text + "' for parameter " + spec.name); };
  switch (spec.type) {
    case QF_PARAM_INT: {
      const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v.i);
      if (ec != std::errc() || p != text.data() + text.size()) throw bad();
      v.d = static_cast<double>(v.i);
      break;
    }
    case QF_PARAM_DOUBLE: {
      char* end = nullptr;
      v.d = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size() || text.empty()) throw bad();
      break;
    }
    case QF_PARAM_BOOL:
      if (text != "true" && text != "false") throw bad();
      v.i = text == "true";
      break;
    case QF_PARAM_DURATION: {
      const auto d = parse_duration(text);
      if (!d) throw bad();
      v.i = *d;
      break;
    }
    case QF_PARAM_TIME: {
      const auto t = parse_time(text);
      if (!t) throw bad();
      v.i = *t;
      break;
    }
    default: {
      const char* kept = h.keep(text);
      v.s = qf_str{kept, text.size()};
      break;
    }
  }
  return v;
}

int32_t add_extra_param(qf_spec_builder* b, const qf_param_spec* p) {
  auto* h = static_cast<NodeHarness::Impl*>(b->opaque);
  qf_param_spec copy = *p;
  copy.name = h->keep(p->name);
  copy.default_value = p->default_value ? h->keep(p->default_value) : nullptr;
  copy.doc = h->keep(p->doc ? p->doc : "");
  copy.choices = nullptr;  // the harness does not check choices of described parameters
  copy.choice_count = 0;
  h->extra_params.push_back(copy);
  return QF_OK;
}

int32_t collect_spec(qf_registrar* r, const qf_node_spec* spec) {
  static_cast<NodeHarness::Impl*>(r->opaque)->registered.push_back(*spec);
  return QF_OK;
}

}  // namespace

std::string plugin_path(const std::string& library_name) {
  return std::string(QFLOW_TEST_PLUGIN_DIR) + "/lib" + library_name + ".so";
}

NodeHarness::NodeHarness(const std::string& library_path, const std::string& type_name,
                         const std::map<std::string, std::string>& params, std::vector<HarnessSlot> slots,
                         std::string output_dir)
    : impl_(std::make_unique<Impl>()) {
  Impl& h = *impl_;
  h.owner = this;
  h.output_dir = std::move(output_dir);
  h.library = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h.library) throw std::runtime_error("harness: cannot load " + library_path + ": " + dlerror());
  auto entry = reinterpret_cast<qf_plugin_entry_fn>(dlsym(h.library, QF_PLUGIN_ENTRY));
  if (!entry) throw std::runtime_error("harness: " + library_path + " has no qflow_plugin entry");
  const qf_plugin_info* info = entry();
  qf_registrar reg{sizeof(qf_registrar), &h, &collect_spec};
  qf_error err{};
  if (info->register_nodes(&reg, &err) != QF_OK) throw std::runtime_error(std::string("harness: register: ") + err.message);
  for (const qf_node_spec& s : h.registered)
    if (type_name == s.type_name) spec_ = &s;
  if (!spec_) throw std::runtime_error("harness: no node type " + type_name + " in " + library_path);

  h.api = qf_host_api{sizeof(qf_host_api), QF_ABI_VERSION, &host_emit,   &host_input,        &host_now,
                      &host_intern,        &host_lookup,   &host_log,    &host_report_error, &host_set_progress,
                      &host_emit_many,     &host_emit_values};

  // Parameters: declared ones (defaults applied), then any the node describes from them.
  std::map<std::string, std::string> remaining = params;
  auto fill = [&](const qf_param_spec& ps) {
    auto it = remaining.find(ps.name);
    if (it != remaining.end()) {
      h.values.push_back(convert(h, ps, it->second));
      remaining.erase(it);
    } else if (ps.default_value) {
      h.values.push_back(convert(h, ps, ps.default_value));
    } else if (ps.flags & QF_PARAM_REQUIRED) {
      throw std::invalid_argument(std::string("harness: missing required parameter ") + ps.name);
    } else {
      qf_param_value v{};
      v.name = ps.name;
      v.type = ps.type;
      h.values.push_back(v);
    }
  };
  for (uint32_t i = 0; i < spec_->param_count; ++i) fill(spec_->params[i]);
  if (spec_->describe) {
    qf_spec_builder b{&h, &add_extra_param};
    if (spec_->describe(spec_->type_data, h.values.data(), static_cast<uint32_t>(h.values.size()), &b, &err) != QF_OK)
      throw NodeError(err.message);
    for (const qf_param_spec& ps : h.extra_params) fill(ps);
  }
  if (!remaining.empty()) throw std::invalid_argument("harness: unknown parameter " + remaining.begin()->first);

  for (const HarnessSlot& s : slots) {
    uint32_t port = spec_->input_count;
    for (uint32_t i = 0; i < spec_->input_count; ++i)
      if (s.port == spec_->inputs[i].name) port = i;
    if (port == spec_->input_count) throw std::invalid_argument("harness: no input port " + s.port);
    h.slots.push_back(qf_slot_info{port, s.kinds ? s.kinds : spec_->inputs[port].kinds, h.keep(s.label)});
  }
  h.current.resize(h.slots.size());
  h.current_seq.assign(h.slots.size(), UINT64_MAX);

  h.config = qf_node_config{sizeof(qf_node_config),
                            h.id.c_str(),
                            h.values.data(),
                            static_cast<uint32_t>(h.values.size()),
                            h.slots.data(),
                            static_cast<uint32_t>(h.slots.size()),
                            h.output_dir.c_str(),
                            42,
                            QF_MODE_BACKTEST};
  if (spec_->create(spec_->type_data, &h.config, &h.api, &h.instance, &err) != QF_OK) throw NodeError(err.message);
  h.created = true;
}

NodeHarness::~NodeHarness() {
  if (impl_->created) impl_->instance.vtable->destroy(impl_->instance.self);
  // The library stays loaded: static specs inside it may still be referenced by other harnesses.
}

uint32_t NodeHarness::intern(std::string_view s) {
  auto it = impl_->symbol_ids.find(s);
  if (it != impl_->symbol_ids.end()) return it->second;
  const auto id = static_cast<uint32_t>(impl_->symbols.size());
  impl_->symbols.emplace_back(s);
  impl_->symbol_ids.emplace(std::string(s), id);
  return id;
}

std::string_view NodeHarness::lookup(uint32_t id) const {
  return id < impl_->symbols.size() ? std::string_view(impl_->symbols[id]) : std::string_view();
}

const std::vector<std::string>& NodeHarness::logs() const { return impl_->logs; }
double NodeHarness::progress() const { return impl_->progress; }

uint32_t NodeHarness::output_port(std::string_view name) const {
  for (uint32_t i = 0; i < spec_->output_count; ++i)
    if (name == spec_->outputs[i].name) return i;
  throw std::invalid_argument("harness: no output port " + std::string(name));
}

namespace {
template <class F>
std::vector<Output> call(NodeHarness::Impl& h, F&& f) {
  h.emitted.clear();
  h.error.clear();
  qf_context ctx{&h};
  if (f(&ctx) < 0) throw NodeError(h.error.empty() ? "node failed without a message" : h.error);
  return std::move(h.emitted);
}
}  // namespace

void NodeHarness::start() {
  Impl& h = *impl_;
  if (!h.instance.vtable->start) return;
  call(h, [&](qf_context* c) { return h.instance.vtable->start(h.instance.self, c); });
}

std::vector<Output> NodeHarness::cycle(const std::vector<std::pair<uint32_t, qf_event>>& deliveries) {
  Impl& h = *impl_;
  ++h.seq;
  if (!deliveries.empty()) h.time_ns = deliveries.front().second.time_ns;
  std::vector<Output> out;
  bool regular = false;
  for (const auto& [slot, ev] : deliveries) {
    if (slot >= h.slots.size()) throw std::invalid_argument("harness: no slot " + std::to_string(slot));
    h.current[slot] = ev;
    h.current[slot].seq = h.seq;
    h.current_seq[slot] = h.seq;
    regular = true;
    const qf_node_vtable& vt = *h.instance.vtable;
    if (vt.on_event) {
      auto part = call(h, [&](qf_context* c) { return vt.on_event(h.instance.self, c, slot, &h.current[slot]); });
      out.insert(out.end(), part.begin(), part.end());
    } else if (QF_VTABLE_HAS(&vt, on_events) && vt.on_events) {  // a node taking many at once, given one
      const uint32_t one = slot;
      auto part = call(h, [&](qf_context* c) { return vt.on_events(h.instance.self, c, &one, &h.current[slot], 1); });
      out.insert(out.end(), part.begin(), part.end());
    }
  }
  if (regular && h.instance.vtable->on_cycle) {
    auto part = call(h, [&](qf_context* c) { return h.instance.vtable->on_cycle(h.instance.self, c); });
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::vector<Output> NodeHarness::push_batch(uint32_t slot, std::vector<qf_event> events) {
  Impl& h = *impl_;
  if (!h.instance.vtable->on_batch) throw std::logic_error("harness: node has no on_batch");
  for (qf_event& e : events) e.seq = ++h.seq;
  h.batch_mode = true;
  auto out = call(h, [&](qf_context* c) {
    return h.instance.vtable->on_batch(h.instance.self, c, slot, events.data(), static_cast<uint32_t>(events.size()));
  });
  h.batch_mode = false;
  return out;
}

std::vector<Output> NodeHarness::feedback(const qf_event& ev) {
  Impl& h = *impl_;
  if (!h.instance.vtable->on_feedback) return {};
  qf_event copy = ev;
  copy.seq = h.seq;
  return call(h, [&](qf_context* c) { return h.instance.vtable->on_feedback(h.instance.self, c, &copy); });
}

std::vector<Output> NodeHarness::produce(uint32_t max_events, SourceStatus* status) {
  Impl& h = *impl_;
  if (!h.instance.vtable->produce) throw std::logic_error("harness: node is not a source");
  int32_t rc = 0;
  auto out = call(h, [&](qf_context* c) {
    rc = h.instance.vtable->produce(h.instance.self, c, max_events);
    return rc;
  });
  if (status) *status = static_cast<SourceStatus>(rc);
  return out;
}

std::vector<Output> NodeHarness::stop() {
  Impl& h = *impl_;
  ++h.seq;
  if (!h.instance.vtable->stop) return {};
  return call(h, [&](qf_context* c) { return h.instance.vtable->stop(h.instance.self, c); });
}

std::string NodeHarness::save_state() {
  Impl& h = *impl_;
  if (!h.instance.vtable->save_state) throw std::logic_error("harness: node has no save_state");
  std::string bytes;
  qf_state_writer w{&bytes, [](qf_state_writer* self, const void* data, size_t n) {
                      static_cast<std::string*>(self->opaque)->append(static_cast<const char*>(data), n);
                    }};
  call(h, [&](qf_context* c) { return h.instance.vtable->save_state(h.instance.self, c, &w); });
  return bytes;
}

void NodeHarness::restore_state(const std::string& bytes) {
  Impl& h = *impl_;
  if (!h.instance.vtable->restore_state) throw std::logic_error("harness: node has no restore_state");
  call(h, [&](qf_context* c) {
    return h.instance.vtable->restore_state(h.instance.self, c, bytes.data(), bytes.size());
  });
}

}  // namespace qflow::testing
