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
// origin and flags, then the payload words the family uses; each word XORed with a guess (the
// word before, or for bars and equity one taken from other columns: a bar opens at the last
// close) and cut to the significant bytes of its block, a block where few rows changed keeping
// only those (facts.cpp has the layout). Steady clocks and unchanged fields cost next to
// nothing, prices six or seven bytes. Chunks are numbered from 0 per series; a run writes the
// same chunks with the same keys every time, so a re-run overwrites instead of duplicating,
// and the partial chunk written at a checkpoint is overwritten when it fills up.
#pragma once

#include "store.hpp"

#include <qflow/abi.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <cstring>
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
// The family an event kind is recorded in (Family::count_ for control events), as a table in
// read-only data: a constexpr array local to a function is rebuilt on the stack at every call.
inline constexpr Family kFamilyOfKind[QF_KIND_COUNT_] = {
    Family::count_,  Family::ticks,  Family::quotes,        Family::bars,  Family::values,
    Family::signals, Family::orders, Family::order_updates, Family::fills, Family::positions,
    Family::equity,  Family::alerts, Family::count_};
static_assert(QF_KIND_TICK == 1 && QF_KIND_CONTROL == 12 && QF_KIND_COUNT_ == 13);
// The family an event kind is recorded in; none for control events.
inline std::optional<Family> family_of_kind(uint16_t kind) {
  if (kind >= QF_KIND_COUNT_ || kFamilyOfKind[kind] == Family::count_) return std::nullopt;
  return kFamilyOfKind[kind];
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

  static Row of(const qf_event& e) {
    Row r;
    r.time = e.time_ns;
    r.seq = e.seq;
    r.origin = e.origin;
    r.flags = e.flags;
    std::memcpy(r.payload.data(), e.u.raw, sizeof e.u.raw);
    return r;
  }
  qf_event event(uint16_t kind, uint32_t symbol) const;
};

// How writers keep rows: 3 + payload_words(f) words each (time, seq, origin << 16 | flags, the
// payload words the family keeps), one row after the other. A buffer holds kChunkRows rows plus
// room to write a whole row (kRowWords) at the end of the last: a row is written whole and the
// next one starts after the words its family keeps. kChunkWords is enough for any family.
inline constexpr size_t kRowWords = 9;
inline constexpr size_t kChunkWords = kChunkRows * kRowWords + kRowWords;
inline void pack_event(const qf_event& e, uint64_t* w) {
  w[0] = static_cast<uint64_t>(e.time_ns);
  w[1] = e.seq;
  w[2] = (uint64_t{e.origin} << 16) | e.flags;
  std::memcpy(w + 3, e.u.raw, sizeof e.u.raw);
}
inline void pack_row(const Row& r, uint64_t* w) {
  w[0] = static_cast<uint64_t>(r.time);
  w[1] = r.seq;
  w[2] = (uint64_t{r.origin} << 16) | r.flags;
  std::memcpy(w + 3, r.payload.data(), sizeof r.payload);
}

// Encodes `count` packed rows of `f` (with the slack above); the same bytes as encode_chunk.
void encode_packed(Family f, const uint64_t* words, size_t count, std::string& out);
std::string encode_chunk(Family f, const Row* rows, size_t count);
void encode_chunk(Family f, const Row* rows, size_t count, std::string& out);  // reuses `out`
// Appends the chunk's rows; throws StoreError when the bytes are not a chunk of `f`.
void decode_chunk(std::string_view bytes, Family f, std::vector<Row>& out);

// Per-run names of the symbol ids used in keys (and of alert texts): meta "sym" | run | id.
std::string symbol_name_key(uint32_t run, uint32_t id);

// Writes chunks on a thread of its own. A chunk is encoded by the thread that submits it, from
// rows still in its cache (handing the rows over costs more memory traffic than encoding them
// where they are); the sink's thread only writes. At most `max_queued` chunks wait; a writer
// submitting more waits (bounded memory).
class FactSink {
 public:
  explicit FactSink(Store& store, size_t max_queued = 64);
  ~FactSink();  // writes what is queued
  FactSink(const FactSink&) = delete;
  FactSink& operator=(const FactSink&) = delete;

  // Encodes `count` packed rows (with kRowWords of slack after them) and queues the chunk; the
  // rows can be reused at once. Returns its ticket. Throws the failure of an earlier write.
  uint64_t submit(const SeriesKey& key, uint32_t chunk, const uint64_t* words, uint32_t count);
  // The ticket of the last chunk queued.
  uint64_t last_ticket();
  // Waits until every chunk up to `ticket` is written; throws the first failure.
  void wait(uint64_t ticket);

 private:
  struct Job {
    SeriesKey key;
    uint32_t chunk;
    std::string bytes;  // encoded
  };
  void run();
  Store& store_;
  size_t max_queued_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::string> spare_;  // buffers of written chunks, for encoding the next ones
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
    if (e.kind >= QF_KIND_COUNT_) return;
    const Family f = kFamilyOfKind[e.kind];
    if (f == Family::count_) return;
    if (f != Family::bars && f != Family::values) interval = 0;
    Series* s = stream < cache_.size() ? cache_[stream] : nullptr;
    if (!s || s->key.symbol != e.symbol || s->key.interval != interval || s->key.family != f) [[unlikely]]
      s = find(f, e.symbol, interval, node, port, stream);
    append(*s, e);
    ++counts_[static_cast<size_t>(f)];
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
    uint32_t stride = 0;  // words per row: 3 + payload_words(key.family)
    uint32_t count = 0;   // rows in `words`
    std::vector<uint64_t> words;  // packed rows (pack_event): kChunkRows * stride + kRowWords
  };
  void append(Series& s, const qf_event& e) {
    pack_event(e, s.words.data() + size_t{s.count} * s.stride);
    if (++s.count == kChunkRows) [[unlikely]]
      seal(s);
  }
  Series& series_for(const SeriesKey& key);  // the series of `key`, added when new
  Series& add_series(const SeriesKey& key);
  Series* find(Family f, uint32_t symbol, int64_t interval, uint32_t node, uint16_t port, uint32_t stream);
  void seal(Series& s);  // the chunk is full: hand it over and start the next
  void note_texts(const Series& s);
  void note_name(uint32_t id);

  Store& store_;
  FactSink& sink_;
  uint32_t run_;
  const SymbolTable& symbols_;
  std::vector<std::unique_ptr<Series>> series_;
  std::vector<Series*> cache_;  // per stream: the last series it wrote
  std::vector<bool> named_;     // symbol ids whose name is recorded
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
