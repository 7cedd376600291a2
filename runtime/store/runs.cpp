#include "runs.hpp"

#include "keys.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

namespace qflow::store {

namespace {
const std::string kRunPrefix = "run/";
}

nlohmann::json RunRecord::to_json() const {
  return nlohmann::json{{"id", id},
                        {"number", number},
                        {"name", name},
                        {"pipeline", pipeline},
                        {"pipeline_hash", pipeline_hash},
                        {"mode", mode},
                        {"status", status},
                        {"error", error},
                        {"started_ns", started_ns},
                        {"ended_ns", ended_ns},
                        {"events", events},
                        {"checkpoints", checkpoints},
                        {"checkpoint_events", checkpoint_events},
                        {"resumes", resumes},
                        {"nodes", nodes},
                        {"types", types},
                        {"outputs", outputs},
                        {"inputs", inputs},
                        {"facts", facts}};
}

RunRecord RunRecord::from_json(const nlohmann::json& j) {
  RunRecord r;
  r.id = j.at("id").get<std::string>();
  r.number = j.at("number").get<uint32_t>();
  r.name = j.value("name", "");
  r.pipeline = j.value("pipeline", "");
  r.pipeline_hash = j.value("pipeline_hash", "");
  r.mode = j.value("mode", "");
  r.status = j.value("status", "");
  r.error = j.value("error", "");
  r.started_ns = j.value("started_ns", int64_t{0});
  r.ended_ns = j.value("ended_ns", int64_t{0});
  r.events = j.value("events", uint64_t{0});
  r.checkpoints = j.value("checkpoints", uint64_t{0});
  r.checkpoint_events = j.value("checkpoint_events", uint64_t{0});
  r.resumes = j.value("resumes", uint32_t{0});
  r.nodes = j.value("nodes", std::vector<std::string>{});
  r.types = j.value("types", std::vector<std::string>{});
  r.outputs = j.value("outputs", std::vector<std::vector<std::string>>{});
  r.inputs = j.value("inputs", std::vector<std::vector<std::string>>{});
  r.facts = j.value("facts", std::map<std::string, uint64_t>{});
  return r;
}

static RunRecord parse_record(const std::string& key, const std::string& bytes) {
  try {
    return RunRecord::from_json(nlohmann::json::parse(bytes));
  } catch (const nlohmann::json::exception& e) {
    throw StoreError("the run record '" + key + "' is damaged: " + e.what());
  }
}

std::optional<RunRecord> load_run(Store& store, const std::string& id) {
  const std::optional<std::string> bytes = store.get(Cf::meta, kRunPrefix + id);
  if (!bytes) return std::nullopt;
  return parse_record(kRunPrefix + id, *bytes);
}

std::vector<RunRecord> list_runs(Store& store) {
  std::vector<RunRecord> runs;
  auto it = store.iterate(Cf::meta);
  for (it->Seek(kRunPrefix); it->Valid() && it->key().starts_with(kRunPrefix); it->Next())
    runs.push_back(parse_record(it->key().ToString(), it->value().ToString()));
  if (!it->status().ok()) throw StoreError("cannot list runs in " + store.path().string() + ": " + it->status().ToString());
  return runs;
}

uint32_t next_run_number(Store& store) {
  uint32_t max = 0;
  for (const RunRecord& r : list_runs(store)) max = std::max(max, r.number);
  return max + 1;
}

void put_run(rocksdb::WriteBatch& batch, Store& store, const RunRecord& run) {
  batch.Put(store.cf(Cf::meta), kRunPrefix + run.id, run.to_json().dump());
}

std::map<uint32_t, std::string> load_names(Store& store, uint32_t run) {
  std::map<uint32_t, std::string> names;
  const std::string prefix = KeyWriter().text("sym").u32(run).take();
  auto it = store.iterate(Cf::meta);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    KeyReader k(std::string_view(it->key().data(), it->key().size()));
    k.u8(), k.u8(), k.u8(), k.u32();
    names[k.u32()] = it->value().ToString();
  }
  if (!it->status().ok()) throw StoreError("cannot read symbol names in " + store.path().string() + ": " + it->status().ToString());
  return names;
}

void clear_run(rocksdb::WriteBatch& batch, Store& store, uint32_t run) {
  const std::string prefix = run_prefix(run);
  store.delete_prefix(batch, Cf::facts, prefix);
  store.delete_prefix(batch, Cf::node_state, prefix);
  store.delete_prefix(batch, Cf::checkpoints, prefix);
  store.delete_prefix(batch, Cf::meta, KeyWriter().text("sym").u32(run).take());
}

bool store_in_use(const std::filesystem::path& db_dir) {
  const int fd = ::open((db_dir / "LOCK").c_str(), O_RDWR);
  if (fd < 0) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  const bool locked = ::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  ::close(fd);
  return locked;
}

}  // namespace qflow::store
