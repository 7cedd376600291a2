// The state store: one RocksDB database per run folder (`<run folder>/qflow.db`), holding
// several runs side by side.
//
// Column families:
//   meta         store format version, run records (JSON), per-run symbol names
//   facts        what the pipeline produced, with explicit grain (facts.hpp)
//   node_state   the latest checkpoint's state blob of every node, per run
//   checkpoints  the latest complete checkpoint of every run (checkpoint.hpp)
//
// The format version is checked on open: a database of another version, or a folder that is
// not a qflow store, is refused with a message; nothing is changed. Opened read-only, the store
// can be read while a pipeline writes it (it sees what was written when it was opened).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::store {

inline constexpr const char* kStoreDir = "qflow.db";
inline constexpr uint32_t kFormatVersion = 3;  // 3: chunk layout 4 (predicted columns, sparse blocks); 2: layout 3, FIFO facts

// Every failure of the store: the message names the database and the reason.
struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Cf { meta = 0, facts, node_state, checkpoints, count_ };

class Store {
 public:
  enum class Mode { read_write, read_only };

  // `dir` is the database folder itself. read_write creates it when missing; read_only requires
  // it. Throws StoreError.
  static std::unique_ptr<Store> open(const std::filesystem::path& dir, Mode mode);
  // The database of a run folder (the folder, or the database folder inside it).
  static std::filesystem::path locate(const std::filesystem::path& run_folder);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::filesystem::path& path() const { return path_; }
  bool read_only() const { return read_only_; }
  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[static_cast<size_t>(c)]; }

  // Applies the batch atomically; `sync` also makes it (and everything before it) durable.
  void write(rocksdb::WriteBatch& batch, bool sync, const char* what);
  // Facts skip the write-ahead log: they can be produced again from the last checkpoint, and
  // flush_facts() makes them durable before a checkpoint that counts on them is written.
  void write_facts(rocksdb::WriteBatch& batch);
  void flush_facts();
  std::optional<std::string> get(Cf c, std::string_view key);
  std::unique_ptr<rocksdb::Iterator> iterate(Cf c);
  // Removes the table files holding only keys that start with `prefix` (space back at once;
  // what shares a file with other keys stays until delete_prefix hides it).
  void drop_files(Cf c, const std::string& prefix);
  // Deletes every key of `c` that starts with `prefix`.
  void delete_prefix(rocksdb::WriteBatch& batch, Cf c, const std::string& prefix);

 private:
  Store() = default;
  [[noreturn]] void fail(const char* what, const rocksdb::Status& s) const;

  std::filesystem::path path_;
  bool read_only_ = false;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace qflow::store
