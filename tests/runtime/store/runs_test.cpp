// runtime/store/runs.hpp: run records in the meta family, run numbers, per-run symbol names,
// and clearing one run's data without touching another's.
#include "store_test_support.hpp"

#include "store/keys.hpp"
#include "store/runs.hpp"

#include <nlohmann/json.hpp>

using namespace qflow::store;
using store_test::TempDir;

namespace {

RunRecord full_record() {
  RunRecord r;
  r.id = "sma-1a2b3c4d";
  r.number = 4000000000u;
  r.name = "sma cross ✓";
  r.pipeline = "/pipes/sma \"quoted\".yaml";
  r.pipeline_hash = "0123456789abcdef";
  r.mode = "paper";
  r.status = "interrupted";
  r.error = "line one\nline two";
  r.started_ns = INT64_MIN + 1;
  r.ended_ns = INT64_MAX;
  r.events = UINT64_MAX;
  r.checkpoints = 17;
  r.checkpoint_events = 0x8000000000000001ull;
  r.resumes = 3;
  r.nodes = {"bars", "fast", "broker"};
  r.types = {"source.synthetic_bars", "indicator.sma", "executor.paper"};
  r.outputs = {{"out"}, {}, {"fills", "account", "updates"}};
  r.inputs = {{}, {"bars"}, {"bars", "strategy.orders"}};
  r.facts = {{"bars", 12}, {"fills", UINT64_MAX}};
  return r;
}

void check_same(const RunRecord& a, const RunRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.number == b.number);
  CHECK(a.name == b.name);
  CHECK(a.pipeline == b.pipeline);
  CHECK(a.pipeline_hash == b.pipeline_hash);
  CHECK(a.mode == b.mode);
  CHECK(a.status == b.status);
  CHECK(a.error == b.error);
  CHECK(a.started_ns == b.started_ns);
  CHECK(a.ended_ns == b.ended_ns);
  CHECK(a.events == b.events);
  CHECK(a.checkpoints == b.checkpoints);
  CHECK(a.checkpoint_events == b.checkpoint_events);
  CHECK(a.resumes == b.resumes);
  CHECK(a.nodes == b.nodes);
  CHECK(a.types == b.types);
  CHECK(a.outputs == b.outputs);
  CHECK(a.inputs == b.inputs);
  CHECK(a.facts == b.facts);
}

void put(Store& store, const RunRecord& r) {
  rocksdb::WriteBatch b;
  put_run(b, store, r);
  store.write(b, true, "test");
}

RunRecord record(const std::string& id, uint32_t number) {
  RunRecord r;
  r.id = id;
  r.number = number;
  r.status = "completed";
  return r;
}

}  // namespace

TEST_CASE("runs: a run record reads back from JSON, through text, field by field") {
  const RunRecord r = full_record();
  check_same(RunRecord::from_json(r.to_json()), r);
  check_same(RunRecord::from_json(nlohmann::json::parse(r.to_json().dump())), r);
}

TEST_CASE("runs: a record with only id and number reads with defaults, without them it is refused") {
  const RunRecord r = RunRecord::from_json(nlohmann::json{{"id", "x"}, {"number", 2}});
  RunRecord defaults;
  defaults.id = "x";
  defaults.number = 2;
  check_same(r, defaults);
  CHECK_THROWS(RunRecord::from_json(nlohmann::json{{"number", 2}}));
  CHECK_THROWS(RunRecord::from_json(nlohmann::json{{"id", "x"}}));
}

TEST_CASE("runs: records are stored, loaded, listed in id order, and numbered after the largest") {
  TempDir tmp("records");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  CHECK(list_runs(*store).empty());
  CHECK(next_run_number(*store) == 1);
  CHECK_FALSE(load_run(*store, "nope").has_value());

  put(*store, record("b-run", 3));
  put(*store, record("a-run", 7));
  put(*store, full_record());
  put(*store, record("c-run", 5));
  const std::vector<RunRecord> runs = list_runs(*store);
  std::vector<std::string> ids;
  for (const RunRecord& r : runs) ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{"a-run", "b-run", "c-run", "sma-1a2b3c4d"});
  CHECK(next_run_number(*store) == 4000000001u);
  const std::optional<RunRecord> loaded = load_run(*store, "sma-1a2b3c4d");
  REQUIRE(loaded);
  check_same(*loaded, full_record());

  // Replacing a record keeps one record per id.
  RunRecord again = record("b-run", 3);
  again.status = "failed";
  put(*store, again);
  CHECK(list_runs(*store).size() == 4);
  CHECK(load_run(*store, "b-run")->status == "failed");

  // Other meta keys (format, names) are not runs.
  CHECK(store->get(Cf::meta, "format").has_value());
  rocksdb::WriteBatch b;
  b.Put(store->cf(Cf::meta), symbol_name_key(3, 1), "AAA");
  store->write(b, true, "test");
  CHECK(list_runs(*store).size() == 4);
}

TEST_CASE("runs: next_run_number counts past a gap and from the largest, not the count") {
  TempDir tmp("numbers");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  put(*store, record("one", 1));
  CHECK(next_run_number(*store) == 2);
  put(*store, record("nine", 9));
  put(*store, record("two", 2));
  CHECK(next_run_number(*store) == 10);
}

TEST_CASE("runs: a damaged run record is refused, naming it") {
  TempDir tmp("damaged_record");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  rocksdb::WriteBatch b;
  b.Put(store->cf(Cf::meta), "run/broken", "{\"id\": \"broken\", \"numb");
  store->write(b, true, "test");
  CHECK_THROWS_WITH(load_run(*store, "broken"), Catch::Contains("run record 'run/broken' is damaged"));
  CHECK_THROWS_AS(list_runs(*store), StoreError);
  rocksdb::WriteBatch wrong;
  wrong.Put(store->cf(Cf::meta), "run/broken", "{\"id\": 5, \"number\": 1}");
  store->write(wrong, true, "test");
  CHECK_THROWS_AS(load_run(*store, "broken"), StoreError);
}

TEST_CASE("runs: load_names returns one run's names by id, and only that run's") {
  TempDir tmp("names");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  CHECK(symbol_name_key(0x01020304, 0x0a0b0c0d) == std::string("sym\x01\x02\x03\x04\x0a\x0b\x0c\x0d", 11));
  rocksdb::WriteBatch b;
  b.Put(store->cf(Cf::meta), symbol_name_key(1, 1), "AAA");
  b.Put(store->cf(Cf::meta), symbol_name_key(1, 2), "BBB");
  b.Put(store->cf(Cf::meta), symbol_name_key(1, 300), "risk: margin");
  b.Put(store->cf(Cf::meta), symbol_name_key(1, 0xffffffffu), "last");
  b.Put(store->cf(Cf::meta), symbol_name_key(0, 1), "run zero");
  b.Put(store->cf(Cf::meta), symbol_name_key(2, 1), "XXX");
  b.Put(store->cf(Cf::meta), symbol_name_key(256, 1), "run 256");
  store->write(b, true, "test");
  CHECK(load_names(*store, 1) ==
        std::map<uint32_t, std::string>{{1, "AAA"}, {2, "BBB"}, {300, "risk: margin"}, {0xffffffffu, "last"}});
  CHECK(load_names(*store, 0) == std::map<uint32_t, std::string>{{1, "run zero"}});
  CHECK(load_names(*store, 2) == std::map<uint32_t, std::string>{{1, "XXX"}});
  CHECK(load_names(*store, 256) == std::map<uint32_t, std::string>{{1, "run 256"}});
  CHECK(load_names(*store, 3).empty());
}

TEST_CASE("runs: clear_run removes one run's facts, node states, checkpoint and names, and nothing else") {
  TempDir tmp("clear");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  // Runs 1, 2 and 256 (whose number differs from 1 only in another byte), and the extreme
  // 0xffffffff, each with data in every family.
  const std::vector<uint32_t> runs{1, 2, 256, 0xffffffffu};
  rocksdb::WriteBatch b;
  for (uint32_t run : runs) {
    put_run(b, *store, record("run-" + std::to_string(run), run));
    for (uint32_t chunk = 0; chunk < 3; ++chunk)
      b.Put(store->cf(Cf::facts), chunk_key(SeriesKey{run, Family::bars, 1, 60, 0, 0}, chunk), "chunk");
    b.Put(store->cf(Cf::facts), chunk_key(SeriesKey{run, Family::alerts, 0xffffffffu, 0, 0xffffffffu, 0xffff}, 0xffffffffu), "chunk");
    b.Put(store->cf(Cf::node_state), KeyWriter().u32(run).text("bars").take(), "state");
    b.Put(store->cf(Cf::node_state), KeyWriter().u32(run).text("broker").take(), "state");
    b.Put(store->cf(Cf::checkpoints), run_prefix(run), "checkpoint");
    b.Put(store->cf(Cf::meta), symbol_name_key(run, 1), "AAA");
  }
  store->write(b, true, "test");
  const auto before_facts = store_test::dump(*store, Cf::facts);
  const auto before_states = store_test::dump(*store, Cf::node_state);
  const auto before_checkpoints = store_test::dump(*store, Cf::checkpoints);
  const auto before_meta = store_test::dump(*store, Cf::meta);

  for (uint32_t cleared : runs) {
    INFO("clearing run " << cleared);
    // Every key that remains must be exactly the keys of the other runs.
    auto keep = [&](const std::vector<std::pair<std::string, std::string>>& all, bool meta) {
      std::vector<std::pair<std::string, std::string>> out;
      const std::string sym = symbol_name_key(cleared, 0).substr(0, 7);
      for (const auto& kv : all) {
        const bool of_run = meta ? kv.first.starts_with(sym) : kv.first.starts_with(run_prefix(cleared));
        if (!of_run) out.push_back(kv);
      }
      return out;
    };
    TempDir copy_dir("clear_copy");
    auto copy = Store::open(copy_dir / "db", Store::Mode::read_write);
    rocksdb::WriteBatch fill;
    for (Cf c : {Cf::facts, Cf::node_state, Cf::checkpoints, Cf::meta})
      for (const auto& [k, v] : store_test::dump(*store, c)) fill.Put(copy->cf(c), k, v);
    copy->write(fill, true, "test");

    rocksdb::WriteBatch clear;
    clear_run(clear, *copy, cleared);
    copy->write(clear, true, "test");
    store_test::require_same(store_test::dump(*copy, Cf::facts), keep(before_facts, false));
    store_test::require_same(store_test::dump(*copy, Cf::node_state), keep(before_states, false));
    store_test::require_same(store_test::dump(*copy, Cf::checkpoints), keep(before_checkpoints, false));
    store_test::require_same(store_test::dump(*copy, Cf::meta), keep(before_meta, true));
    // Its record stays.
    CHECK(load_run(*copy, "run-" + std::to_string(cleared)).has_value());
    CHECK(list_runs(*copy).size() == runs.size());
    CHECK(load_names(*copy, cleared).empty());
  }
}
