// A run's entry in its store: decides whether a run starts afresh or resumes, keeps the run
// record up to date and closes it with the outcome.
//
// Starting a run id that exists replaces it (its facts, states and checkpoint are cleared)
// when it was made by the same pipeline — a re-run is idempotent — and is refused otherwise
// unless forced: nothing is overwritten silently. Resuming needs the run, refuses a completed
// one, and refuses a checkpoint made by another pipeline version unless forced. A run without
// a checkpoint yet resumes from the beginning.
#pragma once

#include "graph.hpp"
#include "store/checkpoint.hpp"
#include "store/runs.hpp"
#include "store/store.hpp"

#include <memory>
#include <optional>
#include <string>

namespace qflow {

class RunLedger {
 public:
  // Throws store::StoreError with a message for the user.
  RunLedger(const Graph& graph, const std::string& output_dir, std::string run_id, bool resume, bool force);

  store::Store& store() { return *store_; }
  store::RunRecord& record() { return record_; }
  const std::string& hash() const { return hash_; }
  // The checkpoint to continue from, when resuming from one.
  std::optional<store::CheckpointData>& checkpoint() { return checkpoint_; }

  // Writes the final record (synced). Never throws: a failure is returned as a message.
  std::string close(const std::string& status, const std::string& error, uint64_t events,
                    const std::map<std::string, uint64_t>& facts);

 private:
  std::unique_ptr<store::Store> store_;
  store::RunRecord record_;
  std::string hash_;
  std::optional<store::CheckpointData> checkpoint_;
};

}  // namespace qflow
