#include "run_ledger.hpp"

#include "run_identity.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

namespace qflow {

namespace {
int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
const char* mode_name(qf_mode m) { return m == QF_MODE_PAPER ? "paper" : m == QF_MODE_LIVE ? "live" : "backtest"; }
}  // namespace

RunLedger::RunLedger(const Graph& graph, const std::string& output_dir, std::string run_id, bool resume, bool force) {
  hash_ = pipeline_hash(graph);
  if (run_id.empty()) run_id = default_run_id(graph, hash_);
  const std::filesystem::path db = std::filesystem::path(output_dir) / store::kStoreDir;
  std::error_code ec;
  if (resume && !std::filesystem::exists(db / "CURRENT", ec))
    throw store::StoreError("there is no database at " + db.string() + ", so no run '" + run_id +
                            "' to resume: is the output folder right? Run without --resume to start it");
  store_ = store::Store::open(db, store::Store::Mode::read_write);

  std::optional<store::RunRecord> existing = store::load_run(*store_, run_id);
  bool fresh = true;
  if (resume) {
    if (!existing)
      throw store::StoreError("there is no run '" + run_id + "' in " + db.string() + " to resume (qflow runs " +
                              output_dir + " lists the runs there); run without --resume to start it");
    if (existing->status == "completed")
      throw store::StoreError("run '" + run_id + "' in " + db.string() + " completed; there is nothing to resume");
    if (existing->pipeline_hash != hash_ && !force)
      throw store::StoreError("run '" + run_id + "' was made by another version of the pipeline (hash " +
                              existing->pipeline_hash + ", now " + hash_ +
                              "): the pipeline, a parameter, a script or a data file changed. Resuming would mix "
                              "two versions; use --force to resume anyway, or run without --resume to start over");
    checkpoint_ = store::load_checkpoint(*store_, existing->number);
    if (checkpoint_) {
      fresh = false;
      record_ = *existing;
      ++record_.resumes;
      record_.status = "running";
      record_.error.clear();
      record_.ended_ns = 0;
      record_.pipeline_hash = hash_;
    } else {
      spdlog::warn("run '{}' has no checkpoint yet: starting it from the beginning", run_id);
    }
  } else if (existing && existing->pipeline_hash != hash_ && !force) {
    throw store::StoreError("run '" + run_id + "' already exists in " + db.string() +
                            " and was made by another version of the pipeline (hash " + existing->pipeline_hash +
                            ", now " + hash_ + "); use another --run-id, or --force to replace it");
  }

  rocksdb::WriteBatch batch;
  if (fresh) {
    record_ = store::RunRecord{};
    record_.id = run_id;
    record_.number = existing ? existing->number : store::next_run_number(*store_);
    if (existing) {
      spdlog::info("replacing run '{}' in {}", run_id, db.string());
      store_->drop_files(store::Cf::facts, store::run_prefix(record_.number));
      store::clear_run(batch, *store_, record_.number);
    }
    record_.status = "running";
    record_.pipeline_hash = hash_;
    record_.started_ns = wall_ns();
  }
  record_.name = graph.name;
  record_.pipeline = std::filesystem::absolute(graph.file).string();
  record_.mode = mode_name(graph.mode);
  record_.nodes.clear();
  record_.types.clear();
  record_.outputs.clear();
  record_.inputs.clear();
  for (const GraphNode& n : graph.nodes) {
    record_.nodes.push_back(n.id);
    record_.types.push_back(n.type->name);
    auto& ports = record_.outputs.emplace_back();
    for (const auto& port : n.type->outputs) ports.push_back(port.name);
    auto& slots = record_.inputs.emplace_back();
    for (const Slot& s : n.slots) slots.push_back(s.label);
  }
  store::put_run(batch, *store_, record_);
  store_->write(batch, true, "cannot record the run in");
}

std::string RunLedger::close(const std::string& status, const std::string& error, uint64_t events,
                             const std::map<std::string, uint64_t>& facts) {
  record_.status = status;
  record_.error = error;
  record_.ended_ns = wall_ns();
  record_.events = events;
  record_.facts = facts;
  try {
    rocksdb::WriteBatch batch;
    store::put_run(batch, *store_, record_);
    store_->write(batch, true, "cannot record the run's end in");
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

}  // namespace qflow
