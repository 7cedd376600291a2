// Writing a node in C++. A node is a class with a static `spec()` and a constructor taking a
// NodeConfig, plus whichever callbacks it needs (each is optional and detected at compile time,
// so the host never calls what a node does not implement):
//
//   void start(qflow::Context&);
//   void on_event(qflow::Context&, uint32_t slot, const qf_event&);  // each event on an input slot
//   void on_cycle(qflow::Context&);                                  // once per cycle, inputs complete
//   void on_feedback(qflow::Context&, const qf_event&);              // fills, order updates, account
//   void on_batch(qflow::Context&, uint32_t slot, std::span<const qf_event>);  // many cycles at once
//   void on_events(qflow::Context&, std::span<const uint32_t> slots,   // many events at once, as
//                  std::span<const qf_event> events);                  //   on_event for each (abi.h, 10)
//   void on_values(qflow::Context&, std::span<const qf_value_column>);  // a batch's values per upstream
//                                                     //   node, beside on_event(s) (abi.h, 11; for_each_value)
//   qflow::SourceStatus produce(qflow::Context&, uint32_t max_events);  // sources only
//   void stop(qflow::Context&);
//   void save_state(qflow::StateWriter&) const;
//   void restore_state(qflow::StateReader&);
//   static std::vector<qflow::ParamSpec> describe(const qflow::ParamView&);  // extra params
//   void prepare_reload(const qflow::ParamView&);  // live reload, off the node's thread: build
//   void commit_reload(qflow::Context&);           //   the next version, then swap it in
//   void abort_reload();                           //   (see abi.h, 7)
//   const std::string& version() const;            // the code running now ("" = none)
//
// Callbacks report failure by throwing; the adapter turns any exception into the ABI's error
// report, so no exception ever crosses the library boundary. See abi.h for the cycle contract.
#pragma once

#include <qflow/abi.h>
#include <qflow/events.hpp>
#include <qflow/spec.hpp>
#include <qflow/state.hpp>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qflow {

enum class LogLevel : int32_t {
  trace = QF_LOG_TRACE,
  debug = QF_LOG_DEBUG,
  info = QF_LOG_INFO,
  warn = QF_LOG_WARN,
  error = QF_LOG_ERROR
};

enum class SourceStatus : int32_t { more = QF_SOURCE_MORE, idle = QF_SOURCE_IDLE, done = QF_SOURCE_DONE };

// The host as one node sees it during a callback.
class Context {
 public:
  Context(qf_context* ctx, const qf_host_api* api) : ctx_(ctx), api_(api) {}

  void emit(uint32_t port, const qf_event& ev) const { api_->emit(ctx_, port, &ev); }
  void emit_value(uint32_t port, uint32_t symbol, double v) const {
    const qf_event ev = make_value(symbol, v);
    api_->emit(ctx_, port, &ev);
  }
  // The event `slot` received in this cycle, or nullptr.
  const qf_event* input(uint32_t slot) const { return api_->input(ctx_, slot); }
  const qf_bar* bar(uint32_t slot) const {
    const qf_event* ev = input(slot);
    return ev && ev->kind == QF_KIND_BAR ? &ev->u.bar : nullptr;
  }
  // For on_batch: a value answering input event `in` (its seq, time and symbol).
  void emit_value_for(const qf_event& in, uint32_t port, double v) const {
    qf_event ev = make_value(in.symbol, v, in.time_ns);
    ev.seq = in.seq;
    api_->emit(ctx_, port, &ev);
  }
  // events[i] on port ports[i], in order: one call to a host that has emit_many (ABI 1.3).
  void emit_many(const uint32_t* ports, const qf_event* events, uint32_t count) const {
    if (api_->struct_size >= offsetof(qf_host_api, emit_many) + sizeof api_->emit_many && api_->emit_many) {
      api_->emit_many(ctx_, ports, events, count);
      return;
    }
    for (uint32_t i = 0; i < count; ++i) api_->emit(ctx_, ports[i], &events[i]);
  }
  // answers[i] as a value event on answers[i].port, in order: one call to a host of ABI 1.3.
  void emit_values(const qf_value_answer* answers, uint32_t count) const {
    if (api_->struct_size >= offsetof(qf_host_api, emit_values) + sizeof api_->emit_values && api_->emit_values) {
      api_->emit_values(ctx_, answers, count);
      return;
    }
    for (uint32_t i = 0; i < count; ++i) {
      const qf_event ev = make_value(answers[i]);
      api_->emit(ctx_, answers[i].port, &ev);
    }
  }
  std::optional<double> value(uint32_t slot) const {
    const qf_event* ev = input(slot);
    if (ev && ev->kind == QF_KIND_VALUE) return ev->u.value.value;
    return std::nullopt;
  }
  int64_t now() const { return api_->now(ctx_); }
  uint32_t intern(std::string_view s) const { return api_->intern(ctx_, s.data(), s.size()); }
  std::string_view lookup(uint32_t id) const {
    const qf_str s = api_->lookup(ctx_, id);
    return {s.data, s.size};
  }
  void log(LogLevel level, std::string_view msg) const {
    api_->log(ctx_, static_cast<int32_t>(level), msg.data(), msg.size());
  }
  void set_progress(double fraction) const { api_->set_progress(ctx_, fraction); }

  qf_context* raw() const { return ctx_; }
  const qf_host_api* api() const { return api_; }

 private:
  qf_context* ctx_;
  const qf_host_api* api_;
};

// The values of on_values' columns that reach the node: f(slot, const qf_value_answer&) for
// each, column by column, each column in seq order (abi.h, 11).
template <class F>
void for_each_value(std::span<const qf_value_column> columns, F&& f) {
  for (const qf_value_column& c : columns) {
    const uint32_t* const slot_of = c.slot_of_port;
    for (const qf_value_answer *v = c.values, *end = v + c.count; v != end; ++v) {
      const uint32_t slot = v->port < c.port_count ? slot_of[v->port] : QF_NO_SLOT;
      if (slot != QF_NO_SLOT) f(slot, *v);
    }
  }
}

// Read access to validated parameter values.
class ParamView {
 public:
  ParamView(const qf_param_value* values, uint32_t count) : values_(values, count) {}

  bool has(std::string_view name) const {
    const qf_param_value* v = find(name);
    return v && v->is_set;
  }
  int64_t integer(std::string_view name) const { return get(name).i; }
  double number(std::string_view name) const { return get(name).d; }
  bool boolean(std::string_view name) const { return get(name).i != 0; }
  int64_t duration_ns(std::string_view name) const { return get(name).i; }
  int64_t time_ns(std::string_view name) const { return get(name).i; }
  std::string string(std::string_view name) const {
    const qf_param_value& v = get(name);
    return std::string(v.s.data, v.s.size);
  }
  std::span<const qf_param_value> all() const { return values_; }

 private:
  const qf_param_value* find(std::string_view name) const {
    for (const qf_param_value& v : values_)
      if (name == v.name) return &v;
    return nullptr;
  }
  const qf_param_value& get(std::string_view name) const {
    const qf_param_value* v = find(name);
    if (!v || !v->is_set) throw std::invalid_argument("parameter '" + std::string(name) + "' is not set");
    return *v;
  }
  std::span<const qf_param_value> values_;
};

// Everything a node learns at construction.
class NodeConfig {
 public:
  NodeConfig(const qf_node_config* cfg, const qf_host_api* host)
      : cfg_(cfg), host_(host), params_(cfg->params, cfg->param_count) {}

  std::string id() const { return cfg_->id; }
  const ParamView& params() const { return params_; }
  std::span<const qf_slot_info> slots() const { return {cfg_->slots, cfg_->slot_count}; }
  // Slots connected to input port `port`, in pipeline order.
  std::vector<uint32_t> slots_of(uint32_t port) const {
    std::vector<uint32_t> out;
    for (uint32_t i = 0; i < cfg_->slot_count; ++i)
      if (cfg_->slots[i].port == port) out.push_back(i);
    return out;
  }
  std::string output_dir() const { return cfg_->output_dir ? cfg_->output_dir : "."; }
  uint64_t seed() const { return cfg_->seed; }
  qf_mode mode() const { return static_cast<qf_mode>(cfg_->mode); }
  const qf_host_api* host() const { return host_; }

 private:
  const qf_node_config* cfg_;
  const qf_host_api* host_;
  ParamView params_;
};

namespace detail {

template <class T> concept HasStart = requires(T& t, Context& c) { t.start(c); };
template <class T> concept HasOnEvent = requires(T& t, Context& c, const qf_event& e) { t.on_event(c, 0u, e); };
template <class T> concept HasOnEvents = requires(T& t, Context& c, std::span<const uint32_t> s, std::span<const qf_event> e) {
  t.on_events(c, s, e);
};
template <class T> concept HasOnValues = requires(T& t, Context& c, std::span<const qf_value_column> v) { t.on_values(c, v); };
template <class T> concept HasOnCycle = requires(T& t, Context& c) { t.on_cycle(c); };
template <class T> concept HasOnFeedback = requires(T& t, Context& c, const qf_event& e) { t.on_feedback(c, e); };
template <class T> concept HasOnBatch = requires(T& t, Context& c, std::span<const qf_event> s) { t.on_batch(c, 0u, s); };
template <class T> concept HasProduce = requires(T& t, Context& c) { { t.produce(c, 0u) } -> std::same_as<SourceStatus>; };
template <class T> concept HasStop = requires(T& t, Context& c) { t.stop(c); };
template <class T> concept HasSave = requires(const T& t, StateWriter& w) { t.save_state(w); };
template <class T> concept HasRestore = requires(T& t, StateReader& r) { t.restore_state(r); };
template <class T> concept HasPrepareReload = requires(T& t, const ParamView& p) { t.prepare_reload(p); };
template <class T> concept HasCommitReload = requires(T& t, Context& c) { t.commit_reload(c); };
template <class T> concept HasAbortReload = requires(T& t) { t.abort_reload(); };
template <class T> concept HasVersion = requires(const T& t) { { t.version() } -> std::same_as<const std::string&>; };
template <class T> concept HasDescribe = requires(const ParamView& p) { { T::describe(p) } -> std::same_as<std::vector<ParamSpec>>; };

inline void copy_message(qf_error* err, const char* msg) {
  if (err) std::snprintf(err->message, sizeof err->message, "%s", msg);
}

template <class F>
int32_t guarded(qf_context* ctx, const qf_host_api* api, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    api->report_error(ctx, e.what(), std::char_traits<char>::length(e.what()));
  } catch (...) {
    static const char msg[] = "unknown exception";
    api->report_error(ctx, msg, sizeof msg - 1);
  }
  return QF_ERROR;
}

// One node instance as the adapter owns it.
template <class T>
struct Holder {
  T node;
  const qf_host_api* api;
};

template <class T>
struct Adapter {
  static Holder<T>* self(void* p) { return static_cast<Holder<T>*>(p); }

  static void destroy(void* p) { delete self(p); }
  static int32_t start(void* p, qf_context* ctx) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); h->node.start(c); return QF_OK; });
  }
  static int32_t on_event(void* p, qf_context* ctx, uint32_t slot, const qf_event* ev) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); h->node.on_event(c, slot, *ev); return QF_OK; });
  }
  static int32_t on_events(void* p, qf_context* ctx, const uint32_t* slots, const qf_event* events, uint32_t n) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] {
      Context c(ctx, h->api);
      h->node.on_events(c, std::span<const uint32_t>(slots, n), std::span<const qf_event>(events, n));
      return QF_OK;
    });
  }
  static int32_t on_values(void* p, qf_context* ctx, const qf_value_column* columns, uint32_t n) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] {
      Context c(ctx, h->api);
      h->node.on_values(c, std::span<const qf_value_column>(columns, n));
      return QF_OK;
    });
  }
  static int32_t on_cycle(void* p, qf_context* ctx) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); h->node.on_cycle(c); return QF_OK; });
  }
  static int32_t on_feedback(void* p, qf_context* ctx, const qf_event* ev) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); h->node.on_feedback(c, *ev); return QF_OK; });
  }
  static int32_t on_batch(void* p, qf_context* ctx, uint32_t slot, const qf_event* events, uint32_t n) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] {
      Context c(ctx, h->api);
      h->node.on_batch(c, slot, std::span<const qf_event>(events, n));
      return QF_OK;
    });
  }
  static int32_t produce(void* p, qf_context* ctx, uint32_t max_events) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); return static_cast<int32_t>(h->node.produce(c, max_events)); });
  }
  static int32_t stop(void* p, qf_context* ctx) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); h->node.stop(c); return QF_OK; });
  }
  static int32_t save_state(void* p, qf_context* ctx, qf_state_writer* w) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { StateWriter sw(w); h->node.save_state(sw); return QF_OK; });
  }
  static int32_t restore_state(void* p, qf_context* ctx, const void* data, size_t n) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] {
      StateReader r(data, n);
      h->node.restore_state(r);
      if (!r.at_end()) throw std::runtime_error("node state has trailing bytes");
      return QF_OK;
    });
  }

  static int32_t prepare_reload(void* p, const qf_param_value* params, uint32_t n, qf_error* err) {
    try {
      self(p)->node.prepare_reload(ParamView(params, n));
      return QF_OK;
    } catch (const std::exception& e) {
      copy_message(err, e.what());
    } catch (...) {
      copy_message(err, "unknown exception");
    }
    return QF_ERROR;
  }
  static int32_t commit_reload(void* p, qf_context* ctx) {
    Holder<T>* h = self(p);
    return guarded(ctx, h->api, [&] { Context c(ctx, h->api); h->node.commit_reload(c); return QF_OK; });
  }
  static void abort_reload(void* p) {
    try {
      self(p)->node.abort_reload();
    } catch (...) {  // nothing to report to: the prepared version is gone either way
    }
  }
  static const char* version(void* p) {
    const std::string& v = self(p)->node.version();
    return v.empty() ? nullptr : v.c_str();
  }

  static constexpr qf_node_vtable make_vtable() {
    qf_node_vtable v{};
    v.struct_size = sizeof(qf_node_vtable);
    v.destroy = &destroy;
    if constexpr (HasStart<T>) v.start = &start;
    if constexpr (HasOnEvent<T>) v.on_event = &on_event;
    if constexpr (HasOnEvents<T>) v.on_events = &on_events;
    if constexpr (HasOnValues<T>) {
      static_assert(HasOnEvent<T> || HasOnEvents<T>, "a node with on_values needs on_event or on_events too (abi.h, 11)");
      v.on_values = &on_values;
    }
    if constexpr (HasOnCycle<T>) v.on_cycle = &on_cycle;
    if constexpr (HasOnFeedback<T>) v.on_feedback = &on_feedback;
    if constexpr (HasOnBatch<T>) v.on_batch = &on_batch;
    if constexpr (HasProduce<T>) v.produce = &produce;
    if constexpr (HasStop<T>) v.stop = &stop;
    if constexpr (HasSave<T>) v.save_state = &save_state;
    if constexpr (HasRestore<T>) v.restore_state = &restore_state;
    if constexpr (HasPrepareReload<T> && HasCommitReload<T>) {
      v.prepare_reload = &prepare_reload;
      v.commit_reload = &commit_reload;
      if constexpr (HasAbortReload<T>) v.abort_reload = &abort_reload;
    }
    if constexpr (HasVersion<T>) v.version = &version;
    return v;
  }
  static constexpr qf_node_vtable vtable = make_vtable();

  static int32_t create(void*, const qf_node_config* cfg, const qf_host_api* host, qf_node_instance* out,
                        qf_error* err) noexcept {
    try {
      NodeConfig config(cfg, host);
      out->self = new Holder<T>{T(config), host};
      out->vtable = &vtable;
      return QF_OK;
    } catch (const std::exception& e) {
      copy_message(err, e.what());
    } catch (...) {
      copy_message(err, "unknown exception");
    }
    return QF_ERROR;
  }

  static int32_t describe(void*, const qf_param_value* fixed, uint32_t n, qf_spec_builder* b, qf_error* err) noexcept {
    if constexpr (HasDescribe<T>) {
      try {
        const std::vector<ParamSpec> extra = T::describe(ParamView(fixed, n));
        std::vector<const char*> choices;
        for (const ParamSpec& p : extra) {
          const qf_param_spec c = NodeSpec::c_param(p, choices);
          if (b->add_param(b, &c) != QF_OK) {
            copy_message(err, ("could not add parameter '" + p.name() + "'").c_str());
            return QF_ERROR;
          }
        }
        return QF_OK;
      } catch (const std::exception& e) {
        copy_message(err, e.what());
      } catch (...) {
        copy_message(err, "unknown exception");
      }
      return QF_ERROR;
    } else {
      (void)fixed, (void)n, (void)b, (void)err;
      return QF_OK;
    }
  }
};

}  // namespace detail

// Handed to a plugin's registration function; `add<T>()` registers one node type.
class Registrar {
 public:
  explicit Registrar(qf_registrar* r) : r_(r) {}

  template <class T>
  void add() {
    static NodeSpec spec = [] {  // lives as long as the library
      NodeSpec s = T::spec();
      if constexpr (detail::HasOnBatch<T> && !detail::HasOnCycle<T> && !detail::HasOnFeedback<T>) s.batched();
      return s;
    }();
    static const qf_node_spec* c = spec.build(&detail::Adapter<T>::create,
                                              detail::HasDescribe<T> ? &detail::Adapter<T>::describe : nullptr,
                                              nullptr);
    if (r_->register_node(r_, c) != QF_OK) ok_ = false;
  }
  // A node type written against the C ABI itself (abi.h); `spec` must live as long as the library.
  void add(const qf_node_spec* spec) {
    if (r_->register_node(r_, spec) != QF_OK) ok_ = false;
  }
  bool ok() const { return ok_; }

 private:
  qf_registrar* r_;
  bool ok_ = true;
};

}  // namespace qflow

// Defines the library's single entry point. Use once per plugin library:
//   QFLOW_PLUGIN("qflow-indicators", "1.0.0", [](qflow::Registrar& r) { r.add<SmaIndicator>(); })
#define QFLOW_PLUGIN(NAME, VERSION, ...)                                                       \
  extern "C" QF_EXPORT const qf_plugin_info* qflow_plugin(void) {                              \
    static const qf_plugin_info info = {                                                       \
        sizeof(qf_plugin_info), QF_ABI_VERSION, NAME, VERSION,                                 \
        [](qf_registrar* qf_registrar_, qf_error* qf_error_) noexcept -> int32_t {             \
          try {                                                                                \
            qflow::Registrar qf_reg_(qf_registrar_);                                           \
            (__VA_ARGS__)(qf_reg_);                                                            \
            if (!qf_reg_.ok()) {                                                               \
              std::snprintf(qf_error_->message, sizeof qf_error_->message, "a node type was refused"); \
              return QF_ERROR;                                                                 \
            }                                                                                  \
            return QF_OK;                                                                      \
          } catch (const std::exception& qf_e_) {                                              \
            std::snprintf(qf_error_->message, sizeof qf_error_->message, "%s", qf_e_.what());  \
          } catch (...) {                                                                      \
            std::snprintf(qf_error_->message, sizeof qf_error_->message, "unknown exception"); \
          }                                                                                    \
          return QF_ERROR;                                                                     \
        }};                                                                                    \
    return &info;                                                                              \
  }
