// runtime/planner.cpp: which nodes are fused into which stage, and which stage feeds which.
#include "runtime_test_support.hpp"

#include "planner.hpp"

#include <algorithm>
#include <sstream>

using qflow::Plan;
using qflow::StagePlan;
using rt_test::check;

namespace {

using Kind = StagePlan::Kind;

std::vector<std::string> ids(const qflow::Graph& g, const StagePlan& s) {
  std::vector<std::string> out;
  for (uint32_t n : s.nodes) out.push_back(g.nodes[n].id);
  return out;
}

std::vector<const StagePlan*> of_kind(const Plan& p, Kind k) {
  std::vector<const StagePlan*> out;
  for (const StagePlan& s : p.stages)
    if (s.kind == k) out.push_back(&s);
  return out;
}

int index_of(const Plan& p, const StagePlan* s) { return static_cast<int>(s - p.stages.data()); }

// The stage holding node `id`.
const StagePlan& stage_of(const qflow::Graph& g, const Plan& p, const std::string& id) {
  const uint32_t n = rt_test::index_of(g, id);
  for (const StagePlan& s : p.stages)
    if (std::find(s.nodes.begin(), s.nodes.end(), n) != s.nodes.end()) return s;
  FAIL("node " << id << " is in no stage");
  throw;
}

// Invariants of every plan: each node in exactly one stage, each stage after its input, sources
// stages without input, compute stages fed by sources or batch stages, sinks by any stage
// but a sink, and no compute stage without nodes.
void check_invariants(const qflow::Graph& g, const Plan& p) {
  std::vector<int> seen(g.nodes.size(), 0);
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const StagePlan& s = p.stages[i];
    for (uint32_t n : s.nodes) ++seen[n];
    CHECK(s.input < static_cast<int>(i));
    CHECK(s.exported.size() == g.stream_count());
    switch (s.kind) {
      case Kind::sources:
        CHECK(s.input == -1);
        for (uint32_t n : s.nodes) CHECK(g.nodes[n].type->is_source());
        break;
      case Kind::batch:
        REQUIRE(s.input >= 0);
        CHECK(p.stages[static_cast<size_t>(s.input)].kind == Kind::sources);
        for (uint32_t n : s.nodes) {
          CHECK(g.nodes[n].type->batched());
          REQUIRE(g.nodes[n].slots.size() == 1);
          // Fed only by sources or other batch nodes of the same stage.
          const uint32_t producer = g.nodes[n].slots[0].producer;
          CHECK((g.nodes[producer].type->is_source() ||
                 std::find(s.nodes.begin(), s.nodes.end(), producer) != s.nodes.end()));
        }
        break;
      case Kind::compute:
        REQUIRE(s.input >= 0);
        CHECK((p.stages[static_cast<size_t>(s.input)].kind == Kind::sources ||
               p.stages[static_cast<size_t>(s.input)].kind == Kind::batch));
        CHECK(!s.nodes.empty());
        for (uint32_t n : s.nodes) CHECK((!g.nodes[n].type->is_source() && !g.nodes[n].type->is_sink()));
        break;
      case Kind::sink:
        REQUIRE(s.input >= 0);
        CHECK(p.stages[static_cast<size_t>(s.input)].kind != Kind::sink);
        REQUIRE(s.nodes.size() == 1);
        CHECK(g.nodes[s.nodes[0]].type->is_sink());
        break;
    }
  }
  for (size_t n = 0; n < g.nodes.size(); ++n) CHECK(seen[n] == 1);
}

}  // namespace

TEST_CASE("planner: a strategy with its indicators and executor is one compute stage, sinks are separate") {
  const auto c = check(
      "nodes:\n"
      "  - {id: bars, type: test.bars}\n"
      "  - {id: fast, type: test.value, inputs: bars}\n"
      "  - {id: slow, type: test.value, inputs: bars}\n"
      "  - {id: strat, type: test.strategy, inputs: [bars, fast, slow.upper]}\n"
      "  - {id: broker, type: test.exec, inputs: {market: bars, orders: strat}}\n"
      "  - {id: trades, type: test.count, inputs: broker.fills}\n"
      "  - {id: equity, type: test.count, inputs: [broker.account, broker.fills]}\n");
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  REQUIRE(p.stages.size() == 4);
  const auto sources = of_kind(p, Kind::sources), compute = of_kind(p, Kind::compute), sinks = of_kind(p, Kind::sink);
  REQUIRE(sources.size() == 1);
  REQUIRE(compute.size() == 1);
  REQUIRE(sinks.size() == 2);
  CHECK(ids(g, *sources[0]) == std::vector<std::string>{"bars"});
  CHECK(ids(g, *compute[0]) == std::vector<std::string>{"fast", "slow", "strat", "broker"});  // topological
  CHECK(compute[0]->input == index_of(p, sources[0]));
  CHECK(ids(g, *sinks[0]) == std::vector<std::string>{"trades"});
  CHECK(ids(g, *sinks[1]) == std::vector<std::string>{"equity"});
  CHECK(sinks[0]->name == "sink:trades");
  for (const StagePlan* s : sinks) CHECK(s->input == index_of(p, compute[0]));
  // The compute stage exports exactly what the sinks read: the broker's fills and account.
  const uint32_t broker = rt_test::index_of(g, "broker");
  std::vector<uint32_t> exported;
  for (uint32_t k = 0; k < compute[0]->exported.size(); ++k)
    if (compute[0]->exported[k]) exported.push_back(k);
  CHECK(exported == std::vector<uint32_t>{g.stream(broker, 0), g.stream(broker, 1)});
}

TEST_CASE("planner: two independent chains give two source stages and two compute stages") {
  const auto c = check(
      "nodes:\n"
      "  - {id: a_bars, type: test.bars}\n"
      "  - {id: b_bars, type: test.bars}\n"
      "  - {id: a_pass, type: test.pass, inputs: a_bars}\n"
      "  - {id: b_pass, type: test.pass, inputs: b_bars}\n"
      "  - {id: a_out, type: test.count, inputs: a_pass}\n"
      "  - {id: b_out, type: test.count, inputs: b_pass}\n");
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  CHECK(of_kind(p, Kind::sources).size() == 2);
  CHECK(of_kind(p, Kind::compute).size() == 2);
  CHECK(of_kind(p, Kind::sink).size() == 2);
  const StagePlan& a = stage_of(g, p, "a_pass");
  const StagePlan& b = stage_of(g, p, "b_pass");
  CHECK(&a != &b);
  CHECK(ids(g, a) == std::vector<std::string>{"a_pass"});
  CHECK(ids(g, p.stages[static_cast<size_t>(a.input)]) == std::vector<std::string>{"a_bars"});
  CHECK(ids(g, p.stages[static_cast<size_t>(b.input)]) == std::vector<std::string>{"b_bars"});
  CHECK(&p.stages[static_cast<size_t>(stage_of(g, p, "a_out").input)] == &a);
  CHECK(&p.stages[static_cast<size_t>(stage_of(g, p, "b_out").input)] == &b);
}

TEST_CASE("planner: a shared source gives one source stage feeding independent compute stages") {
  const auto c = check(
      "nodes:\n"
      "  - {id: bars, type: test.bars}\n"
      "  - {id: p1, type: test.pass, inputs: bars}\n"
      "  - {id: p2, type: test.pass, inputs: bars}\n"
      "  - {id: o1, type: test.count, inputs: p1}\n"
      "  - {id: o2, type: test.count, inputs: p2}\n");
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  const auto sources = of_kind(p, Kind::sources);
  REQUIRE(sources.size() == 1);
  CHECK(ids(g, *sources[0]) == std::vector<std::string>{"bars"});
  const auto compute = of_kind(p, Kind::compute);
  REQUIRE(compute.size() == 2);
  CHECK(ids(g, *compute[0]) == std::vector<std::string>{"p1"});
  CHECK(ids(g, *compute[1]) == std::vector<std::string>{"p2"});
  for (const StagePlan* s : compute) CHECK(s->input == index_of(p, sources[0]));
}

TEST_CASE("planner: two sources feeding one chain are merged in one source stage") {
  const auto c = check(
      "nodes:\n"
      "  - {id: a, type: test.bars}\n"
      "  - {id: b, type: test.bars}\n"
      "  - {id: s, type: test.strategy, inputs: {market: a}}\n"
      "  - {id: x, type: test.exec, inputs: {market: b, orders: s}}\n"
      "  - {id: out, type: test.count, inputs: x.fills}\n");
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  const auto sources = of_kind(p, Kind::sources);
  REQUIRE(sources.size() == 1);
  CHECK(ids(g, *sources[0]) == std::vector<std::string>{"a", "b"});
  const auto compute = of_kind(p, Kind::compute);
  REQUIRE(compute.size() == 1);
  CHECK(ids(g, *compute[0]) == std::vector<std::string>{"s", "x"});
}

TEST_CASE("planner: a sink reading a source directly reads the source stage's batches") {
  const auto c = check("nodes:\n  - {id: bars, type: test.bars}\n  - {id: out, type: test.count, inputs: bars}\n");
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  REQUIRE(p.stages.size() == 2);
  CHECK(p.stages[0].kind == Kind::sources);
  CHECK(p.stages[1].kind == Kind::sink);
  CHECK(p.stages[1].input == 0);
}

TEST_CASE("planner: sinks reading only indicators read the batch stage, which exports what they read") {
  const qflow::NodeRegistry registry = rt_test::builtin_registry();
  const auto c = check(
      "nodes:\n"
      "  - {id: bars, type: source.synthetic_bars, params: {bars: 10}}\n"
      "  - {id: fast, type: indicator.sma, inputs: bars, params: {period: 3}}\n"
      "  - {id: slow, type: indicator.ema, inputs: bars, params: {period: 5}}\n"
      "  - {id: out, type: sink.table_csv, inputs: [fast, slow], params: {file: out.csv}}\n",
      {}, rt_test::kFile, &registry);
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  REQUIRE(p.stages.size() == 3);
  CHECK(p.stages[1].kind == Kind::batch);
  CHECK(ids(g, p.stages[1]) == std::vector<std::string>{"fast", "slow"});
  CHECK(p.stages[2].kind == Kind::sink);
  CHECK(p.stages[2].input == 1);
  std::vector<uint32_t> exported;
  for (uint32_t k = 0; k < p.stages[1].exported.size(); ++k)
    if (p.stages[1].exported[k]) exported.push_back(k);
  const std::vector<uint32_t> read{g.stream(rt_test::index_of(g, "fast"), 0), g.stream(rt_test::index_of(g, "slow"), 0)};
  CHECK(exported == read);
}

TEST_CASE("planner: sma_cross.yaml with the built-in nodes: bars | fast, slow | strategy, broker | trades | summary") {
  const qflow::NodeRegistry registry = rt_test::builtin_registry();
  qflow::Diagnostics diags;
  qflow::LoadOptions options;
  options.overrides["strategy"] = "native";  // the Lua variant needs the Lua host, tested elsewhere
  const std::string file = std::string(QFLOW_SOURCE_DIR) + "/pipelines/sma_cross.yaml";
  const auto def = qflow::load_pipeline(file, options, diags);
  auto graph = qflow::build_graph(def, registry, diags);
  std::string all;
  for (const auto& d : diags.all()) all += d.to_string() + "\n";
  INFO(all);
  REQUIRE(graph);
  const auto& g = *graph;
  // The data path follows the pipeline file.
  const qf_param_value* path = rt_test::node(g, "bars").params.find("path");
  CHECK(std::string(path->s.data, path->s.size) ==
        (std::filesystem::path(QFLOW_SOURCE_DIR) / "pipelines/data/orcl_1995_2014_daily_yahoo.csv").lexically_normal().string());
  const Plan p = qflow::make_plan(g);
  check_invariants(g, p);
  // The averages run a batch ahead in a stage of their own; strategy and broker stay fused.
  REQUIRE(p.stages.size() == 5);
  CHECK(ids(g, p.stages[0]) == std::vector<std::string>{"bars"});
  CHECK(p.stages[1].kind == Kind::batch);
  CHECK(ids(g, p.stages[1]) == std::vector<std::string>{"fast", "slow"});
  CHECK(p.stages[2].kind == Kind::compute);
  CHECK(p.stages[2].input == 1);
  CHECK(ids(g, p.stages[2]) == std::vector<std::string>{"strategy", "broker"});
  CHECK(ids(g, p.stages[3]) == std::vector<std::string>{"trades"});
  CHECK(ids(g, p.stages[4]) == std::vector<std::string>{"summary"});
  // The batch stage passes on the bars and both averages, which the compute stage reads.
  const uint32_t bars = rt_test::index_of(g, "bars");
  CHECK(p.stages[1].exported[g.stream(bars, 0)]);
  CHECK(p.stages[1].exported[g.stream(rt_test::index_of(g, "fast"), 0)]);
  CHECK(p.stages[1].exported[g.stream(rt_test::index_of(g, "slow"), 0)]);
  // Without vectorizing, everything but the sources and sinks is one compute stage.
  qflow::Graph serial = g;
  serial.vectorize = false;
  const Plan q = qflow::make_plan(serial);
  check_invariants(serial, q);
  REQUIRE(q.stages.size() == 4);
  CHECK(ids(serial, q.stages[1]) == std::vector<std::string>{"fast", "slow", "strategy", "broker"});
  std::ostringstream dot;
  qflow::write_dot(dot, g, &p);
  CHECK(dot.str().find("subgraph cluster_1") != std::string::npos);
  CHECK(dot.str().find("\"broker\" -> \"strategy\" [style=dashed") != std::string::npos);
}
