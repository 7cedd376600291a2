#include "facts.hpp"

#include "keys.hpp"
#include "../symbol_table.hpp"

#include <qflow/state.hpp>

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
    {"equity", QF_KIND_ACCOUNT, 6},
    {"alerts", QF_KIND_ALERT, 3},
};
static_assert(std::size(kFamilies) == static_cast<size_t>(Family::count_));

constexpr uint8_t kChunkVersion = 1;
constexpr size_t kChunkHeader = 8;
constexpr size_t kPendingBytes = 4 << 20;

void put_word(std::string& out, uint64_t w) {
  char b[8];
  std::memcpy(b, &w, 8);
  out.append(b, 8);
}

uint64_t get_word(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

}  // namespace

const char* family_name(Family f) { return kFamilies[static_cast<size_t>(f)].name; }

std::optional<Family> family_from_name(std::string_view name) {
  for (size_t i = 1; i < std::size(kFamilies); ++i)
    if (name == kFamilies[i].name) return static_cast<Family>(i);
  return std::nullopt;
}

std::optional<Family> family_of_kind(uint16_t kind) {
  static constexpr auto table = [] {
    std::array<uint8_t, QF_KIND_COUNT_> t{};
    for (size_t i = 1; i < std::size(kFamilies); ++i) t[kFamilies[i].kind] = static_cast<uint8_t>(i);
    return t;
  }();
  if (kind >= table.size() || table[kind] == 0) return std::nullopt;
  return static_cast<Family>(table[kind]);
}

uint32_t payload_words(Family f) { return kFamilies[static_cast<size_t>(f)].words; }

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

std::string encode_chunk(Family f, const Row* rows, size_t count) {
  const uint32_t words = payload_words(f);
  std::string out;
  out.reserve(kChunkHeader + count * 8 * (3 + words));
  out += static_cast<char>(kChunkVersion);
  out += static_cast<char>(f);
  out += static_cast<char>(words);
  out += '\0';
  const auto n = static_cast<uint32_t>(count);
  char nb[4];
  std::memcpy(nb, &n, 4);
  out.append(nb, 4);
  int64_t prev_time = 0;
  uint64_t prev_seq = 0;
  for (size_t i = 0; i < count; ++i) {
    put_word(out, static_cast<uint64_t>(rows[i].time) - static_cast<uint64_t>(prev_time));
    prev_time = rows[i].time;
  }
  for (size_t i = 0; i < count; ++i) {
    put_word(out, rows[i].seq - prev_seq);
    prev_seq = rows[i].seq;
  }
  for (size_t i = 0; i < count; ++i) put_word(out, (uint64_t{rows[i].origin} << 16) | rows[i].flags);
  for (uint32_t w = 0; w < words; ++w)
    for (size_t i = 0; i < count; ++i) put_word(out, rows[i].payload[w]);
  return out;
}

void decode_chunk(std::string_view bytes, Family f, std::vector<Row>& out) {
  if (bytes.size() < kChunkHeader || static_cast<uint8_t>(bytes[0]) != kChunkVersion ||
      static_cast<uint8_t>(bytes[1]) != static_cast<uint8_t>(f) || static_cast<uint8_t>(bytes[2]) != payload_words(f))
    throw StoreError(std::string("a chunk of ") + family_name(f) + " facts has an unknown layout (damaged database?)");
  uint32_t n;
  std::memcpy(&n, bytes.data() + 4, 4);
  const uint32_t words = payload_words(f);
  if (n > kChunkRows || bytes.size() != kChunkHeader + size_t{n} * 8 * (3 + words))
    throw StoreError(std::string("a chunk of ") + family_name(f) + " facts is truncated (damaged database?)");
  const char* p = bytes.data() + kChunkHeader;
  const size_t base = out.size();
  out.resize(base + n);
  uint64_t t = 0, s = 0;
  for (uint32_t i = 0; i < n; ++i) out[base + i].time = static_cast<int64_t>(t += get_word(p + 8 * i));
  p += 8 * n;
  for (uint32_t i = 0; i < n; ++i) out[base + i].seq = s += get_word(p + 8 * i);
  p += 8 * n;
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t m = get_word(p + 8 * i);
    out[base + i].origin = static_cast<uint32_t>(m >> 16);
    out[base + i].flags = static_cast<uint16_t>(m & 0xffff);
  }
  p += 8 * n;
  for (uint32_t w = 0; w < words; ++w, p += 8 * n)
    for (uint32_t i = 0; i < n; ++i) out[base + i].payload[w] = get_word(p + 8 * i);
}

// ---- FactWriter -------------------------------------------------------------------------------

FactWriter::FactWriter(Store& store, uint32_t run, const SymbolTable& symbols)
    : store_(store), run_(run), symbols_(symbols) {}

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

void FactWriter::note_name(uint32_t id) {
  if (id == 0) return;
  if (id >= named_.size()) named_.resize(id + 1, false);
  if (named_[id]) return;
  named_[id] = true;
  const std::string_view name = symbols_.lookup(id);
  pending_.Put(store_.cf(Cf::meta), symbol_name_key(run_, id), rocksdb::Slice(name.data(), name.size()));
}

void FactWriter::put(const Series& s) {
  if (s.key.family == Family::alerts)
    for (const Row& r : s.rows) note_name(static_cast<uint32_t>(r.payload[1] & 0xffffffffu));  // qf_alert.text
  pending_.Put(store_.cf(Cf::facts), chunk_key(s.key, s.chunk), encode_chunk(s.key.family, s.rows.data(), s.rows.size()));
}

void FactWriter::seal(Series& s) {
  put(s);
  ++s.chunk;
  s.rows.clear();
}

void FactWriter::write_pending() {
  if (pending_.Count() == 0) return;
  store_.write(pending_, false, "cannot write facts to");
  pending_.Clear();
}

void FactWriter::flush_if_large() {
  if (pending_.GetDataSize() >= kPendingBytes) write_pending();
}

void FactWriter::flush_all() {
  for (const auto& s : series_)
    if (!s->rows.empty()) put(*s);
  write_pending();
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

// ---- FactReader -------------------------------------------------------------------------------

FactReader::FactReader(Store& store, uint32_t run, Family f, std::optional<uint32_t> symbol, int64_t from, int64_t to)
    : it_(store.iterate(Cf::facts)),
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
    if (!it_->status().ok()) throw StoreError("cannot read facts: " + it_->status().ToString());
    return false;
  }
  series_ = parse_chunk_key(std::string_view(it_->key().data(), it_->key().size()), nullptr);
  rows_.clear();
  pos_ = 0;
  decode_chunk(std::string_view(it_->value().data(), it_->value().size()), family_, rows_);
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
