// runtime/pipeline_runner.cpp and the stages under it, seen from failing nodes: a node whose
// create throws, a node that throws in on_event, a node breaking the emit contract. Each must
// fail the run with a message naming the node, and sinks must still be stopped with everything
// produced before the failure.
#include "runtime_test_support.hpp"

#include "pipeline_runner.hpp"

#include <array>
#include <fstream>
#include <vector>

using rt_test::check;

namespace {

namespace fs = std::filesystem;

struct Ran {
  qflow::RunResult result;
  fs::path out;
};

// Validates `nodes_yaml` (with an output folder of its own) and runs it.
Ran run(const std::string& name, const std::string& nodes_yaml, const std::string& engine = "") {
  const fs::path out = rt_test::fresh_dir("run_" + name);
  const auto c = check("output: " + out.string() + "\n" + engine + "nodes:\n" + nodes_yaml);
  INFO(c.dump());
  REQUIRE(c.graph);
  qflow::RunOptions options;
  options.threads = 2;
  return Ran{qflow::run_pipeline(*c.graph, options), out};
}

// What a test.count sink wrote at stop: {events, started, stopped}; {-1, -1, -1} when it did not.
std::array<int64_t, 3> counted(const fs::path& out, const std::string& id) {
  std::ifstream in(out / (id + ".count"));
  std::array<int64_t, 3> v{-1, -1, -1};
  in >> v[0] >> v[1] >> v[2];
  return v;
}

// The order-sensitive hash of what a test.count sink received (its fourth number).
uint64_t traced(const fs::path& out, const std::string& id) {
  std::ifstream in(out / (id + ".count"));
  int64_t skip;
  uint64_t trace = 0;
  in >> skip >> skip >> skip >> trace;
  return trace;
}

// What a test.count_bulk sink wrote at stop, after test.count's four numbers: {on_events
// calls, most events in one call, calls where now() was not the last event's time, input()
// answers naming an event}; {-1, -1, -1, -1} when it did not write.
std::array<int64_t, 4> bulk_calls(const fs::path& out, const std::string& id) {
  std::ifstream in(out / (id + ".count"));
  int64_t skip;
  uint64_t trace;
  std::array<int64_t, 4> v{-1, -1, -1, -1};
  in >> skip >> skip >> skip >> trace >> v[0] >> v[1] >> v[2] >> v[3];
  return v;
}

// What a test.count_values sink wrote at stop: {values, started, stopped, on_values calls,
// on_event calls, on_values calls with a wrong now(), input() answers naming an event}, then
// each slot's hash; all -1 and no hashes when it did not write.
struct ValuesCounted {
  std::array<int64_t, 7> n{-1, -1, -1, -1, -1, -1, -1};
  std::vector<uint64_t> hashes;
};
ValuesCounted values_counted(const fs::path& out, const std::string& id) {
  std::ifstream in(out / (id + ".count"));
  ValuesCounted v;
  for (int64_t& x : v.n) in >> x;
  for (uint64_t h; in >> h;) v.hashes.push_back(h);
  return v;
}

}  // namespace

TEST_CASE("runner: a sink taking values in columns gets each input's values as on_event would") {
  // Two sources and two batch nodes: the batch stage's batches carry a lane per node. `cols`
  // reads three of the four value streams (c.negated feeds nothing of it); each of its slots
  // must get exactly what a test.count reading that stream alone gets, in the same order.
  const std::string nodes =
      "  - {id: bars, type: test.bars, params: {count: 1000}}\n"
      "  - {id: later, type: test.bars, params: {count: 1000, start: 2024-02-01, symbol: LATER}}\n"
      "  - {id: b, type: test.batch_answers, inputs: bars}\n"
      "  - {id: c, type: test.batch_answers, inputs: later}\n"
      "  - {id: cols, type: test.count_values, inputs: [b.negated, c.value, b.value]}\n"
      "  - {id: t0, type: test.count, inputs: b.negated}\n"
      "  - {id: t1, type: test.count, inputs: c.value}\n"
      "  - {id: t2, type: test.count, inputs: b.value}\n";
  const auto serial = run("columns_serial", nodes, "engine: {vectorize: false}\n");
  INFO(serial.result.error);
  REQUIRE(serial.result.status == qflow::RunResult::Status::ok);
  const std::vector<uint64_t> expected{traced(serial.out, "t0"), traced(serial.out, "t1"), traced(serial.out, "t2")};
  CHECK(expected[0] != expected[2]);  // the slots are told apart
  const ValuesCounted one = values_counted(serial.out, "cols");
  CHECK(one.n == std::array<int64_t, 7>{3000, 1, 1, 0, 3000, 0, 0});  // event by event: on_event only
  CHECK(one.hashes == expected);
  for (const int batch : {1, 7, 64, 4096}) {
    INFO("batch_size " << batch);
    const auto r = run("columns_" + std::to_string(batch), nodes, "engine: {batch_size: " + std::to_string(batch) + "}\n");
    INFO(r.result.error);
    REQUIRE(r.result.status == qflow::RunResult::Status::ok);
    const ValuesCounted v = values_counted(r.out, "cols");
    CHECK(v.hashes == expected);
    CHECK(v.n[0] == 3000);
    CHECK(v.n[4] == 0);                          // no value came through on_event
    CHECK(v.n[3] == (2000 + batch - 1) / batch);  // one call per batch: the 2000 bars come `batch` at a time
    CHECK(v.n[5] == 0);  // now() is the time of the latest value of the call
    CHECK(v.n[6] == 0);  // input() names nothing during on_values
  }
}

TEST_CASE("runner: a sink taking values in columns gets the rest through on_event") {
  // `mixed` reads bars beside values, and `twice` one stream on two slots: neither can be given
  // the lanes as they are, so both get everything through on_event, and the same as test.count.
  // `both_ways` reads b.value and a second source whose bars come after all of `bars`: batches
  // of `bars` alone bring it values only (in columns), the rest bars too (on_event).
  const std::string nodes =
      "  - {id: bars, type: test.bars, params: {count: 1000}}\n"
      "  - {id: later, type: test.bars, params: {count: 1000, start: 2024-02-01, symbol: LATER}}\n"
      "  - {id: b, type: test.batch_answers, inputs: bars}\n"
      "  - {id: mixed, type: test.count_values, inputs: [bars, b.value]}\n"
      "  - {id: twice, type: test.count_values, inputs: [b.negated, b.negated]}\n"
      "  - {id: both_ways, type: test.count_values, inputs: [b.value, later]}\n"
      "  - {id: t_bars, type: test.count, inputs: bars}\n"
      "  - {id: t_later, type: test.count, inputs: later}\n"
      "  - {id: t_value, type: test.count, inputs: b.value}\n"
      "  - {id: t_negated, type: test.count, inputs: b.negated}\n";
  const auto r = run("columns_fallback", nodes, "engine: {batch_size: 64}\n");
  INFO(r.result.error);
  REQUIRE(r.result.status == qflow::RunResult::Status::ok);
  const ValuesCounted mixed = values_counted(r.out, "mixed");
  CHECK(mixed.n == std::array<int64_t, 7>{2000, 1, 1, 0, 2000, 0, 0});
  CHECK(mixed.hashes == std::vector<uint64_t>{traced(r.out, "t_bars"), traced(r.out, "t_value")});
  const ValuesCounted twice = values_counted(r.out, "twice");
  CHECK(twice.n == std::array<int64_t, 7>{2000, 1, 1, 0, 2000, 0, 0});
  CHECK(twice.hashes == std::vector<uint64_t>{traced(r.out, "t_negated"), traced(r.out, "t_negated")});
  // Batches of 64 events: the first 15 hold bars only (960 values in columns); the 16th holds
  // the last 40 of `bars` and the first 24 of `later`, so 40 values and 1,000 bars come one by one.
  const ValuesCounted both = values_counted(r.out, "both_ways");
  CHECK(both.n == std::array<int64_t, 7>{2000, 1, 1, 15, 1040, 0, 0});
  CHECK(both.hashes == std::vector<uint64_t>{traced(r.out, "t_value"), traced(r.out, "t_later")});
}

TEST_CASE("runner: a sink failing in on_values fails the run, naming it and the callback") {
  const auto r = run("columns_fail",
                     "  - {id: bars, type: test.bars, params: {count: 1000}}\n"
                     "  - {id: b, type: test.batch_answers, inputs: bars}\n"
                     "  - {id: cols, type: test.count_values, inputs: b.value, params: {fail_at: 300}}\n"
                     "  - {id: other, type: test.count, inputs: bars}\n",
                     "engine: {batch_size: 512}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error == "node 'cols' (test.count_values) failed in on_values: failing at value 300");
  CHECK(values_counted(r.out, "cols").n[0] == -1);  // a failed node is not stopped
  CHECK(counted(r.out, "other")[1] == 1);           // the other sink still is
}

TEST_CASE("runner: a node with on_values and no other way to take events is refused at creation") {
  const auto r = run("values_only",
                     "  - {id: bars, type: test.bars}\n"
                     "  - {id: b, type: test.batch_answers, inputs: bars}\n"
                     "  - {id: only, type: test.values_only, inputs: b.value}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error ==
        "node 'only' (test.values_only) has on_values but neither on_event nor on_events, which the host needs for what "
        "does not come in columns (abi.h, 11)");
  CHECK(r.result.events == 0);
}

TEST_CASE("runner: a sink taking events many at once gets what on_event would, in the same order") {
  // `bulk` reads lanes of the batch stage (values made into events by the host) and a source;
  // `passed_bulk` reads a compute stage's events. Each has a test.count twin taking one event
  // per call; the traces must match, and the bulk ones must have come a few hundred at a time.
  const std::string nodes =
      "  - {id: bars, type: test.bars, params: {count: 1000}}\n"
      "  - {id: b, type: test.batch_answers, inputs: bars}\n"
      "  - {id: c, type: test.batch_answers, inputs: bars}\n"
      "  - {id: pass, type: test.pass, inputs: bars}\n"
      "  - {id: one, type: test.count, inputs: [b.negated, bars, c, b.value]}\n"
      "  - {id: bulk, type: test.count_bulk, inputs: [b.negated, bars, c, b.value]}\n"
      "  - {id: passed, type: test.count, inputs: pass}\n"
      "  - {id: passed_bulk, type: test.count_bulk, inputs: pass}\n";
  const auto serial = run("bulk_serial", nodes, "engine: {vectorize: false}\n");
  INFO(serial.result.error);
  REQUIRE(serial.result.status == qflow::RunResult::Status::ok);
  CHECK(counted(serial.out, "bulk") == std::array<int64_t, 3>{5000, 1, 1});
  CHECK(traced(serial.out, "bulk") == traced(serial.out, "one"));
  CHECK(traced(serial.out, "passed_bulk") == traced(serial.out, "passed"));
  // Event by event, a node with only on_events gets each event alone.
  CHECK(bulk_calls(serial.out, "bulk")[0] == 5000);
  CHECK(bulk_calls(serial.out, "bulk")[1] == 1);
  CHECK(bulk_calls(serial.out, "bulk")[2] == 0);
  for (const int batch : {1, 7, 64, 4096}) {
    INFO("batch_size " << batch);
    const auto r = run("bulk_" + std::to_string(batch), nodes, "engine: {batch_size: " + std::to_string(batch) + "}\n");
    INFO(r.result.error);
    REQUIRE(r.result.status == qflow::RunResult::Status::ok);
    CHECK(counted(r.out, "bulk") == std::array<int64_t, 3>{5000, 1, 1});
    CHECK(traced(r.out, "bulk") == traced(serial.out, "one"));
    CHECK(counted(r.out, "passed_bulk") == std::array<int64_t, 3>{1000, 1, 1});
    CHECK(traced(r.out, "passed_bulk") == traced(serial.out, "passed"));
    for (const std::string id : {"bulk", "passed_bulk"}) {
      INFO(id);
      const auto calls = bulk_calls(r.out, id);
      const int64_t per_bar = id == "bulk" ? 5 : 1, events = 1000 * per_bar;
      // A batch's events at most, and never more than the host's 256 at once.
      CHECK(calls[1] == std::min<int64_t>(256, per_bar * batch));
      CHECK(calls[0] >= (events + 255) / 256);
      CHECK(calls[0] <= events / std::min<int64_t>(per_bar * batch, 256) + 1000 / batch + 1);
      CHECK(calls[2] == 0);  // now() is the time of the last event's cycle
      CHECK(calls[3] == 0);  // input() names nothing during on_events
    }
  }
}

TEST_CASE("runner: a sink failing in on_events fails the run, naming it and the callback") {
  for (const std::string engine : {"engine: {vectorize: false}\n", "engine: {batch_size: 512}\n"}) {
    INFO(engine);
    const auto r = run("bulk_fail",
                       "  - {id: bars, type: test.bars, params: {count: 1000}}\n"
                       "  - {id: bulk, type: test.count_bulk, inputs: bars, params: {fail_at: 300}}\n"
                       "  - {id: other, type: test.count, inputs: bars}\n",
                       engine);
    CHECK(r.result.status == qflow::RunResult::Status::failed);
    CHECK(r.result.error == "node 'bulk' (test.count_bulk) failed in on_events: failing at event 300");
    CHECK(counted(r.out, "bulk")[0] == -1);  // a failed node is not stopped
    CHECK(counted(r.out, "other")[1] == 1);  // the other sink still is
  }
}

TEST_CASE("runner: batch answers handed on as lanes arrive as they would event by event") {
  // b answers from on_batch through emit_many; its answers travel as a lane of the batch stage's
  // batches. The sinks must see the same events in the same order as when every node runs
  // event by event, whatever the batch size.
  const std::string nodes =
      "  - {id: bars, type: test.bars, params: {count: 1000}}\n"
      "  - {id: b, type: test.batch_answers, inputs: bars}\n"
      "  - {id: c, type: test.batch_answers, inputs: bars}\n"
      "  - {id: both, type: test.count, inputs: [b.negated, bars, c, b.value]}\n"
      "  - {id: one, type: test.count, inputs: c.negated}\n";
  const auto serial = run("lanes_serial", nodes, "engine: {vectorize: false}\n");
  REQUIRE(serial.result.status == qflow::RunResult::Status::ok);
  CHECK(counted(serial.out, "both") == std::array<int64_t, 3>{5000, 1, 1});  // c alone is c.value and c.negated
  CHECK(counted(serial.out, "one") == std::array<int64_t, 3>{1000, 1, 1});
  // With facts the host records each answer as it takes it; without, it takes them in bulk.
  const std::vector<std::string> engines{"batch_size: 1", "batch_size: 7", "batch_size: 64", "batch_size: 4096",
                                         "batch_size: 7, facts: false", "batch_size: 4096, facts: false"};
  for (size_t i = 0; i < engines.size(); ++i) {
    INFO(engines[i]);
    const auto r = run("lanes_" + std::to_string(i), nodes, "engine: {vectorize: true, " + engines[i] + "}\n");
    INFO(r.result.error);
    REQUIRE(r.result.status == qflow::RunResult::Status::ok);
    CHECK(counted(r.out, "both") == std::array<int64_t, 3>{5000, 1, 1});
    CHECK(traced(r.out, "both") == traced(serial.out, "both"));
    CHECK(traced(r.out, "one") == traced(serial.out, "one"));
  }
}

TEST_CASE("runner: a batch node answering a seq none of its inputs has fails the run clearly") {
  for (const std::string how : {"seq", "order", "back"})
    for (const std::string facts : {"true", "false"}) {
      INFO(how << ", facts " << facts);
      const auto r = run("batch_" + how + facts,
                         "  - {id: bars, type: test.bars, params: {count: 100}}\n"
                         "  - {id: b, type: test.batch_answers, inputs: bars, params: {how: " + how + "}}\n"
                         "  - {id: sink, type: test.count, inputs: b}\n",
                         "engine: {batch_size: 16, facts: " + facts + "}\n");
      CHECK(r.result.status == qflow::RunResult::Status::failed);
      CHECK(r.result.error.find("node 'b' (test.batch_answers) broke the node contract in on_batch: emitted from on_batch an event for seq ") == 0);
      CHECK(r.result.error.find("which is none of its inputs' or comes after a later one's") != std::string::npos);
      CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{0, 1, 1});  // the first batch already failed
    }
}

TEST_CASE("runner: a batch node answering on an undeclared port fails the run clearly") {
  for (const std::string facts : {"true", "false"}) {
    INFO("facts " << facts);
    const auto r = run("batch_port" + facts,
                       "  - {id: bars, type: test.bars, params: {count: 100}}\n"
                       "  - {id: b, type: test.batch_answers, inputs: bars, params: {how: port}}\n"
                       "  - {id: sink, type: test.count, inputs: b}\n",
                       "engine: {batch_size: 16, facts: " + facts + "}\n");
    CHECK(r.result.status == qflow::RunResult::Status::failed);
    CHECK(r.result.error == "node 'b' (test.batch_answers) broke the node contract in on_batch: emitted on output port 7 an event it does not carry");
    CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{0, 1, 1});
  }
}

TEST_CASE("runner: what a node emits at stop reaches the on_cycle of the nodes after it in its stage") {
  // hold hands its last bar on only at stop; cycle, in the same stage, reads it in on_cycle.
  const std::string nodes =
      "  - {id: bars, type: test.bars, params: {count: 10}}\n"
      "  - {id: hold, type: test.hold, inputs: bars}\n"
      "  - {id: cycle, type: test.on_cycle, inputs: hold}\n"
      "  - {id: held, type: test.count, inputs: hold}\n"
      "  - {id: seen, type: test.count, inputs: cycle}\n";
  for (const std::string engine : {"engine: {vectorize: false}\n", "engine: {batch_size: 3}\n"}) {
    INFO(engine);
    const auto r = run("stop_cycle", nodes, engine);
    INFO(r.result.error);
    REQUIRE(r.result.status == qflow::RunResult::Status::ok);
    CHECK(counted(r.out, "held") == std::array<int64_t, 3>{10, 1, 1});
    CHECK(counted(r.out, "seen") == std::array<int64_t, 3>{10, 1, 1});
  }
}

TEST_CASE("runner: bars through a pass-through into a counting sink") {
  const auto r = run("happy",
                     "  - {id: bars, type: test.bars, params: {count: 25}}\n"
                     "  - {id: pass, type: test.pass, inputs: bars}\n"
                     "  - {id: sink, type: test.count, inputs: pass}\n"
                     "  - {id: direct, type: test.count, inputs: bars}\n",
                     "engine: {batch_size: 4, max_batches_in_flight: 2}\n");
  INFO(r.result.error);
  CHECK(r.result.status == qflow::RunResult::Status::ok);
  CHECK(r.result.error.empty());
  CHECK(r.result.events == 25);
  CHECK(r.result.output_dir == r.out.string());
  CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{25, 1, 1});
  CHECK(counted(r.out, "direct") == std::array<int64_t, 3>{25, 1, 1});
}

TEST_CASE("runner: one batch in flight at a time still delivers every batch") {
  // max_batches_in_flight 1 is the tightest backpressure: each batch must be released before
  // the source may produce the next.
  const auto r = run("one_in_flight",
                     "  - {id: bars, type: test.bars, params: {count: 50}}\n"
                     "  - {id: pass, type: test.pass, inputs: bars}\n"
                     "  - {id: sink, type: test.count, inputs: pass}\n",
                     "engine: {batch_size: 5, max_batches_in_flight: 1}\n");
  INFO(r.result.error);
  CHECK(r.result.status == qflow::RunResult::Status::ok);
  CHECK(r.result.events == 50);
  CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{50, 1, 1});
}

TEST_CASE("runner: a node whose create throws fails the run, naming the node and its message") {
  const auto r = run("create_throws",
                     "  - {id: bars, type: test.bars}\n"
                     "  - {id: refuser, type: test.create_throws, inputs: bars, params: {reason: disk on fire}}\n"
                     "  - {id: sink, type: test.count, inputs: refuser}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error == "node 'refuser' (test.create_throws) could not be created: refusing to be created: disk on fire");
  CHECK(r.result.events == 0);
  CHECK(!fs::exists(r.out / "sink.count"));  // nothing ran
}

TEST_CASE("runner: a node throwing in on_event fails the run, sinks are still stopped with what came before") {
  // `pre` sees every bar `pass` forwarded, including the one `boom` failed on; `post` sees the
  // bars `boom` forwarded before it failed. Both share the compute stage's output batches.
  const auto r = run("throws",
                     "  - {id: bars, type: test.bars, params: {count: 100}}\n"
                     "  - {id: pass, type: test.pass, inputs: bars}\n"
                     "  - {id: boom, type: test.throw_on_event, inputs: pass, params: {at: 7}}\n"
                     "  - {id: pre, type: test.count, inputs: pass}\n"
                     "  - {id: post, type: test.count, inputs: boom}\n",
                     "engine: {batch_size: 3, max_batches_in_flight: 2}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error == "node 'boom' (test.throw_on_event) failed in on_event: boom at event 7");
  CHECK(counted(r.out, "pre") == std::array<int64_t, 3>{7, 1, 1});
  CHECK(counted(r.out, "post") == std::array<int64_t, 3>{6, 1, 1});
  CHECK(r.result.events < 100);  // the sources stopped early
}

TEST_CASE("runner: a node emitting on an undeclared port fails the run clearly") {
  const auto r = run("bad_port",
                     "  - {id: bars, type: test.bars}\n"
                     "  - {id: bad, type: test.bad_emit, inputs: bars, params: {how: port}}\n"
                     "  - {id: sink, type: test.count, inputs: bad}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error == "node 'bad' (test.bad_emit) broke the node contract in on_event: emitted on output port 7, but it declares 1");
  CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{0, 1, 1});
}

TEST_CASE("runner: a node emitting a kind its port does not carry fails the run clearly") {
  const auto r = run("bad_kind",
                     "  - {id: bars, type: test.bars}\n"
                     "  - {id: bad, type: test.bad_emit, inputs: bars, params: {how: kind}}\n"
                     "  - {id: sink, type: test.count, inputs: bad}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error == "node 'bad' (test.bad_emit) broke the node contract in on_event: emitted a fill event on output 'out', which carries value");
  CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{0, 1, 1});
}

TEST_CASE("runner: a source emitting on an undeclared port fails the run clearly") {
  const auto r = run("bad_source",
                     "  - {id: bars, type: test.bars, params: {bad_port: true}}\n"
                     "  - {id: sink, type: test.count, inputs: bars}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error.find("node 'bars' (test.bars) broke the node contract in produce: ") == 0);
  CHECK(r.result.error.find("output port 3") != std::string::npos);
  CHECK(counted(r.out, "sink") == std::array<int64_t, 3>{0, 1, 1});
}

TEST_CASE("runner: a failure in one part of the graph does not lose the other part's output") {
  // Two chains on one source: `good` keeps counting until the run is cancelled, and is stopped.
  const auto r = run("two_chains",
                     "  - {id: bars, type: test.bars, params: {count: 50}}\n"
                     "  - {id: pass, type: test.pass, inputs: bars}\n"
                     "  - {id: good, type: test.count, inputs: pass}\n"
                     "  - {id: boom, type: test.throw_on_event, inputs: bars, params: {at: 2}}\n"
                     "  - {id: post, type: test.count, inputs: boom}\n",
                     "engine: {batch_size: 5, max_batches_in_flight: 1}\n");
  CHECK(r.result.status == qflow::RunResult::Status::failed);
  CHECK(r.result.error == "node 'boom' (test.throw_on_event) failed in on_event: boom at event 2");
  const auto good = counted(r.out, "good");
  CHECK(good[0] >= 5);  // at least the batch that was in flight when boom failed
  CHECK(good[0] <= 50);
  CHECK(good[2] == 1);
  CHECK(counted(r.out, "post") == std::array<int64_t, 3>{1, 1, 1});
}
