// Checkpoints: a consistent cut of a running pipeline, written in one atomic batch.
//
// A source group marks one of its batches as a barrier (`poll`) and saves, right then, its
// sources' state and what it has read ahead. The barrier travels with the data: each stage,
// after processing that batch and before the next, flushes its facts and saves its nodes. When
// the last of them has contributed, everything — every node's state, every source's position,
// where every fact series stands, the symbol table and the run record — is written in one
// synced RocksDB write batch. A crash at any moment leaves the previous checkpoint whole.
//
// Facts are written without RocksDB's log (they can be produced again), so a checkpoint is
// committed on a thread of its own: it first makes the files in the run folder durable (what
// sinks wrote up to the cut; their states hold the offsets), then flushes the facts to disk,
// then writes the batch, while the pipeline goes on. Should a newer checkpoint complete meanwhile, it replaces the one
// still waiting.
//
//   node_state  run | node id    → the node's state blob
//   checkpoints run              → CheckpointData
#pragma once

#include "facts.hpp"
#include "runs.hpp"
#include "store.hpp"

#include <qflow/abi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace qflow::store {

// A qf_state_writer appending to a string.
class BlobWriter {
 public:
  BlobWriter() : w_{this, &append} {}
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;
  qf_state_writer* raw() { return &w_; }
  std::string& bytes() { return bytes_; }

 private:
  static void append(qf_state_writer* w, const void* data, size_t n) {
    static_cast<BlobWriter*>(w->opaque)->bytes_.append(static_cast<const char*>(data), n);
  }
  qf_state_writer w_;
  std::string bytes_;
};

// What one source group or stage hands in for a checkpoint.
struct Contribution {
  std::vector<std::pair<std::string, std::string>> node_states;  // node id → state
  std::string runtime;     // the contributor's own part (read-ahead, fact series positions)
  uint64_t events = 0;     // source groups: events read so far
};

struct CheckpointData {
  uint64_t id = 0;
  uint64_t events = 0;
  std::string pipeline_hash;
  std::vector<std::string> symbols;  // the symbol table, by id
  std::vector<std::string> parts;    // by contributor: source groups, then stages
  std::map<std::string, std::string> node_states;
};

// The latest complete checkpoint of a run, if any. Throws StoreError when it is damaged.
std::optional<CheckpointData> load_checkpoint(Store& store, uint32_t run);

class CheckpointCoordinator {
 public:
  // `contributors`: source groups + stages. A checkpoint is due when `every_ns` of wall clock or
  // `every_events` source events have passed since the previous one (0 turns either off).
  // `facts` (may be null): the sink whose chunks a checkpoint waits for before it commits.
  // `run_folder`: every regular file under it (the store's own folder aside) is synced before
  // a checkpoint is written.
  CheckpointCoordinator(Store& store, FactSink* facts, std::filesystem::path run_folder, RunRecord& record, size_t contributors, std::string pipeline_hash,
                        std::function<std::vector<std::string>()> symbols, int64_t every_ns, uint64_t every_events,
                        uint64_t first_id);
  ~CheckpointCoordinator();

  // Called by a source group after it filled a batch, with the events read by every group so
  // far: the id of a checkpoint the batch must carry, or 0. Each group carries every id, once
  // and in order. Throws the failure of an earlier commit.
  uint64_t poll(uint64_t& group_last_id, uint64_t events_total);
  // Hands in a contributor's part; the last one commits. Throws StoreError on a write failure.
  void contribute(uint64_t id, size_t contributor, Contribution c);
  // Writes a checkpoint from every contributor at once (the pipeline is drained).
  void write_now(std::vector<Contribution> parts);
  // Waits until every completed checkpoint is committed; throws the first failure.
  void drain();
  uint64_t next_id() const { return requested_.load() + 1; }

 private:
  struct Ready {
    rocksdb::WriteBatch batch;
    RunRecord record;  // the run record the batch writes
    uint64_t facts_ticket = 0;  // every chunk the checkpoint covers is queued up to here
  };
  Ready build(uint64_t id, std::vector<Contribution>& parts);
  void commit(Ready& ready);
  void committer();
  struct Pending {
    std::vector<Contribution> parts;
    size_t received = 0;
  };
  Store& store_;
  FactSink* facts_;
  std::filesystem::path run_folder_;
  RunRecord& record_;
  size_t contributors_;
  std::string pipeline_hash_;
  std::function<std::vector<std::string>()> symbols_;
  int64_t every_ns_;
  uint64_t every_events_;
  std::atomic<uint64_t> requested_;
  std::mutex mutex_;  // guards everything below, poll's thresholds and the commit
  std::chrono::steady_clock::time_point last_request_;
  uint64_t last_request_events_ = 0;
  std::map<uint64_t, Pending> pending_;
  std::mutex record_mutex_;  // guards record_ and committed_ against the committer
  uint64_t committed_ = 0;
  std::optional<Ready> ready_;  // completed, waiting for the committer
  bool committing_ = false;
  bool stopping_ = false;
  std::string failure_;
  std::atomic<bool> failed_{false};
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace qflow::store
