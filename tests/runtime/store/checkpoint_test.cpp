// runtime/store/checkpoint.hpp: when checkpoints are due (poll), how the contributions of every
// source group and stage become one committed checkpoint, and what load_checkpoint gives back
// (or refuses, when damaged).
#include "store_test_support.hpp"

#include "store/checkpoint.hpp"
#include "store/keys.hpp"

#include <qflow/state.hpp>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

using namespace qflow::store;
using store_test::TempDir;

namespace {

constexpr uint32_t kRun = 6;

struct Fixture {
  TempDir tmp{"checkpoint"};
  std::unique_ptr<Store> store = Store::open(tmp / "db", Store::Mode::read_write);
  RunRecord record = [] {
    RunRecord r;
    r.id = "cp-run";
    r.number = kRun;
    r.status = "running";
    return r;
  }();
  std::vector<std::string> symbols{"", "AAA", "BBB"};

  std::unique_ptr<CheckpointCoordinator> coordinator(size_t contributors, int64_t every_ns, uint64_t every_events,
                                                     uint64_t first_id = 1, FactSink* facts = nullptr) {
    // The run folder holds the store and what sinks wrote (synced before each checkpoint).
    std::ofstream(tmp / "trades.csv") << "time,price\n";
    return std::make_unique<CheckpointCoordinator>(*store, facts, tmp.path(), record, contributors, "hash-1",
                                                   [this] { return symbols; }, every_ns, every_events, first_id);
  }
};

Contribution part(const std::string& runtime, uint64_t events, std::vector<std::pair<std::string, std::string>> states) {
  Contribution c;
  c.runtime = runtime;
  c.events = events;
  c.node_states = std::move(states);
  return c;
}

std::vector<std::string> node_state_keys(Store& store) {
  std::vector<std::string> out;
  for (const auto& [k, v] : store_test::dump(store, Cf::node_state)) out.push_back(k);
  return out;
}

}  // namespace

TEST_CASE("checkpoint: by event count, each source group carries each checkpoint id once") {
  Fixture fx;
  auto cc = fx.coordinator(3, 0, 100);
  uint64_t a = 0, b = 0;
  CHECK(cc->poll(a, 0) == 0);
  CHECK(cc->poll(a, 99) == 0);
  CHECK(cc->poll(a, 100) == 1);  // 100 events since the start
  CHECK(a == 1);
  CHECK(cc->poll(a, 150) == 0);  // already carried
  CHECK(cc->poll(b, 10) == 1);   // the other group carries the same id, whatever its count
  CHECK(b == 1);
  CHECK(cc->poll(b, 20) == 0);
  CHECK(cc->poll(a, 199) == 0);  // the next is due 100 events after the request at 100
  CHECK(cc->poll(b, 199) == 0);
  CHECK(cc->poll(a, 200) == 2);
  CHECK(cc->poll(b, 200) == 2);
  CHECK(cc->poll(b, 250) == 0);
  CHECK(cc->poll(a, 299) == 0);
  CHECK(cc->poll(b, 300) == 3);  // whichever group reaches the threshold asks
  CHECK(b == 3);
  CHECK(cc->poll(a, 301) == 3);
  CHECK(cc->poll(a, 301) == 0);
  CHECK(cc->next_id() == 4);
}

TEST_CASE("checkpoint: the first id and the event base come from a resumed run") {
  Fixture fx;
  fx.record.checkpoint_events = 1000;  // the resumed checkpoint had read 1000 events
  auto cc = fx.coordinator(1, 0, 100, 8);
  CHECK(cc->next_id() == 8);
  uint64_t g = 7;  // the group carried id 7 before the crash
  CHECK(cc->poll(g, 1050) == 0);
  CHECK(cc->poll(g, 1100) == 8);
  CHECK(g == 8);
}

TEST_CASE("checkpoint: with both thresholds off, poll never asks for one") {
  Fixture fx;
  auto cc = fx.coordinator(1, 0, 0);
  uint64_t g = 0;
  for (uint64_t events : {uint64_t{0}, uint64_t{1}, uint64_t{1000000}, UINT64_MAX}) CHECK(cc->poll(g, events) == 0);
  CHECK(g == 0);
}

TEST_CASE("checkpoint: by wall clock, a checkpoint is due once the interval has passed") {
  Fixture fx;
  auto cc = fx.coordinator(1, 500'000'000, 0);  // half a second
  uint64_t g = 0;
  CHECK(cc->poll(g, 0) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  CHECK(cc->poll(g, 0) == 1);
  CHECK(cc->poll(g, 0) == 0);
}

TEST_CASE("checkpoint: it commits only after the last contributor, then loads back whole") {
  Fixture fx;
  auto cc = fx.coordinator(3, 0, 0);
  const std::string binary("\0\x01\xff part", 8);
  cc->contribute(1, 2, part("stage two", 0, {{"summary", "S"}}));
  cc->contribute(1, 0, part(binary, 700, {{"bars", std::string("\0b", 2)}, {"quotes", "q"}}));
  cc->drain();
  CHECK_FALSE(load_checkpoint(*fx.store, kRun).has_value());
  CHECK(node_state_keys(*fx.store).empty());
  CHECK_FALSE(load_run(*fx.store, "cp-run").has_value());

  cc->contribute(1, 1, part("", 0, {}));
  cc->drain();
  const std::optional<CheckpointData> cp = load_checkpoint(*fx.store, kRun);
  REQUIRE(cp);
  CHECK(cp->id == 1);
  CHECK(cp->events == 700);
  CHECK(cp->pipeline_hash == "hash-1");
  CHECK(cp->symbols == std::vector<std::string>{"", "AAA", "BBB"});
  CHECK(cp->parts == std::vector<std::string>{binary, "", "stage two"});  // by contributor
  CHECK(cp->node_states ==
        std::map<std::string, std::string>{{"bars", std::string("\0b", 2)}, {"quotes", "q"}, {"summary", "S"}});
  // The run record is written in the same batch.
  const std::optional<RunRecord> rec = load_run(*fx.store, "cp-run");
  REQUIRE(rec);
  CHECK(rec->checkpoints == 1);
  CHECK(rec->checkpoint_events == 700);
  CHECK(rec->events == 700);
  CHECK(fx.record.checkpoints == 1);
}

TEST_CASE("checkpoint: a later checkpoint replaces the earlier, and states of nodes without one go") {
  Fixture fx;
  auto cc = fx.coordinator(2, 0, 0);
  cc->contribute(1, 0, part("g1", 10, {{"a", "1"}, {"b", "1"}}));
  cc->contribute(1, 1, part("s1", 0, {{"c", "1"}}));
  cc->drain();
  REQUIRE(load_checkpoint(*fx.store, kRun));
  CHECK(node_state_keys(*fx.store).size() == 3);

  fx.symbols.push_back("CCC");
  cc->contribute(2, 1, part("s2", 0, {{"c", "2"}}));
  cc->contribute(2, 0, part("g2", 25, {{"a", "2"}}));
  cc->drain();
  const auto cp = load_checkpoint(*fx.store, kRun);
  REQUIRE(cp);
  CHECK(cp->id == 2);
  CHECK(cp->events == 25);
  CHECK(cp->parts == std::vector<std::string>{"g2", "s2"});
  CHECK(cp->symbols.back() == "CCC");
  CHECK(cp->node_states == std::map<std::string, std::string>{{"a", "2"}, {"c", "2"}});
  CHECK(node_state_keys(*fx.store) ==
        std::vector<std::string>{KeyWriter().u32(kRun).text("a").take(), KeyWriter().u32(kRun).text("c").take()});
  CHECK(load_run(*fx.store, "cp-run")->checkpoints == 2);
}

TEST_CASE("checkpoint: contributions of two checkpoints may interleave") {
  Fixture fx;
  auto cc = fx.coordinator(2, 0, 0);
  cc->contribute(1, 0, part("g1", 1, {}));
  cc->contribute(2, 0, part("g2", 2, {}));  // the group ran ahead
  cc->contribute(1, 1, part("s1", 0, {}));
  cc->drain();
  CHECK(load_checkpoint(*fx.store, kRun)->id == 1);
  cc->contribute(2, 1, part("s2", 0, {}));
  cc->drain();
  const auto cp = load_checkpoint(*fx.store, kRun);
  CHECK(cp->id == 2);
  CHECK(cp->parts == std::vector<std::string>{"g2", "s2"});
}

TEST_CASE("checkpoint: write_now commits at once with the next id, other runs are untouched") {
  Fixture fx;
  // Another run's checkpoint and node state in the same store.
  rocksdb::WriteBatch other;
  other.Put(fx.store->cf(Cf::checkpoints), run_prefix(kRun + 1), "theirs");
  other.Put(fx.store->cf(Cf::node_state), KeyWriter().u32(kRun + 1).text("a").take(), "theirs");
  fx.store->write(other, true, "test");

  auto cc = fx.coordinator(2, 0, 0, 5);
  cc->write_now({part("g", 40, {{"a", "x"}}), part("s", 0, {})});
  const auto cp = load_checkpoint(*fx.store, kRun);
  REQUIRE(cp);
  CHECK(cp->id == 5);
  CHECK(cp->events == 40);
  CHECK(cc->next_id() == 6);
  CHECK(fx.store->get(Cf::checkpoints, run_prefix(kRun + 1)) == std::optional<std::string>("theirs"));
  CHECK(fx.store->get(Cf::node_state, KeyWriter().u32(kRun + 1).text("a").take()) == std::optional<std::string>("theirs"));
}

TEST_CASE("checkpoint: a checkpoint waits for the facts queued before it") {
  Fixture fx;
  FactSink sink(*fx.store);
  auto cc = fx.coordinator(1, 0, 0, 1, &sink);
  std::vector<uint64_t> words(kChunkWords);
  for (size_t i = 0; i < 10; ++i) words[i * (3 + payload_words(Family::values))] = i;
  sink.submit(SeriesKey{kRun, Family::values, 1, 60, 0, 0}, 0, words.data(), 10);
  cc->contribute(1, 0, part("g", 10, {}));
  cc->drain();
  REQUIRE(load_checkpoint(*fx.store, kRun));
  CHECK(store_test::read_facts(*fx.store, kRun, Family::values).size() == 10);
}

TEST_CASE("checkpoint: a damaged checkpoint is refused with StoreError") {
  Fixture fx;
  auto cc = fx.coordinator(1, 0, 0);
  cc->write_now({part("g", 3, {{"bars", "state"}, {"sma", "state2"}})});
  const std::string good = *fx.store->get(Cf::checkpoints, run_prefix(kRun));
  REQUIRE(load_checkpoint(*fx.store, kRun));
  auto put_blob = [&](const std::string& bytes) {
    rocksdb::WriteBatch b;
    b.Put(fx.store->cf(Cf::checkpoints), run_prefix(kRun), bytes);
    fx.store->write(b, true, "test");
  };
  auto refused = [&](const std::string& what) {
    CHECK_THROWS_MATCHES(load_checkpoint(*fx.store, kRun), StoreError,
                         Catch::Matchers::Predicate<std::exception>(
                             [&](const std::exception& e) {
                               const std::string m = e.what();
                               return m.find("checkpoint") != std::string::npos && m.find("damaged") != std::string::npos &&
                                      m.find(fx.store->path().string()) != std::string::npos &&
                                      m.find(what) != std::string::npos;
                             },
                             "says the checkpoint in the store is damaged: " + what));
  };
  SECTION("garbage") {
    put_blob("this is not a checkpoint at all");
    refused("unknown checkpoint layout");
  }
  SECTION("empty") {
    put_blob("");
    refused("truncated");
  }
  SECTION("truncated at every length") {
    for (size_t len = 0; len < good.size(); ++len) {
      INFO("cut to " << len << " of " << good.size());
      put_blob(good.substr(0, len));
      CHECK_THROWS_AS(load_checkpoint(*fx.store, kRun), StoreError);
    }
  }
  SECTION("trailing bytes") {
    put_blob(good + "x");
    refused("trailing bytes");
  }
  SECTION("a string length beyond the blob") {
    std::string bad = good;
    const uint64_t huge = UINT64_MAX / 2;
    std::memcpy(bad.data() + 4 + 8 + 8, &huge, 8);  // magic, id, events, then the hash's length
    put_blob(bad);
    refused("truncated");
  }
  SECTION("a node state is missing") {
    rocksdb::WriteBatch b;
    b.Delete(fx.store->cf(Cf::node_state), KeyWriter().u32(kRun).text("sma").take());
    fx.store->write(b, true, "test");
    refused("the state of node 'sma' is missing");
  }
}
