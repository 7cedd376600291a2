// runtime/store/store.hpp: opening, creating and refusing databases. A store refuses, with a
// message naming the folder, anything it should not write into: another format version, a
// RocksDB database that is not qflow's, a folder of other files, a database another process
// holds, a damaged database.
#include "store_test_support.hpp"

#include "store/facts.hpp"
#include "store/keys.hpp"
#include "store/runs.hpp"

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

using namespace qflow::store;
using store_test::TempDir;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<fs::path> files_of(const fs::path& dir, const std::string& starting, const std::string& ending) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(starting) && name.ends_with(ending)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A store with some facts and meta records, flushed to table files, then closed.
void make_store_with_data(const fs::path& db) {
  auto store = Store::open(db, Store::Mode::read_write);
  rocksdb::WriteBatch batch;
  for (uint32_t i = 0; i < 500; ++i) {
    batch.Put(store->cf(Cf::facts), KeyWriter().u32(1).u32(i).take(), std::string(200, static_cast<char>('a' + i % 26)));
    batch.Put(store->cf(Cf::meta), KeyWriter().text("k").u32(i).take(), "meta value");
  }
  store->write(batch, true, "test");
  store->flush_facts();
  REQUIRE(store->db().Flush(rocksdb::FlushOptions(), store->cf(Cf::meta)).ok());
}

// Every column family's keys, read with plain RocksDB (nothing of qflow in the way).
std::map<std::string, std::string> raw_meta(const fs::path& db) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descs{{rocksdb::kDefaultColumnFamilyName, {}}, {"meta", {}}};
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db.string(), &names).ok());
  for (const std::string& n : names)
    if (n != rocksdb::kDefaultColumnFamilyName && n != "meta") descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), db.string(), descs, &handles, &raw).ok());
  std::map<std::string, std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), handles[1]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
  it.reset();
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  return out;
}

}  // namespace

TEST_CASE("store: read_write creates a qflow database of the current format, which reopens") {
  TempDir tmp("create");
  const fs::path db = tmp / "run" / kStoreDir;
  fs::create_directories(db.parent_path());
  {
    auto store = Store::open(db, Store::Mode::read_write);
    CHECK(store->path() == db);
    CHECK_FALSE(store->read_only());
    CHECK(store->get(Cf::meta, "format") == std::optional<std::string>(std::to_string(kFormatVersion)));
    rocksdb::WriteBatch b;
    b.Put(store->cf(Cf::node_state), "n", "state");
    b.Put(store->cf(Cf::checkpoints), "c", "checkpoint");
    store->write(b, true, "test");
    rocksdb::WriteBatch f;
    f.Put(store->cf(Cf::facts), "f", "fact");
    store->write_facts(f);
    store->flush_facts();  // facts skip the log: flushed, they survive the close
  }
  CHECK(fs::exists(db / "CURRENT"));
  CHECK(Store::locate(tmp / "run") == db);
  CHECK(Store::locate(db) == db);
  {
    auto store = Store::open(db, Store::Mode::read_write);
    CHECK(store->get(Cf::node_state, "n") == std::optional<std::string>("state"));
    CHECK(store->get(Cf::checkpoints, "c") == std::optional<std::string>("checkpoint"));
    CHECK(store->get(Cf::facts, "f") == std::optional<std::string>("fact"));
    CHECK_FALSE(store->get(Cf::facts, "n").has_value());  // families are apart
  }
  auto ro = Store::open(db, Store::Mode::read_only);
  CHECK(ro->read_only());
  CHECK(ro->get(Cf::facts, "f") == std::optional<std::string>("fact"));
  rocksdb::WriteBatch b;
  b.Put(ro->cf(Cf::meta), "x", "y");
  CHECK_THROWS_WITH(ro->write(b, false, "test"), Catch::Contains("read-only") && Catch::Contains(db.string()));
  CHECK_THROWS_AS(ro->write_facts(b), StoreError);
}

TEST_CASE("store: read_only opens a database a writer holds, seeing what was written when it opened") {
  TempDir tmp("concurrent_read");
  const fs::path db = tmp / "db";
  auto writer = Store::open(db, Store::Mode::read_write);
  rocksdb::WriteBatch b;
  b.Put(writer->cf(Cf::meta), "before", "1");
  writer->write(b, true, "test");
  auto reader = Store::open(db, Store::Mode::read_only);
  rocksdb::WriteBatch later;
  later.Put(writer->cf(Cf::meta), "after", "2");
  writer->write(later, true, "test");
  CHECK(reader->get(Cf::meta, "before") == std::optional<std::string>("1"));
  CHECK_FALSE(reader->get(Cf::meta, "after").has_value());
}

TEST_CASE("store: a database of another format version is refused, naming both versions, and left alone") {
  TempDir tmp("format");
  const fs::path db = tmp / "db";
  {
    auto store = Store::open(db, Store::Mode::read_write);
    REQUIRE(store->db().Put(rocksdb::WriteOptions(), store->cf(Cf::meta), "format", "1").ok());
  }
  for (auto mode : {Store::Mode::read_write, Store::Mode::read_only}) {
    INFO((mode == Store::Mode::read_write ? "read_write" : "read_only"));
    CHECK_THROWS_MATCHES(Store::open(db, mode), StoreError,
                         Catch::Matchers::Message(db.string() + " was written by store format 1; this qflow reads format 3 only. "
                                                                "It was not changed: read it with the qflow that wrote it, "
                                                                "or start a new run folder"));
  }
  CHECK(raw_meta(db).at("format") == "1");
}

TEST_CASE("store: a RocksDB database without qflow's column families is refused and left alone") {
  TempDir tmp("foreign");
  const fs::path db = tmp / "db";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(o, db.string(), &raw).ok());
    REQUIRE(raw->Put(rocksdb::WriteOptions(), "someone else's", "data").ok());
    delete raw;
  }
  for (auto mode : {Store::Mode::read_write, Store::Mode::read_only}) {
    CHECK_THROWS_MATCHES(Store::open(db, mode), StoreError,
                         Catch::Matchers::Message(db.string() + " is a RocksDB database but not a qflow store (no 'meta' "
                                                                "column family); refusing to use it"));
  }
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db.string(), &names).ok());
  CHECK(names == std::vector<std::string>{rocksdb::kDefaultColumnFamilyName});
}

TEST_CASE("store: a RocksDB database with qflow's families but no format record is refused") {
  TempDir tmp("no_format");
  const fs::path db = tmp / "db";
  {
    auto store = Store::open(db, Store::Mode::read_write);
    REQUIRE(store->db().Delete(rocksdb::WriteOptions(), store->cf(Cf::meta), "format").ok());
  }
  CHECK_THROWS_WITH(Store::open(db, Store::Mode::read_only), Catch::Contains("no qflow format record") && Catch::Contains(db.string()));
  CHECK_THROWS_WITH(Store::open(db, Store::Mode::read_write), Catch::Contains("no qflow format record") && Catch::Contains(db.string()));
}

TEST_CASE("store: a new store is made under a temporary name and renamed whole, and a dead creator's leftover is removed") {
  // A process killed while creating a store leaves only its temporary folder, never a store
  // without its families or format record.
  TempDir tmp("create_whole");
  const fs::path db = tmp / "qflow.db";
  const pid_t gone = ::fork();  // a process that has certainly ended: its id names a leftover
  REQUIRE(gone >= 0);
  if (gone == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(gone, &status, 0) == gone);
  const fs::path dead = tmp / ("qflow.db.creating-" + std::to_string(gone));
  const fs::path alive = tmp / ("qflow.db.creating-" + std::to_string(::getppid()));  // still creating
  for (const fs::path& p : {dead, alive}) {
    fs::create_directories(p);
    write_file(p / "CURRENT", "half made");
  }
  {
    auto store = Store::open(db, Store::Mode::read_write);
    CHECK(store->get(Cf::meta, "format") == std::optional<std::string>(std::to_string(kFormatVersion)));
  }
  CHECK_FALSE(fs::exists(dead));
  CHECK(read_file(alive / "CURRENT") == "half made");
  CHECK_FALSE(fs::exists(tmp / ("qflow.db.creating-" + std::to_string(::getpid()))));
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db.string(), &names).ok());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"checkpoints", "default", "facts", "meta", "node_state"});
  CHECK_NOTHROW(Store::open(db, Store::Mode::read_only));
}

TEST_CASE("store: a folder of other files is refused and left alone") {
  TempDir tmp("not_a_db");
  const fs::path dir = tmp / "photos";
  fs::create_directories(dir);
  write_file(dir / "holiday.jpg", "not a database");
  CHECK_THROWS_MATCHES(Store::open(dir, Store::Mode::read_write), StoreError,
                       Catch::Matchers::Message(dir.string() + " exists and is not a qflow database; refusing to write into it"));
  CHECK_THROWS_AS(Store::open(dir, Store::Mode::read_only), StoreError);
  std::vector<fs::path> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename());
  CHECK(left == std::vector<fs::path>{"holiday.jpg"});
  CHECK(read_file(dir / "holiday.jpg") == "not a database");

  // An empty folder is fine to create a store in.
  const fs::path empty = tmp / "empty";
  fs::create_directories(empty);
  CHECK_NOTHROW(Store::open(empty, Store::Mode::read_write));
}

TEST_CASE("store: read_only on a missing folder throws and creates nothing") {
  TempDir tmp("missing");
  const fs::path db = tmp / "nothing" / "here";
  CHECK_THROWS_MATCHES(Store::open(db, Store::Mode::read_only), StoreError,
                       Catch::Matchers::Message("no qflow database at " + db.string()));
  CHECK_FALSE(fs::exists(tmp / "nothing"));
}

TEST_CASE("store: a second writer in the same process is refused: the database is in use") {
  TempDir tmp("locked");
  const fs::path db = tmp / "db";
  auto first = Store::open(db, Store::Mode::read_write);
  CHECK_THROWS_MATCHES(Store::open(db, Store::Mode::read_write), StoreError,
                       Catch::Matchers::Message("the database " + db.string() +
                                                " is in use by another qflow process (one writer per run folder); "
                                                "read it with qflow query/export, or wait for that run to end"));
  // The first writer is unharmed.
  rocksdb::WriteBatch b;
  b.Put(first->cf(Cf::meta), "still", "mine");
  CHECK_NOTHROW(first->write(b, true, "test"));
  first.reset();
  CHECK_NOTHROW(Store::open(db, Store::Mode::read_write));
}

TEST_CASE("store: a writer in another process holds the database: refused here, store_in_use says so") {
  TempDir tmp("other_process");
  const fs::path db = tmp / "db";
  // The child is forked before this process touches RocksDB, so that it inherits none of
  // RocksDB's threads or state; it creates the database.
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child creates the store, says so, and holds it until the parent closes `release`.
    // It leaves with _exit: nothing of the parent's (Catch2, RocksDB's threads) is torn down.
    ::close(ready[0]);
    ::close(release[1]);
    char c = 'x';
    try {
      auto* held = Store::open(db, Store::Mode::read_write).release();
      (void)held;
      c = 'k';
    } catch (...) {
    }
    if (::write(ready[1], &c, 1) != 1) ::_exit(2);
    char d;
    while (::read(release[0], &d, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(c == 'k');
  CHECK(store_in_use(db));
  CHECK_THROWS_WITH(Store::open(db, Store::Mode::read_write), Catch::Contains("is in use by another qflow process") &&
                                                                  Catch::Contains(db.string()));
  CHECK_NOTHROW(Store::open(db, Store::Mode::read_only));
  ::close(release[1]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK_FALSE(store_in_use(db));
  CHECK_NOTHROW(Store::open(db, Store::Mode::read_write));
}

TEST_CASE("store: a damaged MANIFEST is refused with a message naming the database") {
  TempDir tmp("bad_manifest");
  const fs::path db = tmp / "db";
  make_store_with_data(db);
  const auto manifests = files_of(db, "MANIFEST-", "");
  REQUIRE(manifests.size() == 1);
  SECTION("overwritten with garbage") {
    write_file(manifests[0], std::string(4096, '\x5a') + "garbage");
  }
  SECTION("truncated") {
    const std::string bytes = read_file(manifests[0]);
    REQUIRE(bytes.size() > 40);
    write_file(manifests[0], bytes.substr(0, 20));
  }
  SECTION("emptied") {
    write_file(manifests[0], "");
  }
  for (auto mode : {Store::Mode::read_write, Store::Mode::read_only}) {
    INFO((mode == Store::Mode::read_write ? "read_write" : "read_only"));
    CHECK_THROWS_MATCHES(Store::open(db, mode), StoreError,
                         Catch::Matchers::Predicate<std::exception>(
                             [&](const std::exception& e) { return std::string(e.what()).find(db.string()) != std::string::npos; },
                             "names " + db.string()));
  }
}

TEST_CASE("store: a damaged table file is refused with a message naming the database") {
  TempDir tmp("bad_sst");
  const fs::path db = tmp / "db";
  make_store_with_data(db);
  const auto tables = files_of(db, "", ".sst");
  REQUIRE(tables.size() >= 2);  // facts and meta were both flushed
  for (const fs::path& t : tables) {
    const std::string bytes = read_file(t);
    SECTION("overwritten with garbage: " + t.filename().string()) { write_file(t, std::string(bytes.size(), '\x42')); }
    SECTION("truncated: " + t.filename().string()) { write_file(t, bytes.substr(0, bytes.size() / 2)); }
  }
  for (auto mode : {Store::Mode::read_write, Store::Mode::read_only}) {
    INFO((mode == Store::Mode::read_write ? "read_write" : "read_only"));
    try {
      auto store = Store::open(db, mode);
      FAIL_CHECK("a damaged table file was opened without complaint");
    } catch (const StoreError& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains(db.string()) && Catch::Contains("damaged"));
    }
  }
}

TEST_CASE("store: damaged fact data is reported as StoreError when read, never returned") {
  // Chunks of a few KiB (as real ones are), flushed to the facts family's data files, which
  // are then damaged in the middle (their size and footers intact, so that opening works).
  TempDir tmp("bad_facts");
  const fs::path db = tmp / "db";
  std::vector<fs::path> data_files;
  {
    auto store = Store::open(db, Store::Mode::read_write);
    {
      FactSink sink(*store);
      auto r = store_test::rng(41);
      for (uint32_t chunk = 0; chunk < 40; ++chunk) {
        std::vector<uint64_t> words(kChunkWords);
        for (size_t row = 0; row < 500; ++row) {
          Row random;
          random.time = static_cast<int64_t>(r());
          for (uint64_t& w : random.payload) w = r();
          pack_row(random, &words[row * (3 + payload_words(Family::bars))]);
        }
        sink.submit(SeriesKey{1, Family::bars, 1, 60, 0, 0}, chunk, words.data(), 500);
      }
      sink.wait(sink.last_ticket());
    }
    store->flush_facts();
    REQUIRE(store_test::read_facts(*store, 1, Family::bars).size() == 40 * 500);
    rocksdb::ColumnFamilyMetaData meta;
    store->db().GetColumnFamilyMetaData(store->cf(Cf::facts), &meta);
    for (const auto& level : meta.levels)
      for (const auto& f : level.files) data_files.push_back(fs::path(f.directory) / f.relative_filename);
    for (const auto& b : meta.blob_files) data_files.push_back(fs::path(b.blob_file_path) / fs::path(b.blob_file_name).filename());
  }
  // The files holding the chunks' bytes: table files, or blob files when values live apart.
  size_t damaged = 0;
  for (const fs::path& f : data_files) {
    INFO(f);
    REQUIRE(fs::exists(f));
    std::string bytes = read_file(f);
    if (bytes.size() < 100'000) continue;  // keys and references only
    for (size_t i = bytes.size() / 4; i < bytes.size() / 4 + 256; ++i) bytes[i] = static_cast<char>(~bytes[i]);
    write_file(f, bytes);
    ++damaged;
  }
  REQUIRE(damaged > 0);
  // Either opening notices, or reading does; what was damaged is never handed out as facts.
  try {
    auto store = Store::open(db, Store::Mode::read_only);
    CHECK_THROWS_WITH(store_test::read_facts(*store, 1, Family::bars), Catch::Contains("Corruption"));
  } catch (const StoreError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains(db.string()) && Catch::Contains("damaged"));
  }
}
