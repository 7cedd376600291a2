#include "checkpoint.hpp"

#include "keys.hpp"

#include <qflow/state.hpp>

#include <chrono>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>

namespace qflow::store {

namespace {

constexpr uint32_t kCheckpointMagic = 0x51464b31;  // "QFK1"

std::string node_state_key(uint32_t run, const std::string& node) { return KeyWriter().u32(run).text(node).take(); }

}  // namespace

std::optional<CheckpointData> load_checkpoint(Store& store, uint32_t run) {
  const std::optional<std::string> bytes = store.get(Cf::checkpoints, run_prefix(run));
  if (!bytes) return std::nullopt;
  CheckpointData d;
  try {
    StateReader r(bytes->data(), bytes->size());
    if (r.get<uint32_t>() != kCheckpointMagic) throw std::runtime_error("unknown checkpoint layout");
    d.id = r.get<uint64_t>();
    d.events = r.get<uint64_t>();
    d.pipeline_hash = r.get_string();
    const auto nsym = r.get<uint64_t>();
    for (uint64_t i = 0; i < nsym; ++i) d.symbols.push_back(r.get_string());
    const auto nparts = r.get<uint64_t>();
    for (uint64_t i = 0; i < nparts; ++i) d.parts.push_back(r.get_string());
    const auto nnodes = r.get<uint64_t>();
    std::vector<std::string> ids;
    for (uint64_t i = 0; i < nnodes; ++i) ids.push_back(r.get_string());
    if (!r.at_end()) throw std::runtime_error("trailing bytes");
    for (const std::string& id : ids) {
      std::optional<std::string> state = store.get(Cf::node_state, node_state_key(run, id));
      if (!state) throw std::runtime_error("the state of node '" + id + "' is missing");
      d.node_states[id] = std::move(*state);
    }
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError("the checkpoint in " + store.path().string() + " is damaged: " + e.what());
  }
  return d;
}

CheckpointCoordinator::CheckpointCoordinator(Store& store, FactSink* facts, std::filesystem::path run_folder, RunRecord& record, size_t contributors, std::string pipeline_hash,
                                             std::function<std::vector<std::string>()> symbols, int64_t every_ns,
                                             uint64_t every_events, uint64_t first_id)
    : store_(store),
      facts_(facts),
      run_folder_(std::move(run_folder)),
      record_(record),
      contributors_(contributors),
      pipeline_hash_(std::move(pipeline_hash)),
      symbols_(std::move(symbols)),
      every_ns_(every_ns),
      every_events_(every_events),
      requested_(first_id - 1),
      last_request_(std::chrono::steady_clock::now()),
      last_request_events_(record.checkpoint_events) {
  committed_ = record.checkpoints;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "qf-checkpoint");
    committer();
  });
}

CheckpointCoordinator::~CheckpointCoordinator() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CheckpointCoordinator::committer() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || ready_.has_value(); });
    if (!ready_) return;  // stopping with nothing left
    Ready ready = std::move(*ready_);
    ready_.reset();
    committing_ = true;
    lock.unlock();
    std::string error;
    try {
      commit(ready);
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    committing_ = false;
    if (!error.empty() && failure_.empty()) {
      failure_ = error;
      failed_ = true;
    }
    cv_.notify_all();
  }
}

void CheckpointCoordinator::drain() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return !ready_ && !committing_; });
  if (!failure_.empty()) throw StoreError(failure_);
}

uint64_t CheckpointCoordinator::poll(uint64_t& group_last_id, uint64_t events_total) {
  if (failed_.load(std::memory_order_relaxed)) {
    std::lock_guard lock(mutex_);
    throw StoreError(failure_);
  }
  uint64_t requested = requested_.load(std::memory_order_acquire);
  if (requested <= group_last_id) {
    if (every_ns_ <= 0 && every_events_ == 0) return 0;
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const bool by_time = every_ns_ > 0 && std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_request_).count() >= every_ns_;
    const bool by_events = every_events_ > 0 && events_total >= last_request_events_ + every_events_;
    requested = requested_.load();
    if (requested <= group_last_id) {
      if (!by_time && !by_events) return 0;
      last_request_ = now;
      last_request_events_ = events_total;
      requested = ++requested_;
    }
  }
  if (requested <= group_last_id) return 0;
  // One id after the other: with several source groups, none may skip an id the others carry.
  return ++group_last_id;
}

void CheckpointCoordinator::contribute(uint64_t id, size_t contributor, Contribution c) {
  std::lock_guard lock(mutex_);
  Pending& p = pending_[id];
  if (p.parts.empty()) p.parts.resize(contributors_);
  p.parts[contributor] = std::move(c);
  if (++p.received < contributors_) return;
  std::vector<Contribution> parts = std::move(p.parts);
  pending_.erase(id);
  ready_ = build(id, parts);  // a newer checkpoint supersedes one not yet committed
  cv_.notify_all();
}

void CheckpointCoordinator::write_now(std::vector<Contribution> parts) {
  drain();
  Ready ready;
  {
    std::lock_guard lock(mutex_);
    const uint64_t id = ++requested_;
    ready = build(id, parts);
  }
  commit(ready);
}

// Output files written by sinks up to the cut reach the disk before the checkpoint that records
// their lengths, so that a resume after a power cut finds them whole.
static void sync_run_files(const std::filesystem::path& folder, const std::filesystem::path& store_dir) {
  if (folder.empty()) return;
  std::error_code ec;
  auto sync_path = [](const std::filesystem::path& p, bool dir) {
    const int fd = ::open(p.c_str(), dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return;  // gone meanwhile: nothing of it to keep
    const int rc = dir ? ::fsync(fd) : ::fdatasync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw StoreError("cannot sync " + p.string() + " before a checkpoint: " + std::strerror(err));
  };
  for (auto it = std::filesystem::recursive_directory_iterator(folder, ec); !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path() == store_dir) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) sync_path(it->path(), false);
    else if (it->is_directory(ec)) sync_path(it->path(), true);
  }
  sync_path(folder, true);
}

void CheckpointCoordinator::commit(Ready& ready) {
  sync_run_files(run_folder_, store_.path());
  if (facts_) facts_->wait(ready.facts_ticket);
  store_.flush_facts();
  store_.write(ready.batch, true, "cannot write a checkpoint to");
  std::lock_guard lock(record_mutex_);
  ++committed_;
  record_.checkpoints = committed_;
  record_.checkpoint_events = ready.record.checkpoint_events;
  record_.events = ready.record.events;
}

CheckpointCoordinator::Ready CheckpointCoordinator::build(uint64_t id, std::vector<Contribution>& parts) {
  BlobWriter blob;
  StateWriter w(blob.raw());
  w.put(kCheckpointMagic);
  w.put(id);
  uint64_t events = 0;
  for (const Contribution& c : parts) events += c.events;
  w.put(events);
  w.put_string(pipeline_hash_);
  const std::vector<std::string> symbols = symbols_();
  w.put<uint64_t>(symbols.size());
  for (const std::string& s : symbols) w.put_string(s);
  w.put<uint64_t>(parts.size());
  for (const Contribution& c : parts) w.put_string(c.runtime);
  uint64_t nodes = 0;
  for (const Contribution& c : parts) nodes += c.node_states.size();
  w.put(nodes);
  Ready ready;
  ready.facts_ticket = facts_ ? facts_->last_ticket() : 0;
  rocksdb::WriteBatch& batch = ready.batch;
  // Nodes of the previous checkpoint that have no state now must not linger.
  store_.delete_prefix(batch, Cf::node_state, run_prefix(record_.number));
  for (const Contribution& c : parts)
    for (const auto& [node, state] : c.node_states) {
      w.put_string(node);
      batch.Put(store_.cf(Cf::node_state), node_state_key(record_.number, node), state);
    }
  batch.Put(store_.cf(Cf::checkpoints), run_prefix(record_.number), blob.bytes());
  // The record as it will be once this checkpoint is written.
  RunRecord record;
  {
    std::lock_guard record_lock(record_mutex_);
    record = record_;
    record.checkpoints = committed_ + 1;
  }
  record.checkpoint_events = events;
  record.events = std::max(record.events, events);
  put_run(batch, store_, record);
  ready.record = std::move(record);
  return ready;
}

}  // namespace qflow::store
