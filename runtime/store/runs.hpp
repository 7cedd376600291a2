// Run records: one per run id in the store's meta family, as JSON, so that `qflow runs` and a
// second process can tell what ran, from which pipeline, how it ended and how far it got.
//
//   meta "run/" + id        → the record
//   meta "sym" | run | id   → a symbol (or alert text) name used in that run's fact keys
//
// A run's number (u32) prefixes its keys in every other family. Re-running an id reuses its
// number; a new id gets the next one.
#pragma once

#include "facts.hpp"
#include "store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qflow::store {

struct RunRecord {
  std::string id;
  uint32_t number = 0;
  std::string name;           // the pipeline's name
  std::string pipeline;       // its file, absolute
  std::string pipeline_hash;  // of everything that decides its outputs (pipeline_hash())
  std::string mode;
  std::string status;  // running, completed, failed, interrupted
  std::string error;
  int64_t started_ns = 0;  // wall clock
  int64_t ended_ns = 0;
  uint64_t events = 0;       // market events read
  uint64_t checkpoints = 0;  // written, over every attempt
  uint64_t checkpoint_events = 0;  // events read at the latest checkpoint
  uint32_t resumes = 0;
  std::vector<std::string> nodes;           // node ids by graph index
  std::vector<std::string> types;           // their types
  std::vector<std::vector<std::string>> outputs;  // their output port names
  std::vector<std::vector<std::string>> inputs;   // their input slots' labels
  std::map<std::string, uint64_t> facts;    // rows per family

  nlohmann::json to_json() const;
  static RunRecord from_json(const nlohmann::json& j);
};

std::optional<RunRecord> load_run(Store& store, const std::string& id);
std::vector<RunRecord> list_runs(Store& store);
// The number for a new run id: one more than the largest in use.
uint32_t next_run_number(Store& store);
void put_run(rocksdb::WriteBatch& batch, Store& store, const RunRecord& run);
// Symbol (and alert text) names of a run, by id.
std::map<uint32_t, std::string> load_names(Store& store, uint32_t run);
// Removes every fact, node state and checkpoint of a run number (its record stays).
void clear_run(rocksdb::WriteBatch& batch, Store& store, uint32_t run);

// Whether a process holds the database's lock (a pipeline is writing it now).
bool store_in_use(const std::filesystem::path& db_dir);

}  // namespace qflow::store
