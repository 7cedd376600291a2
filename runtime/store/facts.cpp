#include "facts.hpp"

#include "keys.hpp"
#include "../symbol_table.hpp"

#include <qflow/state.hpp>

#include <algorithm>
#include <cstddef>
#include <bit>
#include <cstring>
#include <pthread.h>

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

constexpr uint8_t kChunkVersion = 4;
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

constexpr size_t kBlockRows = 128;

// Column order and prediction. Columns are 0 time, 1 seq, 2 origin and flags, 3 + k payload
// word k. Time and seq are kept as steps; every other word is XORed with a reference: by
// default the same column's word in the row before, for two families a better guess taken
// from columns decoded earlier (so those come first in the family's order):
//   bars    open from the previous close (the next bar opens where this one closed), high from
//           max(open, close) and low from min(open, close) (bars without a wick cost nothing)
//   equity  equity from cash + position_value, which is how the paper executor computes it
enum class Ref : uint8_t { previous, previous_close, max_open_close, min_open_close, cash_plus_value };

struct ColumnPlan {
  uint8_t count;
  uint8_t order[9];
  Ref ref[9];  // by column
};

constexpr ColumnPlan plan_of(Family f) {
  ColumnPlan p{};
  p.count = static_cast<uint8_t>(3 + kFamilies[static_cast<size_t>(f)].words);
  for (uint8_t c = 0; c < p.count; ++c) {
    p.order[c] = c;
    p.ref[c] = Ref::previous;
  }
  if (f == Family::bars) {  // open, high, low, close, volume, interval
    constexpr uint8_t order[] = {0, 1, 2, 6, 3, 4, 5, 7, 8};
    for (uint8_t c = 0; c < 9; ++c) p.order[c] = order[c];
    p.ref[3] = Ref::previous_close;
    p.ref[4] = Ref::max_open_close;
    p.ref[5] = Ref::min_open_close;
  } else if (f == Family::equity) {  // cash, equity, position_value, realized_pnl, commission
    constexpr uint8_t order[] = {0, 1, 2, 3, 5, 4, 6, 7};
    for (uint8_t c = 0; c < 8; ++c) p.order[c] = order[c];
    p.ref[4] = Ref::cash_plus_value;
  }
  return p;
}

constexpr auto kPlans = [] {
  std::array<ColumnPlan, static_cast<size_t>(Family::count_)> plans{};
  for (size_t f = 1; f < plans.size(); ++f) plans[f] = plan_of(static_cast<Family>(f));
  return plans;
}();

inline double as_double(uint64_t w) { return std::bit_cast<double>(w); }
inline uint64_t as_word(double d) { return std::bit_cast<uint64_t>(d); }

// The guess for payload word `k` of row `i`, from payload(row, word) of rows decoded so far
// (not used for Ref::previous, which the callers handle in their loops).
template <class Payload>
inline uint64_t reference(Ref ref, Payload payload, uint32_t i) {
  switch (ref) {
    case Ref::previous: break;
    case Ref::previous_close: return i ? payload(i - 1, 3) : 0;
    case Ref::max_open_close: {
      const double o = as_double(payload(i, 0)), c = as_double(payload(i, 3));
      return as_word(o < c ? c : o);
    }
    case Ref::min_open_close: {
      const double o = as_double(payload(i, 0)), c = as_double(payload(i, 3));
      return as_word(c < o ? c : o);
    }
    case Ref::cash_plus_value: return as_word(as_double(payload(i, 0)) + as_double(payload(i, 2)));
  }
  return 0;
}

uint32_t significant_bytes(uint64_t x) { return x ? 8 - static_cast<uint32_t>(__builtin_clzll(x)) / 8 : 0; }

// The residuals of column `c` of `n` packed rows of `stride` words: what the layout stores.
void residuals(const ColumnPlan& plan, uint32_t c, const uint64_t* w, size_t stride, uint32_t n, uint64_t* r) {
  if (n == 0) return;
  const uint64_t* col = w + c;
  if (c < 2) {  // time and seq: steps
    uint64_t prev_step = 0;
    for (uint32_t i = 1; i < n; ++i) {
      const uint64_t step = col[i * stride] - col[(i - 1) * stride];
      r[i] = i == 1 ? step : step ^ prev_step;
      prev_step = step;
    }
    r[0] = col[0];
  } else if (plan.ref[c] == Ref::previous) {
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t x = col[i * stride];
      r[i] = x ^ prev;
      prev = x;
    }
  } else {
    auto payload = [&](uint32_t row, uint32_t k) { return w[row * stride + 3 + k]; };
    for (uint32_t i = 0; i < n; ++i) r[i] = col[i * stride] ^ reference(plan.ref[c], payload, i);
  }
}

// Stores residuals 0 and 1 as 8 raw bytes each, then blocks of up to kBlockRows (see the layout
// comment below encode_chunk). `p` has room for every word at 8 bytes plus 8 of slack.
unsigned char* put_residuals(const uint64_t* r, uint32_t n, unsigned char* p) {
  for (uint32_t i = 0; i < n && i < 2; ++i) {
    std::memcpy(p, &r[i], 8);
    p += 8;
  }
  for (uint32_t start = 2; start < n; start += kBlockRows) {
    const uint32_t m = std::min<uint32_t>(kBlockRows, n - start);
    const uint64_t* b = r + start;
    uint64_t any = 0;
    for (uint32_t k = 0; k < m; ++k) any |= b[k];
    // Counting costs as much as the rest of the block: a block whose first rows all changed (a
    // price) is taken as dense without it.
    uint32_t nonzero = m;
    bool unchanged = false;
    for (uint32_t k = 0; k < m && k < 4; ++k) unchanged |= b[k] == 0;
    if (unchanged) {
      nonzero = 0;
      for (uint32_t k = 0; k < m; ++k) nonzero += b[k] != 0;
    }
    if (any == 0) {
      *p++ = 0;
      continue;
    }
    const uint32_t low = static_cast<uint32_t>(__builtin_ctzll(any)) / 8;
    const uint32_t width = significant_bytes(any) - low;
    const uint32_t shift = 8 * low;
    const uint32_t bitmap = (m + 7) / 8;
    if (bitmap + size_t{nonzero} * width < size_t{m} * width) {
      *p++ = static_cast<unsigned char>(0x80 | low << 4 | width);
      unsigned char* bits = p;
      std::memset(bits, 0, bitmap);
      p += bitmap;
      for (uint32_t k = 0; k < m; ++k) {
        if (b[k] == 0) continue;
        bits[k / 8] = static_cast<unsigned char>(bits[k / 8] | 1u << (k % 8));
        const uint64_t x = b[k] >> shift;
        std::memcpy(p, &x, 8);
        p += width;
      }
    } else {
      *p++ = static_cast<unsigned char>(low << 4 | width);
      for (uint32_t k = 0; k < m; ++k) {
        const uint64_t x = b[k] >> shift;
        std::memcpy(p, &x, 8);  // the buffer has 8 bytes of slack: write whole, advance by width
        p += width;
      }
    }
  }
  return p;
}

}  // namespace

// Layout after the 8-byte header, column by column in the family's order (above): the first
// two residuals as 8 raw bytes each, then blocks of up to kBlockRows residuals. A block opens
// with a byte: 0 when every residual is 0; else bit 7 sparse, bits 4-6 a byte shift s and bits
// 0-3 a width w (1..8, s + w <= 8), followed by bytes s .. s + w - 1 of every residual (dense)
// or of the nonzero ones only, after a bitmap of (rows + 7) / 8 bytes naming them (sparse).
// Steady steps, unchanged flags and slowly moving prices leave few significant bytes, a
// constant column costs a byte per block, a column that changes in a few rows of a block
// (cash, realized profit) a bitmap and those rows.
void encode_packed(Family f, const uint64_t* words, size_t count, std::string& out) {
  const ColumnPlan& plan = kPlans[static_cast<size_t>(f)];
  const auto n = static_cast<uint32_t>(count);
  out.resize(kChunkHeader + size_t{n} * 9 * plan.count + 16 * plan.count + 8);
  auto* base = reinterpret_cast<unsigned char*>(out.data());
  base[0] = kChunkVersion;
  base[1] = static_cast<unsigned char>(f);
  base[2] = static_cast<unsigned char>(plan.count - 3);
  base[3] = 0;
  std::memcpy(base + 4, &n, 4);
  unsigned char* p = base + kChunkHeader;
  thread_local std::vector<uint64_t> column;
  column.resize(n);
  for (uint32_t o = 0; o < plan.count; ++o) {
    residuals(plan, plan.order[o], words, plan.count, n, column.data());
    p = put_residuals(column.data(), n, p);
  }
  out.resize(static_cast<size_t>(p - base));
}

void encode_chunk(Family f, const Row* rows, size_t count, std::string& out) {
  const size_t stride = 3 + payload_words(f);
  std::vector<uint64_t> words(count * stride + kRowWords);
  for (size_t i = 0; i < count; ++i) pack_row(rows[i], &words[i * stride]);
  encode_packed(f, words.data(), count, out);
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
  const ColumnPlan& plan = kPlans[static_cast<size_t>(f)];
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + kChunkHeader);
  const auto* end = reinterpret_cast<const unsigned char*>(bytes.data() + bytes.size());
  const size_t first = out.size();
  out.resize(first + n);
  Row* rows = out.data() + first;
  std::vector<uint64_t> r(n);
  for (uint32_t o = 0; o < plan.count; ++o) {
    // The residuals.
    for (uint32_t i = 0; i < n && i < 2; ++i) {
      if (end - p < 8) throw damaged("is truncated");
      std::memcpy(&r[i], p, 8);
      p += 8;
    }
    for (uint32_t start = 2; start < n; start += kBlockRows) {
      const uint32_t m = std::min<uint32_t>(kBlockRows, n - start);
      if (p == end) throw damaged("is truncated");
      const uint32_t head = *p++;
      const uint32_t width = head & 0x0f, shift = 8 * ((head >> 4) & 7);
      if (head == 0) {
        std::fill_n(&r[start], m, 0);
        continue;
      }
      if (width == 0 || width * 8 + shift > 64) throw damaged("has a block of unknown width");
      bool present[kBlockRows];
      std::fill_n(present, m, true);
      if (head & 0x80) {
        const uint32_t bitmap = (m + 7) / 8;
        if (static_cast<size_t>(end - p) < bitmap) throw damaged("is truncated");
        for (uint32_t k = 0; k < m; ++k) present[k] = (p[k / 8] >> (k % 8)) & 1;
        p += bitmap;
      }
      for (uint32_t k = 0; k < m; ++k) {
        uint64_t x = 0;
        if (present[k]) {
          if (static_cast<size_t>(end - p) < width) throw damaged("is truncated");
          for (uint32_t b = 0; b < width; ++b) x |= uint64_t{p[b]} << (8 * b);
          p += width;
        }
        r[start + k] = x << shift;
      }
    }
    // The column's words from them.
    const uint32_t c = plan.order[o];
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; ++i) {
      Row& row = rows[i];
      switch (c) {
        case 0:
          prev = i < 2 ? r[i] : prev ^ r[i];
          row.time = i ? static_cast<int64_t>(static_cast<uint64_t>(rows[i - 1].time) + prev) : static_cast<int64_t>(r[0]);
          if (i == 0) prev = 0;
          break;
        case 1:
          prev = i < 2 ? r[i] : prev ^ r[i];
          row.seq = i ? rows[i - 1].seq + prev : r[0];
          if (i == 0) prev = 0;
          break;
        case 2:
          prev ^= r[i];
          row.origin = static_cast<uint32_t>(prev >> 16);
          row.flags = static_cast<uint16_t>(prev & 0xffff);
          break;
        default:
          if (plan.ref[c] == Ref::previous) {
            prev ^= r[i];
            row.payload[c - 3] = prev;
          } else {
            auto payload = [&](uint32_t at, uint32_t k) { return rows[at].payload[k]; };
            row.payload[c - 3] = r[i] ^ reference(plan.ref[c], payload, i);
          }
      }
    }
  }
  if (p != end) throw damaged("has trailing bytes");
}

// ---- FactSink ---------------------------------------------------------------------------------

FactSink::FactSink(Store& store, size_t max_queued) : store_(store), max_queued_(max_queued) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "qf-facts");
    run();
  });
}

FactSink::~FactSink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t FactSink::submit(const SeriesKey& key, uint32_t chunk, const uint64_t* words, uint32_t count) {
  std::string bytes;
  {
    std::lock_guard lock(mutex_);
    if (!spare_.empty()) {
      bytes = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  encode_packed(key.family, words, count, bytes);
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return queue_.size() < max_queued_ || !failure_.empty(); });
  if (!failure_.empty()) throw StoreError(failure_);
  queue_.push_back(Job{key, chunk, std::move(bytes)});
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
      for (const Job& j : jobs) batch.Put(store_.cf(Cf::facts), chunk_key(j.key, j.chunk), j.bytes);
      store_.write_facts(batch);
    } catch (const std::exception& e) {
      error = e.what();
    }
    batch.Clear();
    lock.lock();
    written_ += jobs.size();
    for (Job& j : jobs)
      if (spare_.size() < max_queued_) spare_.push_back(std::move(j.bytes));
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
  Series* found = &series_for(SeriesKey{run_, f, symbol, interval, node, port});
  if (stream >= cache_.size()) cache_.resize(stream + 1, nullptr);
  cache_[stream] = found;
  return found;
}

FactWriter::Series& FactWriter::series_for(const SeriesKey& key) {
  for (auto& s : series_)
    if (s->key == key) return *s;
  return add_series(key);
}

FactWriter::Series& FactWriter::add_series(const SeriesKey& key) {
  auto s = std::make_unique<Series>();
  s->key = key;
  s->stride = 3 + payload_words(key.family);
  s->words.assign(kChunkRows * s->stride + kRowWords, 0);
  Series& added = *series_.emplace_back(std::move(s));
  note_name(key.symbol);
  return added;
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
  append(series_for(SeriesKey{run_, f, e.symbol, 0, node, port}), e);
  ++counts_[static_cast<size_t>(f)];
}

void FactWriter::record_input(const qf_event& signal, uint32_t node, uint16_t slot, double value, uint16_t kind) {
  Series* s = &series_for(SeriesKey{run_, Family::signal_inputs, signal.symbol, 0, node, slot});
  Row r;
  r.time = signal.time_ns;
  r.seq = signal.seq;
  std::memcpy(&r.payload[0], &value, sizeof value);
  r.payload[1] = kind;
  pack_row(r, s->words.data() + size_t{s->count} * s->stride);
  ++counts_[static_cast<size_t>(Family::signal_inputs)];
  if (++s->count == kChunkRows) seal(*s);
}

// Alerts and events name their text by a symbol id (qf_alert.text, payload word 1); orders,
// their updates and fills name what placed them by one (the tag).
void FactWriter::note_texts(const Series& s) {
  size_t offset = 0;  // of the 32-bit id in the payload
  switch (s.key.family) {
    case Family::alerts:
    case Family::events: offset = offsetof(qf_alert, text); break;
    case Family::orders: offset = offsetof(qf_order, tag); break;
    case Family::order_updates: offset = offsetof(qf_order_update, tag); break;
    case Family::fills: offset = offsetof(qf_fill, tag); break;
    default: return;
  }
  const size_t word = 3 + offset / 8, shift = (offset % 8) * 8;  // rows hold the payload's raw words (little-endian)
  for (uint32_t i = 0; i < s.count; ++i) note_name(static_cast<uint32_t>((s.words[i * s.stride + word] >> shift) & 0xffffffffu));
}

void FactWriter::seal(Series& s) {
  note_texts(s);
  sink_.submit(s.key, s.chunk, s.words.data(), s.count);
  s.count = 0;
  ++s.chunk;
}

void FactWriter::flush_all() {
  for (const auto& s : series_) {
    if (s->count == 0) continue;
    note_texts(*s);
    sink_.submit(s->key, s->chunk, s->words.data(), s->count);
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
    w.put<uint32_t>(s->count);
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
    s->stride = 3 + payload_words(s->key.family);
    s->words.assign(kChunkRows * s->stride + kRowWords, 0);
    if (rows > 0) {
      // The partial chunk written at the checkpoint may since have grown: keep its first rows.
      const std::optional<std::string> bytes = store_.get(Cf::facts, chunk_key(s->key, s->chunk));
      if (!bytes) throw StoreError("the checkpoint's partial chunk of " + std::string(family_name(s->key.family)) + " is missing");
      std::vector<Row> decoded;
      decode_chunk(*bytes, s->key.family, decoded);
      if (decoded.size() < rows) throw StoreError("the checkpoint's partial chunk of " + std::string(family_name(s->key.family)) + " is shorter than recorded");
      for (uint32_t k = 0; k < rows; ++k) pack_row(decoded[k], s->words.data() + size_t{k} * s->stride);
      s->count = rows;
    }
    if (s->key.symbol >= named_.size()) named_.resize(s->key.symbol + 1, false);
    named_[s->key.symbol] = true;
    series_.push_back(std::move(s));
  }
  for (uint64_t& c : counts_) c = r.get<uint64_t>();
}

std::vector<FactWriter::Position> FactWriter::positions() const {
  std::vector<Position> out;
  for (const auto& s : series_) out.push_back({s->key, s->chunk, s->count});
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
