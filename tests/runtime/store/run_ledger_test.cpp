// runtime/run_ledger.hpp and run_identity.hpp, through real pipelines of the built-in nodes
// (synthetic bars, two SMAs, the native crossover, the paper broker, a summary sink): a re-run
// replaces its facts instead of duplicating them, other parameters get a run of their own, a
// run id is never silently reused by another pipeline, and resuming needs something to resume.
#include "store_test_support.hpp"

#include "diagnostics.hpp"
#include "pipeline.hpp"
#include "pipeline_runner.hpp"
#include "plugin_host.hpp"
#include "run_identity.hpp"
#include "run_ledger.hpp"
#include "store/checkpoint.hpp"
#include "store/fact_table.hpp"
#include "store/runs.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

using namespace qflow::store;
using store_test::TempDir;
namespace fs = std::filesystem;

namespace {

// The built-in node libraries, loaded once; they stay loaded while the registry lives.
const qflow::NodeRegistry& builtins() {
  static qflow::NodeRegistry registry;
  static const bool loaded = [] {
    qflow::PluginHost host(registry);
    qflow::Diagnostics diags;
    for (const char* lib : {QFLOW_BUILTIN_SOURCES, QFLOW_BUILTIN_INDICATORS, QFLOW_BUILTIN_STRATEGIES,
                            QFLOW_BUILTIN_EXECUTORS, QFLOW_BUILTIN_SINKS})
      host.load_library(lib, diags, true);
    for (const auto& d : diags.all()) FAIL_CHECK("loading the built-in nodes: " << d.to_string());
    return !diags.has_errors();
  }();
  REQUIRE(loaded);
  return registry;
}

constexpr const char* kPipeline = R"(name: ledger_test
mode: backtest
seed: 7
output: ${out}
engine: {batch_size: 256, checkpoint_every: 0}
variables:
  bars: 3000
  seed: 7
  slow: 20
  out: unset
nodes:
  - id: bars
    type: source.synthetic_bars
    params:
      bars: ${bars}
      symbol: SYN
      interval: 1m
      volatility: 0.01
      seed: ${seed}
  - id: fast
    type: indicator.sma
    inputs: [bars]
    params: {period: 5}
  - id: slow
    type: indicator.sma
    inputs: [bars]
    params:
      period: ${slow}
  - id: strategy
    type: strategy.sma_cross
    inputs: [bars, fast, slow]
    params: {size: 1}
  - id: broker
    type: executor.paper
    inputs: {market: bars, orders: strategy}
  - id: summary
    type: sink.summary
    inputs: {account: broker.account, fills: broker.fills}
    params: {print: false}
)";

// The pipeline with `--set`-like overrides, its output in `out`.
qflow::Graph graph(const fs::path& out, std::map<std::string, std::string> overrides = {}) {
  overrides["out"] = out.string();
  qflow::LoadOptions options;
  options.overrides = std::move(overrides);
  qflow::Diagnostics diags;
  const qflow::PipelineDef def = qflow::load_pipeline_text(kPipeline, (out / "ledger_test.yaml").string(), options, diags);
  std::optional<qflow::Graph> g;
  if (!diags.has_errors()) g = qflow::build_graph(def, builtins(), diags);
  std::string problems;
  for (const auto& d : diags.all()) problems += d.to_string() + "\n";
  INFO(problems);
  REQUIRE(g);
  return *g;
}

qflow::RunResult run(const qflow::Graph& g, const std::string& run_id = "", bool resume = false, bool force = false) {
  qflow::RunOptions options;
  options.threads = 2;
  options.run_id = run_id;
  options.resume = resume;
  options.force = force;
  return qflow::run_pipeline(g, options);
}

// Every fact of a run, family by family.
std::map<Family, std::vector<Fact>> facts_of(const fs::path& out, const std::string& run_id) {
  auto store = Store::open(Store::locate(out), Store::Mode::read_only);
  const std::optional<RunRecord> rec = load_run(*store, run_id);
  REQUIRE(rec);
  std::map<Family, std::vector<Fact>> all;
  for (Family f : store_test::all_families()) all[f] = store_test::read_facts(*store, rec->number, f);
  return all;
}

// A family as `qflow export` shows it: the text of every cell.
std::vector<std::vector<std::string>> exported(const fs::path& out, const std::string& run_id, Family f) {
  auto store = Store::open(Store::locate(out), Store::Mode::read_only);
  const RunRecord rec = *load_run(*store, run_id);
  const FactTable table(f, rec, load_names(*store, rec.number));
  std::vector<std::vector<std::string>> rows;
  for (const Fact& fact : store_test::read_facts(*store, rec.number, f)) {
    std::vector<std::string> cells;
    for (const FactCell& c : table.row(fact)) cells.push_back(c.text);
    rows.push_back(std::move(cells));
  }
  return rows;
}

std::vector<RunRecord> runs_in(const fs::path& out) {
  auto store = Store::open(Store::locate(out), Store::Mode::read_only);
  return list_runs(*store);
}

std::optional<RunRecord> run_in(const fs::path& out, const std::string& id) {
  auto store = Store::open(Store::locate(out), Store::Mode::read_only);
  return load_run(*store, id);
}

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
}

}  // namespace

TEST_CASE("run ledger: re-running a pipeline replaces its run: same id, same facts, no duplicates") {
  TempDir tmp("rerun");
  const qflow::Graph g = graph(tmp.path());
  const std::string hash = qflow::pipeline_hash(g);
  REQUIRE(hash.size() == 16);
  CHECK(is_hex(hash));
  const std::string id = qflow::default_run_id(g, hash);
  CHECK(id == "ledger_test-" + hash.substr(0, 8));

  const qflow::RunResult first = run(g);
  INFO(first.error);
  REQUIRE(first.status == qflow::RunResult::Status::ok);
  CHECK(first.run_id == id);
  CHECK(first.events == 3000);
  const auto facts1 = facts_of(tmp.path(), id);
  CHECK(facts1.at(Family::bars).size() == 3000);  // the source's bars, once each
  CHECK(!facts1.at(Family::values).empty());
  CHECK(!facts1.at(Family::equity).empty());
  std::map<Family, std::vector<std::vector<std::string>>> export1;
  for (Family f : store_test::all_families()) export1[f] = exported(tmp.path(), id, f);
  const RunRecord rec1 = *run_in(tmp.path(), id);
  CHECK(rec1.status == "completed");
  CHECK(rec1.pipeline_hash == hash);
  CHECK(rec1.name == "ledger_test");
  CHECK(rec1.mode == "backtest");
  CHECK(rec1.nodes == std::vector<std::string>{"bars", "fast", "slow", "strategy", "broker", "summary"});
  CHECK(rec1.events == 3000);
  // The record's counts are the rows in the store.
  for (Family f : store_test::all_families()) {
    INFO(f);
    const auto it = rec1.facts.find(family_name(f));
    CHECK((it == rec1.facts.end() ? 0 : it->second) == facts1.at(f).size());
  }

  const qflow::RunResult second = run(g);
  INFO(second.error);
  REQUIRE(second.status == qflow::RunResult::Status::ok);
  CHECK(second.run_id == id);
  const std::vector<RunRecord> runs = runs_in(tmp.path());
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].number == rec1.number);
  CHECK(runs[0].status == "completed");
  const auto facts2 = facts_of(tmp.path(), id);
  for (Family f : store_test::all_families()) {
    INFO(f);
    store_test::require_same(facts2.at(f), facts1.at(f));
    CHECK(exported(tmp.path(), id, f) == export1.at(f));
  }
}

TEST_CASE("run ledger: another parameter gets another default run id, beside the first") {
  TempDir tmp("two_seeds");
  const qflow::Graph g7 = graph(tmp.path());
  const qflow::Graph g8 = graph(tmp.path(), {{"seed", "8"}});
  const std::string id7 = qflow::default_run_id(g7, qflow::pipeline_hash(g7));
  const std::string id8 = qflow::default_run_id(g8, qflow::pipeline_hash(g8));
  CHECK(id7 != id8);
  CHECK(qflow::pipeline_hash(g7) == qflow::pipeline_hash(graph(tmp.path())));  // the hash is stable

  REQUIRE(run(g7).status == qflow::RunResult::Status::ok);
  const auto before = facts_of(tmp.path(), id7);
  const qflow::RunResult r8 = run(g8);
  INFO(r8.error);
  REQUIRE(r8.status == qflow::RunResult::Status::ok);
  CHECK(r8.run_id == id8);

  const std::vector<RunRecord> runs = runs_in(tmp.path());
  REQUIRE(runs.size() == 2);
  std::set<std::string> ids{runs[0].id, runs[1].id};
  CHECK(ids == std::set<std::string>{id7, id8});
  CHECK(runs[0].number != runs[1].number);
  for (const RunRecord& r : runs) CHECK(r.status == "completed");
  // The first run's facts are untouched; the second has its own (other prices, as many bars).
  const auto after = facts_of(tmp.path(), id7);
  const auto other = facts_of(tmp.path(), id8);
  for (Family f : store_test::all_families()) store_test::require_same(after.at(f), before.at(f));
  REQUIRE(other.at(Family::bars).size() == 3000);
  CHECK(other.at(Family::bars)[1].row.payload != before.at(Family::bars)[1].row.payload);
}

TEST_CASE("run ledger: an explicit run id reused by a changed pipeline is refused unless forced") {
  TempDir tmp("reuse");
  REQUIRE(run(graph(tmp.path()), "mine").status == qflow::RunResult::Status::ok);
  const auto original = facts_of(tmp.path(), "mine");
  REQUIRE(original.at(Family::bars).size() == 3000);

  // Fewer bars: were the old facts not cleared, the old second chunk would outlive the re-run.
  const qflow::Graph changed = graph(tmp.path(), {{"bars", "2000"}});
  const qflow::RunResult refused = run(changed, "mine");
  CHECK(refused.status == qflow::RunResult::Status::failed);
  CHECK_THAT(refused.error, Catch::Contains("run 'mine' already exists") && Catch::Contains("--force") &&
                                Catch::Contains((tmp.path() / kStoreDir).string()));
  const auto kept = facts_of(tmp.path(), "mine");
  for (Family f : store_test::all_families()) store_test::require_same(kept.at(f), original.at(f));
  CHECK(run_in(tmp.path(), "mine")->status == "completed");

  const qflow::RunResult forced = run(changed, "mine", false, true);
  INFO(forced.error);
  REQUIRE(forced.status == qflow::RunResult::Status::ok);
  const auto replaced = facts_of(tmp.path(), "mine");
  CHECK(replaced.at(Family::bars).size() == 2000);
  CHECK(runs_in(tmp.path()).size() == 1);
  CHECK(run_in(tmp.path(), "mine")->pipeline_hash == qflow::pipeline_hash(changed));
  // Every family holds only the new run's rows: as many as its record counts.
  const RunRecord rec = *run_in(tmp.path(), "mine");
  for (Family f : store_test::all_families()) {
    INFO(f);
    const auto it = rec.facts.find(family_name(f));
    CHECK((it == rec.facts.end() ? 0 : it->second) == replaced.at(f).size());
  }
}

TEST_CASE("run ledger: resuming a completed run or an unknown one is refused, naming the run") {
  TempDir tmp("resume_refused");
  const qflow::Graph g = graph(tmp.path());
  const qflow::RunResult done = run(g);
  REQUIRE(done.status == qflow::RunResult::Status::ok);
  const auto facts = facts_of(tmp.path(), done.run_id);

  const qflow::RunResult again = run(g, "", true);
  CHECK(again.status == qflow::RunResult::Status::failed);
  CHECK(again.error == "run '" + done.run_id + "' in " + (tmp.path() / kStoreDir).string() +
                           " completed; there is nothing to resume");

  const qflow::RunResult ghost = run(g, "ghost", true);
  CHECK(ghost.status == qflow::RunResult::Status::failed);
  CHECK_THAT(ghost.error, Catch::StartsWith("there is no run 'ghost' in " + (tmp.path() / kStoreDir).string() + " to resume"));

  // Neither attempt changed anything.
  const std::vector<RunRecord> runs = runs_in(tmp.path());
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].status == "completed");
  const auto after = facts_of(tmp.path(), done.run_id);
  for (Family f : store_test::all_families()) store_test::require_same(after.at(f), facts.at(f));
}

TEST_CASE("run ledger: the record of a new run, numbering, and closing it") {
  TempDir tmp("ledger_direct");
  const qflow::Graph g = graph(tmp.path());
  {
    qflow::RunLedger ledger(g, tmp.path().string(), "", false, false);
    const RunRecord& r = ledger.record();
    CHECK(r.id == qflow::default_run_id(g, qflow::pipeline_hash(g)));
    CHECK(ledger.hash() == qflow::pipeline_hash(g));
    CHECK(r.number == 1);
    CHECK(r.status == "running");
    CHECK(r.name == "ledger_test");
    CHECK(r.pipeline == (tmp.path() / "ledger_test.yaml").string());
    CHECK(r.types == std::vector<std::string>{"source.synthetic_bars", "indicator.sma", "indicator.sma",
                                              "strategy.sma_cross", "executor.paper", "sink.summary"});
    REQUIRE(r.outputs.size() == 6);
    CHECK(r.outputs[4] == std::vector<std::string>{"fills", "updates", "account"});
    CHECK(r.outputs[5].empty());
    REQUIRE(r.inputs.size() == 6);
    CHECK(r.inputs[0].empty());
    CHECK(r.inputs[3] == std::vector<std::string>{"bars", "fast", "slow"});
    CHECK_FALSE(ledger.checkpoint().has_value());
    CHECK(load_run(ledger.store(), r.id)->status == "running");  // recorded at once
    CHECK(ledger.close("completed", "", 42, {{"bars", 42}}).empty());
  }
  {
    qflow::RunLedger other(g, tmp.path().string(), "other", false, false);
    CHECK(other.record().number == 2);
    CHECK(other.close("failed", "it broke", 1, {}).empty());
  }
  const auto rec = run_in(tmp.path(), qflow::default_run_id(g, qflow::pipeline_hash(g)));
  REQUIRE(rec);
  CHECK(rec->status == "completed");
  CHECK(rec->events == 42);
  CHECK(rec->facts == std::map<std::string, uint64_t>{{"bars", 42}});
  CHECK(rec->ended_ns >= rec->started_ns);
  const auto other = run_in(tmp.path(), "other");
  CHECK(other->status == "failed");
  CHECK(other->error == "it broke");
}

TEST_CASE("run ledger: resuming an unfinished run: from its checkpoint, or afresh without one") {
  TempDir tmp("resume_unfinished");
  const qflow::Graph g = graph(tmp.path());
  const qflow::Graph changed = graph(tmp.path(), {{"slow", "30"}});
  REQUIRE(qflow::pipeline_hash(g) != qflow::pipeline_hash(changed));
  {
    qflow::RunLedger ledger(g, tmp.path().string(), "crashed", false, false);  // never closed
  }
  SECTION("without a checkpoint it starts over") {
    qflow::RunLedger resumed(g, tmp.path().string(), "crashed", true, false);
    CHECK_FALSE(resumed.checkpoint().has_value());
    CHECK(resumed.record().resumes == 0);
    CHECK(resumed.record().number == 1);
    CHECK(resumed.record().status == "running");
  }
  SECTION("another version of the pipeline is refused, unless forced") {
    CHECK_THROWS_MATCHES(qflow::RunLedger(changed, tmp.path().string(), "crashed", true, false), StoreError,
                         Catch::Matchers::Predicate<std::exception>(
                             [](const std::exception& e) {
                               const std::string m = e.what();
                               return m.starts_with("run 'crashed' was made by another version of the pipeline") &&
                                      m.find("--force") != std::string::npos;
                             },
                             "names the run and --force"));
    qflow::RunLedger forced(changed, tmp.path().string(), "crashed", true, true);
    CHECK(forced.record().pipeline_hash == qflow::pipeline_hash(changed));
  }
  SECTION("with a checkpoint it continues from it") {
    {
      qflow::RunLedger ledger(g, tmp.path().string(), "crashed", true, false);
      CheckpointCoordinator cc(ledger.store(), nullptr, tmp.path(), ledger.record(), 1, ledger.hash(),
                               [] { return std::vector<std::string>{"", "SYN"}; }, 0, 0, 1);
      Contribution c;
      c.runtime = "where the sources stood";
      c.events = 1234;
      c.node_states = {{"bars", "state of bars"}};
      cc.write_now({c});
    }
    qflow::RunLedger resumed(g, tmp.path().string(), "crashed", true, false);
    REQUIRE(resumed.checkpoint().has_value());
    CHECK(resumed.checkpoint()->id == 1);
    CHECK(resumed.checkpoint()->events == 1234);
    CHECK(resumed.checkpoint()->parts == std::vector<std::string>{"where the sources stood"});
    CHECK(resumed.checkpoint()->node_states == std::map<std::string, std::string>{{"bars", "state of bars"}});
    CHECK(resumed.record().resumes == 1);
    CHECK(resumed.record().status == "running");
    CHECK(resumed.record().checkpoints == 1);
  }
}
