#include "facts.hpp"

#include "keys.hpp"
#include "../symbol_table.hpp"

#include <qflow/state.hpp>

#include <algorithm>
#include <cstring>

namespace qflow::store {

namespace {

struct FamilyInfo {
  const char* name;
  uint16_t kind;
  uint32_t words;
};

// Indexed by Family.
constexpr FamilyInfo kFamilies[] = {
    {"", 0, 0},
    {"bars", QF_KIND_BAR, 6},
    {"ticks", QF_KIND_TICK, 4},
    {"quotes", QF_KIND_QUOTE, 4},
    {"values", QF_KIND_VALUE, 1},
    {"signals", QF_KIND_SIGNAL, 2},
    {"orders", QF_KIND_ORDER, 6},
    {"order_updates", QF_KIND_ORDER_UPDATE, 6},
    {"fills", QF_KIND_FILL, 6},
    {"positions", QF_KIND_POSITION, 4},
    {"equity", QF_KIND_ACCOUNT, 5},
    {"alerts", QF_KIND_ALERT, 3},
    {"signal_inputs", 0, 2},
    {"events", 0, 3},
};
static_assert(std::size(kFamilies) == static_cast<size_t>(Family::count_));

constexpr uint8_t kChunkVersion = 3;
constexpr size_t kChunkHeader = 8;
constexpr size_t kPendingBytes = 4 << 20;

}  // namespace

const char* family_name(Family f) {
  const auto i = static_cast<size_t>(f);
  return i < std::size(kFamilies) ? kFamilies[i].name : "unknown";
}

std::optional<Family> family_from_name(std::string_view name) {
  for (size_t i = 1; i < std::size(kFamilies); ++i)
    if (name == kFamilies[i].name) return static_cast<Family>(i);
  return std::nullopt;
}

uint32_t payload_words(Family f) {
  const auto i = static_cast<size_t>(f);
  return i < std::size(kFamilies) ? kFamilies[i].words : 0;
}

std::string run_prefix(uint32_t run) { return KeyWriter().u32(run).take(); }

std::string family_prefix(uint32_t run, Family f) { return KeyWriter().u32(run).u8(static_cast<uint8_t>(f)).take(); }

std::string symbol_prefix(uint32_t run, Family f, uint32_t symbol) {
  return KeyWriter().u32(run).u8(static_cast<uint8_t>(f)).u32(symbol).take();
}

std::string chunk_key(const SeriesKey& s, uint32_t chunk) {
  return KeyWriter()
      .u32(s.run)
      .u8(static_cast<uint8_t>(s.family))
      .u32(s.symbol)
      .i64(s.interval)
      .u32(s.node)
      .u16(s.port)
      .u32(chunk)
      .take();
}

SeriesKey parse_chunk_key(std::string_view key, uint32_t* chunk) {
  if (key.size() != 4 + 1 + 4 + 8 + 4 + 2 + 4) throw StoreError("malformed fact key (" + std::to_string(key.size()) + " bytes)");
  KeyReader r(key);
  SeriesKey s;
  s.run = r.u32();
  const uint8_t f = r.u8();
  if (f == 0 || f >= static_cast<uint8_t>(Family::count_)) throw StoreError("fact key of unknown family " + std::to_string(f));
  s.family = static_cast<Family>(f);
  s.symbol = r.u32();
  s.interval = r.i64();
  s.node = r.u32();
  s.port = r.u16();
  const uint32_t c = r.u32();
  if (chunk) *chunk = c;
  return s;
}

std::string symbol_name_key(uint32_t run, uint32_t id) { return KeyWriter().text("sym").u32(run).u32(id).take(); }

Row Row::of(const qf_event& e) {
  Row r;
  r.time = e.time_ns;
  r.seq = e.seq;
  r.origin = e.origin;
  r.flags = e.flags;
  std::memcpy(r.payload.data(), e.u.raw, sizeof e.u.raw);
  return r;
}

qf_event Row::event(uint16_t kind, uint32_t symbol) const {
  qf_event e{};
  e.kind = kind;
  e.flags = flags;
  e.symbol = symbol;
  e.time_ns = time;
  e.seq = seq;
  e.origin = origin;
  std::memcpy(e.u.raw, payload.data(), sizeof e.u.raw);
  return e;
}

namespace {

constexpr bool is_step_column(uint32_t c) { return c < 2; }
constexpr size_t kBlockRows = 128;

uint32_t significant_bytes(uint64_t x) { return x ? 8 - static_cast<uint32_t>(__builtin_clzll(x)) / 8 : 0; }

}  // namespace

// Layout after the 8-byte header, column by column: the first two words' transforms as 8 raw
// bytes each, then blocks of up to kBlockRows words, each a width byte w (0..8) followed by
// the low w bytes of every word. The transform of word i >= 1 is w_i XOR w_(i-1), except that
// a step column's word 1 (its first step) is kept as is: steady steps, unchanged flags and
// slowly moving prices leave few significant bytes, and a constant column costs a byte per block.
void encode_chunk(Family f, const Row* rows, size_t count, std::string& out) {
  const uint32_t words = payload_words(f);
  const auto n = static_cast<uint32_t>(count);
  out.resize(kChunkHeader + size_t{n} * 9 * (3 + words) + 16 * (3 + words) + 8);
  auto* base = reinterpret_cast<unsigned char*>(out.data());
  base[0] = kChunkVersion;
  base[1] = static_cast<unsigned char>(f);
  base[2] = static_cast<unsigned char>(words);
  base[3] = 0;
  std::memcpy(base + 4, &n, 4);
  unsigned char* p = base + kChunkHeader;
  thread_local std::vector<uint64_t> column;
  column.resize(n);
  uint64_t* w = column.data();
  for (uint32_t c = 0; c < 3 + words; ++c) {
    // The column's words, one tight loop per kind.
    if (c == 0) {
      for (uint32_t i = n; i-- > 1;) w[i] = static_cast<uint64_t>(rows[i].time) - static_cast<uint64_t>(rows[i - 1].time);
      if (n) w[0] = static_cast<uint64_t>(rows[0].time);
    } else if (c == 1) {
      for (uint32_t i = n; i-- > 1;) w[i] = rows[i].seq - rows[i - 1].seq;
      if (n) w[0] = rows[0].seq;
    } else if (c == 2) {
      for (uint32_t i = 0; i < n; ++i) w[i] = (uint64_t{rows[i].origin} << 16) | rows[i].flags;
    } else {
      for (uint32_t i = 0; i < n; ++i) w[i] = rows[i].payload[c - 3];
    }
    for (uint32_t i = 0; i < n && i < 2; ++i) {
      const uint64_t t = i == 0 || is_step_column(c) ? w[i] : w[i] ^ w[i - 1];
      std::memcpy(p, &t, 8);
      p += 8;
    }
    for (uint32_t start = 2; start < n; start += kBlockRows) {
      const uint32_t m = std::min<uint32_t>(kBlockRows, n - start);
      uint64_t any = 0;
      for (uint32_t k = start; k < start + m; ++k) any |= w[k] ^ w[k - 1];
      const uint32_t width = significant_bytes(any);
      *p++ = static_cast<unsigned char>(width);
      if (width == 0) continue;
      for (uint32_t k = start; k < start + m; ++k) {
        const uint64_t x = w[k] ^ w[k - 1];
        std::memcpy(p, &x, 8);  // the buffer has 8 bytes of slack: write whole, advance by width
        p += width;
      }
    }
  }
  out.resize(static_cast<size_t>(p - base));
}

std::string encode_chunk(Family f, const Row* rows, size_t count) {
  std::string out;
  encode_chunk(f, rows, count, out);
  return out;
}

void decode_chunk(std::string_view bytes, Family f, std::vector<Row>& out) {
  auto damaged = [&](const char* what) {
    return StoreError(std::string("a chunk of ") + family_name(f) + " facts " + what + " (damaged database?)");
  };
  if (bytes.size() < kChunkHeader || static_cast<uint8_t>(bytes[0]) != kChunkVersion ||
      static_cast<uint8_t>(bytes[1]) != static_cast<uint8_t>(f) || static_cast<uint8_t>(bytes[2]) != payload_words(f))
    throw damaged("has an unknown layout");
  uint32_t n;
  std::memcpy(&n, bytes.data() + 4, 4);
  if (n > kChunkRows) throw damaged("claims too many rows");
  const uint32_t words = payload_words(f);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + kChunkHeader);
  const auto* end = reinterpret_cast<const unsigned char*>(bytes.data() + bytes.size());
  const size_t first = out.size();
  out.resize(first + n);
  Row* rows = out.data() + first;
  for (uint32_t c = 0; c < 3 + words; ++c) {
    uint64_t prev = 0;
    auto put = [&](uint32_t i, uint64_t w) {
      Row& r = rows[i];
      switch (c) {
        case 0: r.time = static_cast<int64_t>(w + (i ? static_cast<uint64_t>(rows[i - 1].time) : 0)); break;
        case 1: r.seq = w + (i ? rows[i - 1].seq : 0); break;
        case 2:
          r.origin = static_cast<uint32_t>(w >> 16);
          r.flags = static_cast<uint16_t>(w & 0xffff);
          break;
        default: r.payload[c - 3] = w;
      }
    };
    for (uint32_t i = 0; i < n && i < 2; ++i) {
      if (end - p < 8) throw damaged("is truncated");
      uint64_t t;
      std::memcpy(&t, p, 8);
      p += 8;
      const uint64_t w = i == 0 || is_step_column(c) ? t : t ^ prev;
      put(i, w);
      prev = w;
    }
    for (uint32_t start = 2; start < n; start += kBlockRows) {
      const uint32_t m = std::min<uint32_t>(kBlockRows, n - start);
      if (p == end) throw damaged("is truncated");
      const uint32_t width = *p++;
      if (width > 8 || static_cast<size_t>(end - p) < size_t{m} * width) throw damaged("is truncated");
      for (uint32_t k = 0; k < m; ++k) {
        uint64_t xk = 0;
        for (uint32_t b = 0; b < width; ++b) xk |= uint64_t{p[b]} << (8 * b);
        p += width;
        prev ^= xk;
        put(start + k, prev);
      }
    }
  }
  if (p != end) throw damaged("has trailing bytes");
}

// ---- FactSink ---------------------------------------------------------------------------------

FactSink::FactSink(Store& store, size_t max_queued) : store_(store), max_queued_(max_queued) {
  thread_ = std::thread([this] { run(); });
}

FactSink::~FactSink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t FactSink::submit(const SeriesKey& key, uint32_t chunk, std::vector<Row>& rows) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return queue_.size() < max_queued_ || !failure_.empty(); });
  if (!failure_.empty()) throw StoreError(failure_);
  queue_.push_back(Job{key, chunk, std::move(rows)});
  if (!spare_.empty()) {
    rows = std::move(spare_.back());
    spare_.pop_back();
  } else {
    rows = {};
    rows.reserve(kChunkRows);
  }
  cv_.notify_all();
  return ++submitted_;
}

uint64_t FactSink::last_ticket() {
  std::lock_guard lock(mutex_);
  return submitted_;
}

void FactSink::wait(uint64_t ticket) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return written_ >= ticket || !failure_.empty(); });
  if (!failure_.empty()) throw StoreError(failure_);
}

void FactSink::run() {
  rocksdb::WriteBatch batch;
  std::string encoded;
  std::vector<Job> jobs;
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    // Take what is there: one write for many chunks.
    while (!queue_.empty()) {
      jobs.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    std::string error;
    try {
      for (Job& j : jobs) {
        encode_chunk(j.key.family, j.rows.data(), j.rows.size(), encoded);
        batch.Put(store_.cf(Cf::facts), chunk_key(j.key, j.chunk), encoded);
      }
      store_.write_facts(batch);
    } catch (const std::exception& e) {
      error = e.what();
    }
    batch.Clear();
    lock.lock();
    written_ += jobs.size();
    for (Job& j : jobs) {
      j.rows.clear();
      if (spare_.size() < max_queued_) spare_.push_back(std::move(j.rows));
    }
    jobs.clear();
    if (!error.empty() && failure_.empty()) failure_ = error;
    cv_.notify_all();
  }
}

// ---- FactWriter -------------------------------------------------------------------------------

FactWriter::FactWriter(Store& store, FactSink& sink, uint32_t run, const SymbolTable& symbols)
    : store_(store), sink_(sink), run_(run), symbols_(symbols) {}

FactWriter::~FactWriter() = default;

FactWriter::Series* FactWriter::find(Family f, uint32_t symbol, int64_t interval, uint32_t node, uint16_t port,
                                     uint32_t stream) {
  const SeriesKey key{run_, f, symbol, interval, node, port};
  Series* found = nullptr;
  for (auto& s : series_)
    if (s->key == key) {
      found = s.get();
      break;
    }
  if (!found) {
    auto s = std::make_unique<Series>();
    s->key = key;
    s->rows.reserve(kChunkRows);
    found = series_.emplace_back(std::move(s)).get();
    note_name(symbol);
  }
  if (stream >= cache_.size()) cache_.resize(stream + 1, nullptr);
  cache_[stream] = found;
  return found;
}

// Names are few and are not produced again on resume: written at once, through the log.
void FactWriter::note_name(uint32_t id) {
  if (id == 0) return;
  if (id >= named_.size()) named_.resize(id + 1, false);
  if (named_[id]) return;
  named_[id] = true;
  const std::string_view name = symbols_.lookup(id);
  rocksdb::WriteBatch b;
  b.Put(store_.cf(Cf::meta), symbol_name_key(run_, id), rocksdb::Slice(name.data(), name.size()));
  store_.write(b, false, "cannot write symbol names to");
}

void FactWriter::record_in(Family f, const qf_event& e, uint32_t node, uint16_t port) {
  const SeriesKey key{run_, f, e.symbol, 0, node, port};
  Series* s = nullptr;
  for (auto& candidate : series_)
    if (candidate->key == key) {
      s = candidate.get();
      break;
    }
  if (!s) {
    auto fresh = std::make_unique<Series>();
    fresh->key = key;
    s = series_.emplace_back(std::move(fresh)).get();
    note_name(e.symbol);
  }
  s->rows.push_back(Row::of(e));
  ++counts_[static_cast<size_t>(f)];
  if (s->rows.size() == kChunkRows) seal(*s);
}

void FactWriter::record_input(const qf_event& signal, uint32_t node, uint16_t slot, double value, uint16_t kind) {
  const SeriesKey key{run_, Family::signal_inputs, signal.symbol, 0, node, slot};
  Series* s = nullptr;
  for (auto& candidate : series_)
    if (candidate->key == key) {
      s = candidate.get();
      break;
    }
  if (!s) {
    auto fresh = std::make_unique<Series>();
    fresh->key = key;
    fresh->rows.reserve(kChunkRows);
    s = series_.emplace_back(std::move(fresh)).get();
    note_name(signal.symbol);
  }
  Row r;
  r.time = signal.time_ns;
  r.seq = signal.seq;
  std::memcpy(&r.payload[0], &value, sizeof value);
  r.payload[1] = kind;
  s->rows.push_back(r);
  ++counts_[static_cast<size_t>(Family::signal_inputs)];
  if (s->rows.size() == kChunkRows) seal(*s);
}

void FactWriter::seal(Series& s) {
  if (s.key.family == Family::alerts || s.key.family == Family::events)
    for (const Row& r : s.rows) note_name(static_cast<uint32_t>(r.payload[1] & 0xffffffffu));  // qf_alert.text
  sink_.submit(s.key, s.chunk, s.rows);
  ++s.chunk;
}

void FactWriter::flush_all() {
  for (const auto& s : series_) {
    if (s->rows.empty()) continue;
    if (s->key.family == Family::alerts || s->key.family == Family::events)
      for (const Row& r : s->rows) note_name(static_cast<uint32_t>(r.payload[1] & 0xffffffffu));
    partial_.assign(s->rows.begin(), s->rows.end());
    sink_.submit(s->key, s->chunk, partial_);
  }
}

void FactWriter::save(StateWriter& w) const {
  w.put<uint64_t>(series_.size());
  for (const auto& s : series_) {
    w.put<uint8_t>(static_cast<uint8_t>(s->key.family));
    w.put(s->key.symbol);
    w.put(s->key.interval);
    w.put(s->key.node);
    w.put(s->key.port);
    w.put(s->chunk);
    w.put<uint32_t>(static_cast<uint32_t>(s->rows.size()));
  }
  for (uint64_t c : counts_) w.put(c);
}

void FactWriter::restore(StateReader& r) {
  series_.clear();
  cache_.clear();
  const auto n = r.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Series>();
    const auto f = r.get<uint8_t>();
    if (f == 0 || f >= static_cast<uint8_t>(Family::count_)) throw StoreError("checkpoint names an unknown fact family");
    s->key.run = run_;
    s->key.family = static_cast<Family>(f);
    s->key.symbol = r.get<uint32_t>();
    s->key.interval = r.get<int64_t>();
    s->key.node = r.get<uint32_t>();
    s->key.port = r.get<uint16_t>();
    s->chunk = r.get<uint32_t>();
    const auto rows = r.get<uint32_t>();
    s->rows.reserve(kChunkRows);
    if (rows > 0) {
      // The partial chunk written at the checkpoint may since have grown: keep its first rows.
      const std::optional<std::string> bytes = store_.get(Cf::facts, chunk_key(s->key, s->chunk));
      if (!bytes) throw StoreError("the checkpoint's partial chunk of " + std::string(family_name(s->key.family)) + " is missing");
      decode_chunk(*bytes, s->key.family, s->rows);
      if (s->rows.size() < rows) throw StoreError("the checkpoint's partial chunk of " + std::string(family_name(s->key.family)) + " is shorter than recorded");
      s->rows.resize(rows);
    }
    if (s->key.symbol >= named_.size()) named_.resize(s->key.symbol + 1, false);
    named_[s->key.symbol] = true;
    series_.push_back(std::move(s));
  }
  for (uint64_t& c : counts_) c = r.get<uint64_t>();
}

std::vector<FactWriter::Position> FactWriter::positions() const {
  std::vector<Position> out;
  for (const auto& s : series_) out.push_back({s->key, s->chunk, static_cast<uint32_t>(s->rows.size())});
  return out;
}

void discard_after_checkpoint(Store& store, uint32_t run, const std::vector<FactWriter*>& writers) {
  std::vector<FactWriter::Position> known;
  for (const FactWriter* w : writers)
    for (const auto& p : w->positions()) known.push_back(p);
  rocksdb::WriteBatch batch;
  // One seek per series: the first chunk key found names the series, then skip past it.
  auto it = store.iterate(Cf::facts);
  const std::string run_keys = run_prefix(run);
  for (it->Seek(run_keys); it->Valid() && it->key().starts_with(run_keys);) {
    const SeriesKey series = parse_chunk_key(std::string_view(it->key().data(), it->key().size()), nullptr);
    const std::string series_begin = chunk_key(series, 0);
    const std::string series_end = prefix_end(series_begin.substr(0, series_begin.size() - 4));
    if (series.family != Family::events) {
      const auto p = std::find_if(known.begin(), known.end(), [&](const auto& k) { return k.key == series; });
      if (p == known.end()) {
        batch.DeleteRange(store.cf(Cf::facts), series_begin, series_end);
      } else {
        // The partial chunk (rows > 0) is rewritten as it fills; chunks after it go.
        const uint32_t keep = p->chunk + (p->rows > 0 ? 1 : 0);
        batch.DeleteRange(store.cf(Cf::facts), chunk_key(series, keep), series_end);
      }
    }
    it->Seek(series_end);
  }
  if (!it->status().ok()) throw StoreError("cannot read facts from " + store.path().string() + ": " + it->status().ToString());
  if (batch.Count() > 0) store.write(batch, true, "cannot discard an abandoned attempt's facts in");
}

// ---- FactReader -------------------------------------------------------------------------------

FactReader::FactReader(Store& store, uint32_t run, Family f, std::optional<uint32_t> symbol, int64_t from, int64_t to)
    : store_(store),
      it_(store.iterate(Cf::facts)),
      prefix_(symbol ? symbol_prefix(run, f, *symbol) : family_prefix(run, f)),
      family_(f),
      from_(from),
      to_(to) {}

bool FactReader::load_chunk() {
  if (!started_) {
    it_->Seek(prefix_);
    started_ = true;
  } else {
    it_->Next();
  }
  if (!it_->Valid() || !it_->key().starts_with(prefix_)) {
    if (!it_->status().ok())
      throw StoreError("cannot read facts from " + store_.path().string() + ": " + it_->status().ToString() +
                       " (the database is damaged; keep a copy and start a new run folder)");
    return false;
  }
  series_ = parse_chunk_key(std::string_view(it_->key().data(), it_->key().size()), nullptr);
  rows_.clear();
  pos_ = 0;
  try {
    decode_chunk(std::string_view(it_->value().data(), it_->value().size()), family_, rows_);
  } catch (const StoreError& e) {
    throw StoreError(std::string(e.what()) + " in " + store_.path().string());
  }
  return true;
}

bool FactReader::next(Fact& out) {
  for (;;) {
    while (pos_ < rows_.size()) {
      const Row& r = rows_[pos_++];
      if (r.time < from_ || r.time > to_) continue;
      out.series = series_;
      out.row = r;
      return true;
    }
    if (!load_chunk()) return false;
  }
}

}  // namespace qflow::store
