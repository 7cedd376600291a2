#include "store.hpp"

#include "keys.hpp"

#include <rocksdb/convenience.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace qflow::store {

namespace {

const char* const kCfNames[] = {"meta", "facts", "node_state", "checkpoints"};
constexpr const char* kFormatKey = "format";

rocksdb::CompressionType best_compression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (auto c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression})
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  return rocksdb::kNoCompression;
}

rocksdb::ColumnFamilyOptions cf_options(Cf c) {
  rocksdb::ColumnFamilyOptions o;
  o.compression = best_compression();
  if (c == Cf::facts) {
    // Facts arrive as chunks of up to a few hundred KiB, already compact (facts.hpp), and are
    // written once: FIFO style, nothing ever expires, only small files are merged. Each process
    // writes one run, so a run's facts sit in files of their own, which replacing the run
    // drops whole (Store::drop_files). Tables are checksummed with XXH3, as Debian's RocksDB
    // computes CRC32C in software. Measured against blob files and leveled compaction in
    // BENCHMARKS.md. Memtables of 64 MiB rather than 16: a pipeline writes facts at 100 MB/s
    // and more, and fewer, larger flushes cost about a tenth less CPU (at some 40 MB more
    // resident memory).
    o.write_buffer_size = 64 << 20;
    o.max_write_buffer_number = 4;
    o.compression = rocksdb::kNoCompression;
    o.compaction_style = rocksdb::kCompactionStyleFIFO;
    o.compaction_options_fifo.max_table_files_size = UINT64_MAX;
    // Small files (a checkpoint flushes whatever the memtable holds, every second) are merged
    // among themselves; files of a full memtable are never rewritten.
    o.compaction_options_fifo.allow_compaction = true;
    o.level0_file_num_compaction_trigger = 8;
    o.level0_slowdown_writes_trigger = 1 << 20;
    o.level0_stop_writes_trigger = 1 << 20;
    rocksdb::BlockBasedTableOptions t;
    t.checksum = rocksdb::kXXH3;
    t.block_size = 256 << 10;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  }
  return o;
}

// A new store is made whole under a temporary name beside `dir` (its column families and its
// format record, synced) and then renamed into place, so a process killed while creating it
// leaves no half-made store to refuse later, only a temporary folder, which the next creation
// removes once the process that made it is gone.
void create_fresh(const std::filesystem::path& dir, const rocksdb::DBOptions& base) {
  namespace fs = std::filesystem;
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const std::string prefix = dir.filename().string() + ".creating-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
  const fs::path tmp = parent / (prefix + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  {
    rocksdb::Options o(base, rocksdb::ColumnFamilyOptions());
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status st = rocksdb::DB::Open(o, tmp.string(), &raw);
    if (!st.ok()) throw StoreError("cannot create " + tmp.string() + ": " + st.ToString());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    for (size_t i = 0; i < static_cast<size_t>(Cf::count_) && st.ok(); ++i) {
      rocksdb::ColumnFamilyHandle* h = nullptr;
      st = db->CreateColumnFamily(cf_options(static_cast<Cf>(i)), kCfNames[i], &h);
      if (h) handles.push_back(h);
    }
    if (st.ok()) {
      rocksdb::WriteBatch b;
      b.Put(handles[static_cast<size_t>(Cf::meta)], kFormatKey, std::to_string(kFormatVersion));
      rocksdb::WriteOptions wo;
      wo.sync = true;
      st = db->Write(wo, &b);
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    if (st.ok()) st = db->Close();
    if (!st.ok()) {
      db.reset();
      fs::remove_all(tmp, ec);
      throw StoreError("cannot create " + dir.string() + ": " + st.ToString());
    }
  }
  fs::rename(tmp, dir, ec);  // onto a missing or empty folder
  if (ec) {
    fs::remove_all(tmp);
    // Another process made it first: use theirs (its lock says whether it is still in use).
    if (fs::exists(dir / "CURRENT")) return;
    throw StoreError("cannot create " + dir.string() + ": " + ec.message());
  }
  if (const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    (void)::fsync(fd);  // the rename itself survives a crash
    ::close(fd);
  }
}

}  // namespace

std::filesystem::path Store::locate(const std::filesystem::path& run_folder) {
  if (std::filesystem::exists(run_folder / "CURRENT")) return run_folder;
  return run_folder / kStoreDir;
}

void Store::fail(const char* what, const rocksdb::Status& s) const {
  std::string reason = s.ToString();
  if (s.IsCorruption())
    reason += " (the database is damaged; nothing was changed — keep a copy and start a new run folder)";
  else if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace)
    reason += " (the disk is full; what was committed before is kept)";
  throw StoreError(std::string(what) + " " + path_.string() + ": " + reason);
}

std::unique_ptr<Store> Store::open(const std::filesystem::path& dir, Mode mode) {
  std::unique_ptr<Store> s(new Store);
  s->path_ = dir;
  s->read_only_ = mode == Mode::read_only;
  std::error_code ec;
  bool exists = std::filesystem::exists(dir / "CURRENT", ec);
  if (!exists && s->read_only_) throw StoreError("no qflow database at " + dir.string());
  if (!exists && std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec))
    throw StoreError(dir.string() + " exists and is not a qflow database; refusing to write into it");

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = false;  // create_fresh makes new ones
  dbo.create_missing_column_families = false;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 4;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.paranoid_checks = true;
  // The small families share the log with nothing big; keep it from holding old segments.
  dbo.max_total_wal_size = 64 << 20;
  // All memtables together stay under this (the largest is flushed when they reach it), so
  // memory stays bounded however fast facts come.
  dbo.db_write_buffer_size = 128 << 20;

  if (!exists) {
    create_fresh(dir, dbo);
    exists = true;
  }
  std::vector<std::string> existing;
  {
    const rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(dbo, dir.string(), &existing);
    if (!ls.ok()) s->fail("cannot open", ls);
    for (const char* name : kCfNames)
      if (std::find(existing.begin(), existing.end(), name) == existing.end())
        throw StoreError(dir.string() + " is a RocksDB database but not a qflow store (no '" + name +
                         "' column family); refusing to use it");
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (size_t i = 0; i < static_cast<size_t>(Cf::count_); ++i) descs.emplace_back(kCfNames[i], cf_options(static_cast<Cf>(i)));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = s->read_only_ ? rocksdb::DB::OpenForReadOnly(dbo, dir.string(), descs, &handles, &raw)
                                     : rocksdb::DB::Open(dbo, dir.string(), descs, &handles, &raw);
  if (!st.ok()) {
    if (st.IsIOError() && st.ToString().find("lock") != std::string::npos)
      throw StoreError("the database " + dir.string() +
                       " is in use by another qflow process (one writer per run folder); "
                       "read it with qflow query/export, or wait for that run to end");
    s->fail("cannot open", st);
  }
  s->db_.reset(raw);
  // handles[0] is the default family, which we never use; keep it for destruction.
  s->handles_.assign(static_cast<size_t>(Cf::count_), nullptr);
  for (size_t i = 0; i < static_cast<size_t>(Cf::count_); ++i) s->handles_[i] = handles[i + 1];
  s->db_->DestroyColumnFamilyHandle(handles[0]);

  const std::optional<std::string> format = s->get(Cf::meta, kFormatKey);
  if (!format) {
    throw StoreError(dir.string() + " has no qflow format record; it is not a qflow store");
  } else if (*format != std::to_string(kFormatVersion)) {
    throw StoreError(dir.string() + " was written by store format " + *format + "; this qflow reads format " +
                     std::to_string(kFormatVersion) + " only. It was not changed: read it with the qflow that wrote it, "
                     "or start a new run folder");
  }
  return s;
}

Store::~Store() {
  if (!db_) return;
  for (auto* h : handles_)
    if (h) db_->DestroyColumnFamilyHandle(h);
  db_->Close().PermitUncheckedError();
}

void Store::write(rocksdb::WriteBatch& batch, bool sync, const char* what) {
  if (read_only_) throw StoreError("the database " + path_.string() + " is open read-only");
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  const rocksdb::Status st = db_->Write(wo, &batch);
  if (!st.ok()) fail(what, st);
}

void Store::write_facts(rocksdb::WriteBatch& batch) {
  if (read_only_) throw StoreError("the database " + path_.string() + " is open read-only");
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  const rocksdb::Status st = db_->Write(wo, &batch);
  if (!st.ok()) fail("cannot write facts to", st);
}

void Store::flush_facts() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  fo.allow_write_stall = true;
  const rocksdb::Status st = db_->Flush(fo, cf(Cf::facts));
  if (!st.ok()) fail("cannot flush facts to", st);
}

std::optional<std::string> Store::get(Cf c, std::string_view key) {
  std::string value;
  const rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), cf(c), rocksdb::Slice(key.data(), key.size()), &value);
  if (st.IsNotFound()) return std::nullopt;
  if (!st.ok()) fail("cannot read", st);
  return value;
}

std::unique_ptr<rocksdb::Iterator> Store::iterate(Cf c) {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(rocksdb::ReadOptions(), cf(c)));
}

void Store::drop_files(Cf c, const std::string& prefix) {
  if (read_only_) throw StoreError("the database " + path_.string() + " is open read-only");
  const std::string end = prefix_end(prefix);
  const rocksdb::Slice begin_key(prefix), end_key(end);
  const rocksdb::Status st = rocksdb::DeleteFilesInRange(db_.get(), cf(c), &begin_key, end.empty() ? nullptr : &end_key);
  if (!st.ok()) fail("cannot drop files of", st);
}

void Store::delete_prefix(rocksdb::WriteBatch& batch, Cf c, const std::string& prefix) {
  const std::string end = prefix_end(prefix);
  if (end.empty()) {
    batch.DeleteRange(cf(c), prefix, std::string(64, '\xff'));
  } else {
    batch.DeleteRange(cf(c), prefix, end);
  }
}

}  // namespace qflow::store
