// Tiny node types for the runtime's tests, built as a plugin through the SDK like any other:
// a source emitting N bars, a pass-through, counting sinks (taking events one or many at once,
// or values in columns), nodes that fail on purpose
// (in create, in on_event, by breaking the emit contract), and types whose specs exercise every
// parameter type, port flag and the describe() hook in validation tests.
#include <qflow/sdk.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using qflow::Context;
using qflow::Kind;
using qflow::Kinds;
using qflow::NodeConfig;
using qflow::NodeSpec;
using qflow::ParamSpec;
using qflow::ParamView;
using qflow::SourceStatus;

// Bars with close = 1, 2, ..., count, one `interval` apart from `start`.
class TestBars {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.bars", "source")
        .summary("count bars with closes 1..count")
        .param(ParamSpec::integer("count").default_value("10").min(0).doc("how many bars"))
        .param(ParamSpec::string("symbol").default_value("TEST").doc("symbol of the bars"))
        .param(ParamSpec::time("start").default_value("2024-01-01").doc("time of the first bar"))
        .param(ParamSpec::duration("interval").default_value("1m").doc("bar length"))
        .param(ParamSpec::boolean("bad_port").default_value("false").doc("emit on an undeclared port"))
        .output("bars", Kind::bar, "the bars");
  }
  explicit TestBars(const NodeConfig& cfg)
      : count_(cfg.params().integer("count")), symbol_name_(cfg.params().string("symbol")),
        start_(cfg.params().time_ns("start")), interval_(cfg.params().duration_ns("interval")),
        bad_port_(cfg.params().boolean("bad_port")) {}

  void start(Context& c) { symbol_ = c.intern(symbol_name_); }
  SourceStatus produce(Context& c, uint32_t max_events) {
    for (uint32_t k = 0; k < max_events && next_ < count_; ++k, ++next_) {
      const double close = static_cast<double>(next_ + 1);
      c.emit(bad_port_ ? 3 : 0, qflow::make_bar(symbol_, start_ + next_ * interval_, close, close, close, close, 1, interval_));
    }
    return next_ < count_ ? SourceStatus::more : SourceStatus::done;
  }

 private:
  int64_t count_;
  std::string symbol_name_;
  int64_t start_, interval_;
  bool bad_port_;
  uint32_t symbol_ = 0;
  int64_t next_ = 0;
};

class TestPass {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.pass", "transform")
        .summary("forwards what it receives")
        .input("in", Kind::bar | Kind::value, "anything to forward")
        .output("out", Kind::bar | Kind::value, "the same events");
  }
  explicit TestPass(const NodeConfig&) {}
  void on_event(Context& c, uint32_t, const qf_event& ev) { c.emit(0, ev); }
};

// What a counting sink received, hashed in order: which slot, the time, and the value or close.
struct Trace {
  int64_t events = 0;
  uint64_t hash = 0;
  void add(uint32_t slot, const qf_event& ev) {
    ++events;
    double v = 0;
    if (ev.kind == QF_KIND_VALUE) v = ev.u.value.value;
    if (ev.kind == QF_KIND_BAR) v = ev.u.bar.close;
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    // Mixed so that every bit of the input reaches every bit of the hash (a sign bit too).
    uint64_t x = (hash * 1'000'003u) ^ (bits + slot * 7u + static_cast<uint64_t>(ev.time_ns));
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15u;
    hash = x ^ (x >> 29);
  }
};

// Counts what it receives; at stop writes "<events> <started> <stopped> <trace>" to
// <output>/<id>.count, so a test can see that a sink was stopped properly and what it got.
class TestCount {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.count", "sink")
        .summary("counts events")
        .input("in", Kinds::any(), "anything", QF_PORT_MULTIPLE);
  }
  explicit TestCount(const NodeConfig& cfg) : path_(cfg.output_dir() + "/" + cfg.id() + ".count") {}
  void start(Context&) { started_ = true; }
  void on_event(Context&, uint32_t slot, const qf_event& ev) { trace_.add(slot, ev); }
  void stop(Context&) {
    std::ofstream out(path_);
    out << trace_.events << " " << started_ << " 1 " << trace_.hash << "\n";
    if (!out) throw std::runtime_error("cannot write " + path_);
  }

 private:
  std::string path_;
  bool started_ = false;
  Trace trace_;
};

// test.count taking its events many at once (on_events, ABI 1.4) and having no on_event. At
// stop it writes test.count's four numbers, then: how many on_events calls it got, the most
// events one call held, the calls during which now() was not the time of the last event, and
// how often input() named an event during a call. `fail_at`: throws at that event (from 1).
class TestCountBulk {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.count_bulk", "sink")
        .summary("counts events, taking them many at once")
        .param(ParamSpec::integer("fail_at").default_value("0").min(0).doc("throw at this event; 0: never"))
        .input("in", Kinds::any(), "anything", QF_PORT_MULTIPLE);
  }
  explicit TestCountBulk(const NodeConfig& cfg)
      : path_(cfg.output_dir() + "/" + cfg.id() + ".count"), slots_(static_cast<uint32_t>(cfg.slots().size())),
        fail_at_(cfg.params().integer("fail_at")) {}
  void start(Context&) { started_ = true; }
  void on_events(Context& c, std::span<const uint32_t> slots, std::span<const qf_event> events) {
    ++calls_;
    largest_ = std::max<int64_t>(largest_, static_cast<int64_t>(events.size()));
    if (events.empty() || c.now() != events.back().time_ns) ++wrong_now_;
    for (uint32_t s = 0; s < slots_; ++s)
      if (c.input(s)) ++inputs_seen_;
    for (size_t i = 0; i < events.size(); ++i) {
      if (trace_.events + 1 == fail_at_) throw std::runtime_error("failing at event " + std::to_string(fail_at_));
      trace_.add(slots[i], events[i]);
    }
  }
  void stop(Context&) {
    std::ofstream out(path_);
    out << trace_.events << " " << started_ << " 1 " << trace_.hash << " " << calls_ << " " << largest_ << " "
        << wrong_now_ << " " << inputs_seen_ << "\n";
    if (!out) throw std::runtime_error("cannot write " + path_);
  }

 private:
  std::string path_;
  uint32_t slots_;
  int64_t fail_at_;
  bool started_ = false;
  Trace trace_;
  int64_t calls_ = 0, largest_ = 0, wrong_now_ = 0, inputs_seen_ = 0;
};

// test.count taking values in columns (on_values, ABI 1.5) beside on_event. It keeps one trace
// per slot, each as if its slot were the node's only input (slot 0 in the hash), since columns
// keep each input's order but not the order between inputs. At stop it writes "<values>
// <started> 1 <on_values calls> <on_event calls> <on_values calls where now() was not the
// latest time among its values> <input() answers naming an event during on_values>" and then
// each slot's hash. `fail_at`: throws at that value (from 1) in on_values.
class TestCountValues {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.count_values", "sink")
        .summary("counts values per input, taking them in columns")
        .param(ParamSpec::integer("fail_at").default_value("0").min(0).doc("throw at this value in on_values; 0: never"))
        .input("in", Kinds::any(), "anything", QF_PORT_MULTIPLE);
  }
  explicit TestCountValues(const NodeConfig& cfg)
      : path_(cfg.output_dir() + "/" + cfg.id() + ".count"), traces_(cfg.slots().size()), fail_at_(cfg.params().integer("fail_at")) {}
  void start(Context&) { started_ = true; }
  void on_event(Context&, uint32_t slot, const qf_event& ev) {
    ++event_calls_;
    traces_[slot].add(0, ev);
  }
  void on_values(Context& c, std::span<const qf_value_column> columns) {
    ++value_calls_;
    for (uint32_t s = 0; s < traces_.size(); ++s)
      if (c.input(s)) ++inputs_seen_;
    int64_t latest = INT64_MIN;
    qflow::for_each_value(columns, [&](uint32_t slot, const qf_value_answer& v) {
      if (values() + 1 == fail_at_) throw std::runtime_error("failing at value " + std::to_string(fail_at_));
      qf_event ev = qflow::make_value(v.symbol, v.value);
      ev.time_ns = v.time_ns;
      traces_[slot].add(0, ev);
      latest = std::max(latest, v.time_ns);
    });
    if (c.now() != latest) ++wrong_now_;
  }
  void stop(Context&) {
    std::ofstream out(path_);
    out << values() << " " << started_ << " 1 " << value_calls_ << " " << event_calls_ << " " << wrong_now_ << " " << inputs_seen_;
    for (const Trace& t : traces_) out << " " << t.hash;
    out << "\n";
    if (!out) throw std::runtime_error("cannot write " + path_);
  }

 private:
  int64_t values() const {
    int64_t n = 0;
    for (const Trace& t : traces_) n += t.events;
    return n;
  }
  std::string path_;
  std::vector<Trace> traces_;
  int64_t fail_at_;
  bool started_ = false;
  int64_t value_calls_ = 0, event_calls_ = 0, wrong_now_ = 0, inputs_seen_ = 0;
};

// test.values_only: a sink with on_values and no other way to take events, which the SDK does
// not compile (abi.h, 11), so it is written against the C ABI here. The host must refuse it.
int32_t values_only_create(void*, const qf_node_config*, const qf_host_api*, qf_node_instance* out, qf_error*) {
  static const qf_node_vtable vtable = [] {
    qf_node_vtable v{};
    v.struct_size = sizeof v;
    v.destroy = [](void*) {};
    v.on_values = [](void*, qf_context*, const qf_value_column*, uint32_t) -> int32_t { return QF_OK; };
    return v;
  }();
  static int self;
  out->self = &self;
  out->vtable = &vtable;
  return QF_OK;
}
const qf_node_spec* values_only_spec() {
  static NodeSpec spec = NodeSpec("test.values_only", "sink")
                             .summary("takes values in columns only (refused by the host)")
                             .input("in", Kind::value, "values", QF_PORT_MULTIPLE);
  static const qf_node_spec* built = spec.build(&values_only_create, nullptr, nullptr);
  return built;
}

// Holds each bar back until the next arrives, and hands the last one on at stop: how a
// resample emits its last, partial bar.
class TestHold {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.hold", "transform")
        .summary("each bar one bar late, the last at stop")
        .input("in", Kind::bar, "bars")
        .output("out", Kind::bar, "the bars, one behind");
  }
  explicit TestHold(const NodeConfig&) {}
  void on_event(Context& c, uint32_t, const qf_event& ev) {
    if (held_) c.emit(0, *held_);
    held_ = ev;
  }
  void stop(Context& c) {
    if (held_) c.emit(0, *held_);
  }

 private:
  std::optional<qf_event> held_;
};

// Reads its input in on_cycle only, like a Lua script, and answers the close it saw.
class TestOnCycle {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.on_cycle", "transform")
        .summary("the close of each cycle's bar, read in on_cycle")
        .input("in", Kind::bar, "bars")
        .output("close", Kind::value, "the close");
  }
  explicit TestOnCycle(const NodeConfig&) {}
  void on_cycle(Context& c) {
    if (const qf_event* ev = c.input(0)) c.emit_value(0, ev->symbol, ev->u.bar.close);
  }
};

class TestCreateThrows {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.create_throws", "transform")
        .summary("refuses to be created")
        .param(ParamSpec::string("reason").default_value("no reason given"))
        .input("in", Kind::bar, "bars")
        .output("out", Kind::bar, "never anything");
  }
  explicit TestCreateThrows(const NodeConfig& cfg) {
    throw std::invalid_argument("refusing to be created: " + cfg.params().string("reason"));
  }
  void on_event(Context&, uint32_t, const qf_event&) {}
};

// Forwards bars and throws on the `at`-th one.
class TestThrowOnEvent {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.throw_on_event", "transform")
        .summary("throws on the at-th event")
        .param(ParamSpec::integer("at").required().min(1))
        .input("in", Kind::bar, "bars")
        .output("out", Kind::bar, "the bars before the failure");
  }
  explicit TestThrowOnEvent(const NodeConfig& cfg) : at_(cfg.params().integer("at")) {}
  void on_event(Context& c, uint32_t, const qf_event& ev) {
    if (++seen_ == at_) throw std::runtime_error("boom at event " + std::to_string(seen_));
    c.emit(0, ev);
  }

 private:
  int64_t at_, seen_ = 0;
};

// Breaks the emit contract on its first event: an undeclared port or a kind its port does not carry.
class TestBadEmit {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.bad_emit", "transform")
        .summary("emits what it must not")
        .param(ParamSpec::choice("how", {"port", "kind"}).required())
        .input("in", Kind::bar, "bars")
        .output("out", Kind::value, "values");
  }
  explicit TestBadEmit(const NodeConfig& cfg) : wrong_port_(cfg.params().string("how") == "port") {}
  void on_event(Context& c, uint32_t, const qf_event& ev) {
    if (wrong_port_) {
      c.emit(7, qflow::make_value(ev.symbol, 1.0));
    } else {
      qf_event fill = qflow::make_event(Kind::fill, ev.symbol);
      fill.u.fill.quantity = 1;
      c.emit(0, fill);
    }
  }

 private:
  bool wrong_port_;
};

// Every parameter type, for validation tests. A sink, so that it may stand alone.
class TestAllParams {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.all_params", "sink")
        .summary("one parameter of each type")
        .param(ParamSpec::integer("count").default_value("5").min(1).max(100))
        .param(ParamSpec::number("ratio").default_value("0.5").min(0).max(1))
        .param(ParamSpec::boolean("enabled").default_value("false"))
        .param(ParamSpec::string("label"))
        .param(ParamSpec::choice("speed", {"fast", "slow", "medium"}).default_value("fast"))
        .param(ParamSpec::path("file"))
        .param(ParamSpec::duration("window").default_value("1m"))
        .param(ParamSpec::time("since"))
        .param(ParamSpec::number("threshold").default_value("1"))
        .input("in", Kinds::any(), "anything", QF_PORT_OPTIONAL | QF_PORT_MULTIPLE);
  }
  explicit TestAllParams(const NodeConfig&) {}
};

class TestRequired {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.required", "sink")
        .summary("a required parameter")
        .param(ParamSpec::integer("period").required())
        .input("in", Kinds::any(), "anything", QF_PORT_OPTIONAL);
  }
  explicit TestRequired(const NodeConfig&) {}
};

// Two value outputs from bars.
class TestValue {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.value", "indicator")
        .summary("the close, and the close + 1")
        .input("in", Kind::bar, "bars")
        .output("value", Kind::value, "the close")
        .output("upper", Kind::value, "the close + 1");
  }
  explicit TestValue(const NodeConfig&) {}
  void on_event(Context& c, uint32_t, const qf_event& ev) {
    if (ev.kind != QF_KIND_BAR) return;
    c.emit_value(0, ev.symbol, ev.u.bar.close);
    c.emit_value(1, ev.symbol, ev.u.bar.close + 1);
  }
};

// Batched: per bar, the close on `value` and -close on `negated`, answered from on_batch in
// chunks of three, alternately through emit_many and emit_values (chunks straddle inputs).
// `how` breaks the contract from the sixth input of a batch on: `seq` answers a seq that is no
// input's (caught in an emit_values chunk), `order` answers the sixth input after the seventh
// (caught in an emit_many chunk), `back` answers the ninth input's first output with the third
// input's seq and `port` the sixth input's first on port 7 (both in emit_values chunks).
class TestBatchAnswers {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.batch_answers", "indicator")
        .summary("close and -close, a batch at a time")
        .batched()
        .param(ParamSpec::choice("how", {"good", "seq", "order", "back", "port"}).default_value("good"))
        .input("in", Kind::bar, "bars")
        .output("value", Kind::value, "the close")
        .output("negated", Kind::value, "minus the close");
  }
  explicit TestBatchAnswers(const NodeConfig& cfg) : how_(cfg.params().string("how")) {}
  void on_event(Context& c, uint32_t, const qf_event& ev) {
    c.emit_value(0, ev.symbol, ev.u.bar.close);
    c.emit_value(1, ev.symbol, -ev.u.bar.close);
  }
  void on_batch(Context& c, uint32_t, std::span<const qf_event> events) {
    std::vector<qf_event> answers;
    std::vector<uint32_t> ports;
    for (size_t i = 0; i < events.size(); ++i) {
      const qf_event& ev = events[i];
      for (uint32_t port : {0u, 1u}) {
        qf_event a = qflow::make_value(ev.symbol, port == 0 ? ev.u.bar.close : -ev.u.bar.close, ev.time_ns);
        a.seq = ev.seq;
        if (i == 5 && how_ == "seq") a.seq = ev.seq + 1'000'000;
        if (i == 8 && port == 0 && how_ == "back") a.seq = events[2].seq;
        answers.push_back(a);
        ports.push_back(i == 5 && port == 0 && how_ == "port" ? 7u : port);
      }
    }
    if (how_ == "order" && events.size() > 6) {
      std::swap(answers[10], answers[12]);
      std::swap(answers[11], answers[13]);
    }
    // Chunks go alternately through emit_many and emit_values.
    for (size_t i = 0, chunk = 0; i < answers.size(); i += 3, ++chunk) {
      const uint32_t n = static_cast<uint32_t>(std::min<size_t>(3, answers.size() - i));
      if (chunk % 2 == 0) {
        c.emit_many(&ports[i], &answers[i], n);
        continue;
      }
      qf_value_answer values[3];
      for (uint32_t k = 0; k < n; ++k)
        values[k] = qf_value_answer{answers[i + k].seq, answers[i + k].time_ns, answers[i + k].u.value.value,
                                    answers[i + k].symbol, ports[i + k]};
      c.emit_values(values, n);
    }
  }

 private:
  std::string how_;
};

class TestStrategy {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.strategy", "strategy")
        .summary("sends no orders")
        .input("market", Kind::bar, "bars")
        .input("signals", Kind::value, "values", QF_PORT_MULTIPLE | QF_PORT_OPTIONAL)
        .output("orders", Kind::order, "orders");
  }
  explicit TestStrategy(const NodeConfig&) {}
  void on_event(Context&, uint32_t, const qf_event&) {}
};

class TestExecutor {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.exec", "executor")
        .summary("fills nothing")
        .simulates_market()
        .input("market", Kind::bar, "bars")
        .input("orders", Kind::order, "orders")
        .output("fills", Kind::fill, "fills")
        .output("account", Kind::account, "account snapshots");
  }
  explicit TestExecutor(const NodeConfig&) {}
  void on_event(Context&, uint32_t, const qf_event&) {}
};

// describe(): `declare: x` adds a required integer parameter `x`; `declare: fail` fails.
class TestDescribed {
 public:
  static NodeSpec spec() {
    return NodeSpec("test.described", "sink")
        .summary("declares parameters once its fixed one is known")
        .param(ParamSpec::string("declare").default_value(""))
        .input("in", Kinds::any(), "anything", QF_PORT_OPTIONAL);
  }
  static std::vector<ParamSpec> describe(const ParamView& fixed) {
    const std::string name = fixed.string("declare");
    if (name == "fail") throw std::invalid_argument("cannot describe parameters for declare=fail");
    if (name.empty()) return {};
    return {ParamSpec::integer(name).required().min(0)};
  }
  explicit TestDescribed(const NodeConfig&) {}
};

}  // namespace

QFLOW_PLUGIN("qflow-test-good", "0.0.1", [](qflow::Registrar& r) {
  r.add<TestBars>();
  r.add<TestPass>();
  r.add<TestCount>();
  r.add<TestCountBulk>();
  r.add<TestCountValues>();
  r.add(values_only_spec());
  r.add<TestHold>();
  r.add<TestOnCycle>();
  r.add<TestCreateThrows>();
  r.add<TestThrowOnEvent>();
  r.add<TestBadEmit>();
  r.add<TestAllParams>();
  r.add<TestRequired>();
  r.add<TestValue>();
  r.add<TestBatchAnswers>();
  r.add<TestStrategy>();
  r.add<TestExecutor>();
  r.add<TestDescribed>();
})
