// Facts: what a pipeline produced, kept in the store with an explicit grain.
//
// Every event a node emits (and every market event a source reads) is a fact of the family of
// its kind: bars, ticks, quotes, values, signals, orders, order updates, fills, positions,
// equity (account snapshots) and alerts (risk events among them). With each signal, what each
// input of the emitting node held in that cycle is kept too (signal_inputs: one series per
// input slot, joined to the signal by node and seq). A *series* is one family of
// one symbol from one output port of one node, at one bar interval for bars and values:
//
//   key   = run u32 | family u8 | symbol u32 | interval i64 | node u32 | port u16 | chunk u32
//   value = a chunk of up to kChunkRows rows of that series, in the order they were produced
//
// all integers big-endian (keys.hpp), so a prefix scan over (run, family, symbol) returns that
// symbol's series one after the other, each in time order. The grain of a row is its series
// plus its time and cycle sequence number. Rows are kept in chunks because RocksDB writes about
// two million records a second and a pipeline produces tens of millions of facts a second.
//
// A chunk stores its rows column by column: time and seq as steps from the previous row, then
// origin and flags, then the payload words the family uses; each word XORed with the one
// before and cut to the significant bytes of its block (facts.cpp has the layout). Steady
// clocks and unchanged fields cost next to nothing, prices six or seven bytes. Chunks are numbered from 0 per series; a run writes the same chunks with the
// same keys every time, so a re-run overwrites instead of duplicating, and the partial chunk
// written at a checkpoint is overwritten when it fills up.
#pragma once

#include "store.hpp"

#include <qflow/abi.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qflow {
class SymbolTable;
class StateWriter;
class StateReader;
}  // namespace qflow

namespace qflow::store {

enum class Family : uint8_t {
  bars = 1,
  ticks,
  quotes,
  values,
  signals,
  orders,
  order_updates,
  fills,
  positions,
  equity,
  alerts,
  signal_inputs,  // what a node's inputs held in the cycle it emitted a signal (no event kind)
  events,         // the runtime's own: errors, resumes, interruptions (alert layout)
  count_
};

const char* family_name(Family f);
std::optional<Family> family_from_name(std::string_view name);
// The family an event kind is recorded in; none for control events.
inline std::optional<Family> family_of_kind(uint16_t kind) {
  constexpr Family none = Family::count_;
  constexpr Family table[QF_KIND_COUNT_] = {
      none,           Family::ticks,         Family::quotes, Family::bars,      Family::values,
      Family::signals, Family::orders,       Family::order_updates, Family::fills, Family::positions,
      Family::equity, Family::alerts,        none};
  static_assert(QF_KIND_TICK == 1 && QF_KIND_CONTROL == 12 && QF_KIND_COUNT_ == 13);
  if (kind >= QF_KIND_COUNT_ || table[kind] == none) return std::nullopt;
  return table[kind];
}
// Payload words (8 bytes) a family's rows keep.
uint32_t payload_words(Family f);

inline constexpr uint32_t kChunkRows = 2048;

struct SeriesKey {
  uint32_t run = 0;
  Family family = Family::bars;
  uint32_t symbol = 0;
  int64_t interval = 0;  // bars and values: the bar length; 0 otherwise
  uint32_t node = 0;     // graph index of the node that emitted it
  uint16_t port = 0;     // its output port
  bool operator==(const SeriesKey&) const = default;
};

std::string chunk_key(const SeriesKey& s, uint32_t chunk);
SeriesKey parse_chunk_key(std::string_view key, uint32_t* chunk);
std::string run_prefix(uint32_t run);
std::string family_prefix(uint32_t run, Family f);
std::string symbol_prefix(uint32_t run, Family f, uint32_t symbol);

struct Row {
  int64_t time = 0;
  uint64_t seq = 0;
  uint32_t origin = 0;
  uint16_t flags = 0;
  std::array<uint64_t, 6> payload{};  // the event's payload, as raw words

  static Row of(const qf_event& e);
  qf_event event(uint16_t kind, uint32_t symbol) const;
};

std::string encode_chunk(Family f, const Row* rows, size_t count);
void encode_chunk(Family f, const Row* rows, size_t count, std::string& out);  // reuses `out`
// Appends the chunk's rows; throws StoreError when the bytes are not a chunk of `f`.
void decode_chunk(std::string_view bytes, Family f, std::vector<Row>& out);

// Per-run names of the symbol ids used in keys (and of alert texts): meta "sym" | run | id.
std::string symbol_name_key(uint32_t run, uint32_t id);

// Encodes and writes chunks on a thread of its own, so that the pipeline's threads only copy
// rows. At most `max_queued` chunks wait; a writer submitting more waits (bounded memory).
class FactSink {
 public:
  explicit FactSink(Store& store, size_t max_queued = 64);
  ~FactSink();  // writes what is queued
  FactSink(const FactSink&) = delete;
  FactSink& operator=(const FactSink&) = delete;

  // Queues a chunk; `rows` is taken and replaced by an empty buffer with room for a chunk.
  // Returns its ticket. Throws the failure of an earlier write.
  uint64_t submit(const SeriesKey& key, uint32_t chunk, std::vector<Row>& rows);
  // The ticket of the last chunk queued.
  uint64_t last_ticket();
  // Waits until every chunk up to `ticket` is written; throws the first failure.
  void wait(uint64_t ticket);

 private:
  struct Job {
    SeriesKey key;
    uint32_t chunk;
    std::vector<Row> rows;
  };
  void run();
  Store& store_;
  size_t max_queued_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::vector<Row>> spare_;
  uint64_t submitted_ = 0, written_ = 0;
  bool stopping_ = false;
  std::string failure_;
  std::thread thread_;
};

// Buffers the facts of one thread (a source group or a stage) and hands full chunks to the
// sink. Not thread-safe: one writer per thread, any number per sink.
class FactWriter {
 public:
  FactWriter(Store& store, FactSink& sink, uint32_t run, const SymbolTable& symbols);
  ~FactWriter();
  FactWriter(const FactWriter&) = delete;
  FactWriter& operator=(const FactWriter&) = delete;

  // Records one event emitted on (node, port); `stream` is the runtime's stream id of that
  // port, used only to find the series fast.
  void record(const qf_event& e, uint32_t node, uint16_t port, uint32_t stream, int64_t interval) {
    const std::optional<Family> f = family_of_kind(e.kind);
    if (!f) return;
    if (*f != Family::bars && *f != Family::values) interval = 0;
    Series* s = stream < cache_.size() ? cache_[stream] : nullptr;
    if (!s || s->key.symbol != e.symbol || s->key.interval != interval || s->key.family != *f)
      s = find(*f, e.symbol, interval, node, port, stream);
    s->rows.push_back(Row::of(e));
    ++counts_[static_cast<size_t>(*f)];
    if (s->rows.size() == kChunkRows) [[unlikely]]
      seal(*s);
  }
  // Records what input `slot` of `node` held when it emitted `signal`: `value` is the input's
  // number (a value's or signal's value, a bar's close, a tick's price), `kind` its event kind.
  void record_input(const qf_event& signal, uint32_t node, uint16_t slot, double value, uint16_t kind);
  // Records an event in a family chosen by the caller (the runtime's events).
  void record_in(Family f, const qf_event& e, uint32_t node, uint16_t port);
  // Hands every partial chunk to the sink too (full ones already went): once the sink has
  // written the ticket returned by last_ticket(), every fact recorded so far is in the database.
  void flush_all();

  // Where each series stands: restored into a fresh writer, it continues the same chunks.
  void save(StateWriter& w) const;
  void restore(StateReader& r);

  // Where each series stands: (series, chunk being filled, rows in it).
  struct Position {
    SeriesKey key;
    uint32_t chunk;
    uint32_t rows;
  };
  std::vector<Position> positions() const;

  // Rows recorded per family since the start of the run (restored on resume).
  const std::array<uint64_t, static_cast<size_t>(Family::count_)>& counts() const { return counts_; }

 private:
  struct Series {
    SeriesKey key;
    uint32_t chunk = 0;
    std::vector<Row> rows;
  };
  Series* find(Family f, uint32_t symbol, int64_t interval, uint32_t node, uint16_t port, uint32_t stream);
  void seal(Series& s);  // the chunk is full: hand it over and start the next
  void note_name(uint32_t id);

  Store& store_;
  FactSink& sink_;
  uint32_t run_;
  const SymbolTable& symbols_;
  std::vector<std::unique_ptr<Series>> series_;
  std::vector<Series*> cache_;  // per stream: the last series it wrote
  std::vector<bool> named_;     // symbol ids whose name is recorded
  std::vector<Row> partial_;  // reused copy of a partial chunk
  std::array<uint64_t, static_cast<size_t>(Family::count_)> counts_{};
};

// On resume, after every writer was restored: removes what an abandoned attempt wrote past the
// checkpoint (chunks after each series' position, and series the checkpoint does not know), so
// that the resumed run cannot leave rows of another attempt behind. The runtime's `events`
// family is kept: each attempt has its own series there.
void discard_after_checkpoint(Store& store, uint32_t run, const std::vector<FactWriter*>& writers);

// One decoded row with its series, for reading back.
struct Fact {
  SeriesKey series;
  Row row;
};

// Reads a run's facts of one family, optionally of one symbol, in key order: series by series,
// each in time order. Rows outside [from, to] are skipped.
class FactReader {
 public:
  FactReader(Store& store, uint32_t run, Family f, std::optional<uint32_t> symbol, int64_t from, int64_t to);
  // False at the end. Throws StoreError naming the database when what it reads is damaged.
  bool next(Fact& out);

 private:
  bool load_chunk();
  Store& store_;
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_;
  Family family_;
  int64_t from_, to_;
  SeriesKey series_;
  std::vector<Row> rows_;
  size_t pos_ = 0;
  bool started_ = false;
};

}  // namespace qflow::store
