// runtime/store/facts.hpp, the moving parts: FactWriter buffers rows per series and hands
// chunks to a FactSink, which writes them; FactReader reads them back. Checked against the
// test's own list of what was recorded, grouped and ordered as the key layout says: series by
// series (symbol, interval, node, port), each in the order produced.
#include "store_test_support.hpp"

#include "store/checkpoint.hpp"
#include "store/fact_table.hpp"
#include "store/runs.hpp"
#include "symbol_table.hpp"

#include <qflow/state.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>

using namespace qflow::store;
using qflow::SymbolTable;
using store_test::TempDir;

namespace {

constexpr int64_t kMinute = 60'000'000'000;

// One event as a node emitted it, with where it was emitted and how it is recorded.
struct Recorded {
  enum class How { record, input, in_family };
  qf_event e;
  uint32_t node;
  uint16_t port;  // record_input: the input slot
  uint32_t stream;
  int64_t interval;  // the batch's bar interval the runtime passes
  How how = How::record;
  Family family = Family::bars;  // in_family: the family chosen
  double value = 0;              // input: the input's number
  uint16_t input_kind = 0;       // input: its kind
};

// The family of each kind, written out again here (facts.hpp's header comment).
std::optional<Family> family_for(uint16_t kind) {
  switch (kind) {
    case QF_KIND_BAR: return Family::bars;
    case QF_KIND_TICK: return Family::ticks;
    case QF_KIND_QUOTE: return Family::quotes;
    case QF_KIND_VALUE: return Family::values;
    case QF_KIND_SIGNAL: return Family::signals;
    case QF_KIND_ORDER: return Family::orders;
    case QF_KIND_ORDER_UPDATE: return Family::order_updates;
    case QF_KIND_FILL: return Family::fills;
    case QF_KIND_POSITION: return Family::positions;
    case QF_KIND_ACCOUNT: return Family::equity;
    case QF_KIND_ALERT: return Family::alerts;
    default: return std::nullopt;
  }
}

// The words each family keeps (facts.hpp: the payload words it uses).
uint32_t kept_words(Family f) {
  switch (f) {
    case Family::values: return 1;
    case Family::signals:
    case Family::signal_inputs: return 2;
    case Family::alerts:
    case Family::events: return 3;
    case Family::ticks:
    case Family::quotes:
    case Family::positions: return 4;
    case Family::equity: return 5;
    default: return 6;
  }
}

std::optional<Family> family_of(const Recorded& r) {
  switch (r.how) {
    case Recorded::How::input: return Family::signal_inputs;
    case Recorded::How::in_family: return r.family;
    default: return family_for(r.e.kind);
  }
}

struct Output {
  uint32_t node;
  uint16_t port;
  uint32_t stream;
  std::vector<uint16_t> kinds;
  int64_t interval;
  std::vector<uint32_t> symbols;
  int weight;
};

// A few thousand events of every kind from several nodes and symbols; the 1-minute bars of
// AAA alone fill more than two chunks. Times rise (from before the epoch) with the sequence.
std::vector<Recorded> make_events(SymbolTable& symbols, size_t count, uint64_t seed) {
  const uint32_t aaa = symbols.intern("AAA"), bbb = symbols.intern("BBB"), ccc = symbols.intern("CCC");
  const uint32_t margin = symbols.intern("risk: margin"), drawdown = symbols.intern("risk: drawdown");
  const uint32_t resumed = symbols.intern("resumed from checkpoint 3");
  const uint32_t version = symbols.intern("strategy.lua@0123456789ab");  // what tags orders and fills
  const std::vector<Output> outputs{
      {0, 0, 0, {QF_KIND_BAR}, kMinute, {aaa, aaa, aaa, bbb}, 50},
      {1, 0, 1, {QF_KIND_BAR}, 5 * kMinute, {aaa}, 5},
      {2, 0, 2, {QF_KIND_VALUE}, kMinute, {aaa, bbb}, 10},
      {2, 1, 3, {QF_KIND_VALUE}, -kMinute, {aaa}, 2},  // a negative interval sorts first
      {3, 0, 4, {QF_KIND_SIGNAL}, kMinute, {aaa, bbb}, 5},
      {4, 0, 5, {QF_KIND_ORDER}, kMinute, {aaa, bbb}, 3},
      {4, 1, 6, {QF_KIND_FILL}, 0, {aaa, bbb}, 3},
      {4, 2, 7, {QF_KIND_ACCOUNT}, kMinute, {0}, 4},
      {4, 3, 8, {QF_KIND_ORDER_UPDATE}, 0, {aaa, bbb}, 3},
      {5, 0, 9, {QF_KIND_ALERT}, 0, {aaa, ccc}, 2},
      {6, 0, 10, {QF_KIND_TICK, QF_KIND_QUOTE, QF_KIND_CONTROL}, 0, {ccc, bbb}, 6},
      {6, 1, 11, {QF_KIND_POSITION}, 0, {aaa, ccc}, 3},
      {kRuntimeNode, 2, 12, {QF_KIND_ALERT}, 0, {0}, 1},  // the runtime's own events
  };
  int total_weight = 0;
  for (const Output& o : outputs) total_weight += o.weight;
  auto r = store_test::rng(seed);
  std::vector<Recorded> out;
  int64_t t = -3'000'000'000;
  uint64_t seq = 1;
  for (size_t i = 0; i < count; ++i) {
    int pick = static_cast<int>(r() % static_cast<uint64_t>(total_weight));
    size_t k = 0;
    while (pick >= outputs[k].weight) pick -= outputs[k++].weight;
    const Output& o = outputs[k];
    qf_event e{};
    e.kind = o.kinds[r() % o.kinds.size()];
    e.symbol = o.symbols[r() % o.symbols.size()];
    t += static_cast<int64_t>(r() % 3) * 500'000'000;
    seq += r() % 2;
    e.time_ns = t;
    e.seq = seq;
    e.origin = static_cast<uint32_t>(r() % 3);
    e.flags = static_cast<uint16_t>(r() % 5 == 0);
    e.stream = o.stream;
    uint64_t words[6];
    for (uint64_t& w : words) w = r() % 2 ? r() : r() % 100;
    std::memcpy(e.u.raw, words, sizeof words);
    if (e.kind == QF_KIND_ALERT) e.u.alert.text = r() % 2 ? margin : drawdown;
    if (e.kind == QF_KIND_ORDER) e.u.order.tag = r() % 2 ? version : 0;
    if (e.kind == QF_KIND_FILL) e.u.fill.tag = r() % 2 ? version : 0;
    if (e.kind == QF_KIND_ORDER_UPDATE) e.u.order_update.tag = r() % 2 ? version : 0;
    Recorded rec{e, o.node, o.port, o.stream, o.interval};
    if (o.node == kRuntimeNode) {
      rec.how = Recorded::How::in_family;
      rec.family = Family::events;
      rec.e.u.alert.text = resumed;
    }
    out.push_back(rec);
    // With a signal, what each of the node's two inputs held.
    if (e.kind == QF_KIND_SIGNAL)
      for (uint16_t slot = 0; slot < 2; ++slot) {
        Recorded in{e, o.node, slot, o.stream, 0};
        in.how = Recorded::How::input;
        in.value = static_cast<double>(r() % 100000) / 8;
        in.input_kind = slot == 0 ? QF_KIND_BAR : QF_KIND_VALUE;
        out.push_back(in);
      }
  }
  return out;
}

// What the reader must return for `f` (optionally one symbol, times in [from, to]), worked out
// from the recorded events alone.
std::vector<Fact> expected_facts(const std::vector<Recorded>& events, uint32_t run, Family f,
                                 std::optional<uint32_t> symbol = std::nullopt, int64_t from = INT64_MIN,
                                 int64_t to = INT64_MAX) {
  std::vector<Fact> out;
  for (const Recorded& r : events) {
    if (family_of(r) != f) continue;
    if (symbol && r.e.symbol != *symbol) continue;
    if (r.e.time_ns < from || r.e.time_ns > to) continue;
    Fact fact;
    fact.series.run = run;
    fact.series.family = f;
    fact.series.symbol = r.e.symbol;
    fact.series.interval = f == Family::bars || f == Family::values ? r.interval : 0;
    fact.series.node = r.node;
    fact.series.port = r.port;
    fact.row.time = r.e.time_ns;
    fact.row.seq = r.e.seq;
    if (r.how == Recorded::How::input) {
      // The signal's time and seq; the input's number and kind; nothing else.
      std::memcpy(&fact.row.payload[0], &r.value, 8);
      fact.row.payload[1] = r.input_kind;
    } else {
      fact.row.origin = r.e.origin;
      fact.row.flags = r.e.flags;
      uint64_t words[6];
      std::memcpy(words, r.e.u.raw, sizeof words);
      for (uint32_t w = 0; w < kept_words(f); ++w) fact.row.payload[w] = words[w];
    }
    out.push_back(fact);
  }
  auto order = [](const Fact& a) { return std::make_tuple(a.series.symbol, a.series.interval, a.series.node, a.series.port); };
  std::stable_sort(out.begin(), out.end(), [&](const Fact& a, const Fact& b) { return order(a) < order(b); });
  return out;
}

void record(FactWriter& w, const std::vector<Recorded>& events, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    const Recorded& r = events[i];
    switch (r.how) {
      case Recorded::How::record: w.record(r.e, r.node, r.port, r.stream, r.interval); break;
      case Recorded::How::input: w.record_input(r.e, r.node, r.port, r.value, r.input_kind); break;
      case Recorded::How::in_family: w.record_in(r.family, r.e, r.node, r.port); break;
    }
  }
}

void flush(FactWriter& w, FactSink& sink) {
  w.flush_all();
  sink.wait(sink.last_ticket());
}

std::array<uint64_t, static_cast<size_t>(Family::count_)> expected_counts(const std::vector<Recorded>& events, size_t n) {
  std::array<uint64_t, static_cast<size_t>(Family::count_)> c{};
  for (size_t i = 0; i < n; ++i)
    if (auto f = family_of(events[i])) ++c[static_cast<size_t>(*f)];
  return c;
}

std::string save(const FactWriter& w) {
  BlobWriter blob;
  qflow::StateWriter sw(blob.raw());
  w.save(sw);
  return blob.bytes();
}

void restore(FactWriter& w, const std::string& bytes) {
  qflow::StateReader sr(bytes.data(), bytes.size());
  w.restore(sr);
  CHECK(sr.at_end());
}

constexpr uint32_t kRun = 3;

}  // namespace

TEST_CASE("fact writer: every recorded event reads back, by family, by symbol and by time range") {
  TempDir tmp("writer");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  SymbolTable symbols;
  const std::vector<Recorded> events = make_events(symbols, 12000, 31);
  const uint32_t aaa = symbols.intern("AAA"), bbb = symbols.intern("BBB"), ccc = symbols.intern("CCC");

  // The premise: one series holds more than two chunks' worth.
  size_t aaa_minute_bars = 0;
  for (const Recorded& r : events) aaa_minute_bars += r.e.kind == QF_KIND_BAR && r.e.symbol == aaa && r.node == 0;
  REQUIRE(aaa_minute_bars > 2 * kChunkRows);

  FactSink sink(*store, 2);  // a short queue: the writer waits for the sink now and then
  FactWriter writer(*store, sink, kRun, symbols);
  // Another run beside it, through the same sink, must not show up in this run's reads.
  SymbolTable other_symbols;
  const std::vector<Recorded> other_events = make_events(other_symbols, 3000, 32);
  FactWriter other(*store, sink, kRun + 1, other_symbols);
  record(writer, events, 0, events.size() / 2);
  record(other, other_events, 0, other_events.size());
  record(writer, events, events.size() / 2, events.size());
  writer.flush_all();
  other.flush_all();
  sink.wait(sink.last_ticket());

  CHECK(writer.counts() == expected_counts(events, events.size()));
  CHECK(other.counts() == expected_counts(other_events, other_events.size()));

  const int64_t t_first = events.front().e.time_ns, t_last = events.back().e.time_ns;
  const int64_t t_mid = (t_first + t_last) / 2;
  for (Family f : store_test::all_families()) {
    INFO(f);
    const std::vector<Fact> all = expected_facts(events, kRun, f);
    CHECK(!all.empty());
    CHECK(all.size() == writer.counts()[static_cast<size_t>(f)]);
    store_test::require_same(store_test::read_facts(*store, kRun, f), all);
    store_test::require_same(store_test::read_facts(*store, kRun + 1, f), expected_facts(other_events, kRun + 1, f));
    for (uint32_t symbol : {0u, aaa, bbb, ccc, 99u}) {
      INFO("symbol " << symbol);
      store_test::require_same(store_test::read_facts(*store, kRun, f, symbol), expected_facts(events, kRun, f, symbol));
      store_test::require_same(store_test::read_facts(*store, kRun, f, symbol, t_mid, t_mid + 600'000'000'000),
                               expected_facts(events, kRun, f, symbol, t_mid, t_mid + 600'000'000'000));
    }
    // Bounds are inclusive at both ends.
    store_test::require_same(store_test::read_facts(*store, kRun, f, std::nullopt, t_first, t_first),
                             expected_facts(events, kRun, f, std::nullopt, t_first, t_first));
    store_test::require_same(store_test::read_facts(*store, kRun, f, std::nullopt, t_last, t_last),
                             expected_facts(events, kRun, f, std::nullopt, t_last, t_last));
    CHECK(store_test::read_facts(*store, kRun, f, std::nullopt, t_last + 1, INT64_MAX).empty());
    CHECK(store_test::read_facts(*store, kRun + 7, f).empty());
  }
  // The 1-minute bars of AAA: chunks 0, 1, 2 ... with kChunkRows rows in each full one.
  size_t chunks = 0;
  auto it = store->iterate(Cf::facts);
  const std::string prefix = chunk_key(SeriesKey{kRun, Family::bars, aaa, kMinute, 0, 0}, 0).substr(0, 23);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint32_t chunk = 0;
    parse_chunk_key(std::string_view(it->key().data(), it->key().size()), &chunk);
    CHECK(chunk == chunks);
    std::vector<Row> rows;
    decode_chunk(std::string_view(it->value().data(), it->value().size()), Family::bars, rows);
    if ((chunks + 1) * kChunkRows <= aaa_minute_bars) CHECK(rows.size() == kChunkRows);
    else CHECK(rows.size() == aaa_minute_bars - chunks * kChunkRows);
    ++chunks;
  }
  CHECK(chunks == (aaa_minute_bars + kChunkRows - 1) / kChunkRows);

  // The names of the symbols and alert texts the run used, and of nothing else.
  std::map<uint32_t, std::string> names{{aaa, "AAA"}, {bbb, "BBB"}, {ccc, "CCC"}};
  names[symbols.intern("risk: margin")] = "risk: margin";
  names[symbols.intern("risk: drawdown")] = "risk: drawdown";
  names[symbols.intern("resumed from checkpoint 3")] = "resumed from checkpoint 3";
  names[symbols.intern("strategy.lua@0123456789ab")] = "strategy.lua@0123456789ab";
  CHECK(load_names(*store, kRun) == names);
}

TEST_CASE("fact writer: flushing twice, or a partial chunk that later fills, leaves no duplicate") {
  TempDir tmp("refill");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  SymbolTable symbols;
  const std::vector<Recorded> events = make_events(symbols, 9000, 33);
  FactSink sink(*store);
  FactWriter writer(*store, sink, kRun, symbols);
  size_t done = 0;
  for (size_t cut : {size_t{1000}, size_t{1001}, size_t{4000}, size_t{7777}}) {
    record(writer, events, done, cut);
    flush(writer, sink);
    flush(writer, sink);
    done = cut;
  }
  record(writer, events, done, events.size());
  flush(writer, sink);
  for (Family f : store_test::all_families()) {
    INFO(f);
    store_test::require_same(store_test::read_facts(*store, kRun, f), expected_facts(events, kRun, f));
  }
}

TEST_CASE("fact writer: saved and restored into a fresh writer, it writes what one uninterrupted writer writes") {
  SymbolTable symbols;
  const std::vector<Recorded> events = make_events(symbols, 10000, 34);
  // Split points: nothing yet, mid-chunk everywhere, and everything.
  const size_t split = GENERATE(size_t{0}, size_t{1}, size_t{4321}, size_t{9000}, size_t{10000});
  // Whether the first writer went on (and flushed) after its state was saved, as a pipeline
  // does between a checkpoint and a crash: the partial chunks it wrote have grown since.
  const bool went_on = GENERATE(false, true);
  INFO("split at " << split << (went_on ? ", first writer went on" : ""));

  TempDir tmp("resume");
  auto whole = Store::open(tmp / "whole", Store::Mode::read_write);
  std::array<uint64_t, static_cast<size_t>(Family::count_)> whole_counts{};
  {
    FactSink sink(*whole);
    FactWriter w(*whole, sink, kRun, symbols);
    record(w, events, 0, events.size());
    flush(w, sink);
    whole_counts = w.counts();
  }

  auto resumed = Store::open(tmp / "resumed", Store::Mode::read_write);
  std::string state;
  {
    FactSink sink(*resumed);
    FactWriter first(*resumed, sink, kRun, symbols);
    record(first, events, 0, split);
    flush(first, sink);
    state = save(first);
    if (went_on) {
      record(first, events, split, std::min(events.size(), split + 3000));
      flush(first, sink);
    }
  }
  FactSink sink(*resumed);
  FactWriter second(*resumed, sink, kRun, symbols);
  restore(second, state);
  CHECK(second.counts() == expected_counts(events, split));
  record(second, events, split, events.size());
  flush(second, sink);

  CHECK(second.counts() == whole_counts);
  CHECK(whole_counts == expected_counts(events, events.size()));
  for (Family f : store_test::all_families()) {
    INFO(f);
    const auto want = expected_facts(events, kRun, f);
    store_test::require_same(store_test::read_facts(*whole, kRun, f), want);
    store_test::require_same(store_test::read_facts(*resumed, kRun, f), want);
  }
  // Byte for byte: the same chunks under the same keys, and the same names.
  store_test::require_same(store_test::dump(*resumed, Cf::facts), store_test::dump(*whole, Cf::facts));
  CHECK(load_names(*resumed, kRun) == load_names(*whole, kRun));
}

TEST_CASE("fact writer: restoring a state whose partial chunk was never written is refused") {
  TempDir tmp("restore_missing");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  SymbolTable symbols;
  const std::vector<Recorded> events = make_events(symbols, 100, 35);
  FactSink sink(*store);
  FactWriter first(*store, sink, kRun, symbols);
  record(first, events, 0, events.size());
  const std::string state = save(first);  // without flush_all: the partial chunks are not in the store
  FactWriter second(*store, sink, kRun, symbols);
  qflow::StateReader sr(state.data(), state.size());
  CHECK_THROWS_WITH(second.restore(sr), Catch::Contains("partial chunk") && Catch::Contains("missing"));

  // A state naming an unknown family.
  BlobWriter blob;
  qflow::StateWriter sw(blob.raw());
  sw.put<uint64_t>(1);
  sw.put<uint8_t>(0);
  qflow::StateReader bad(blob.bytes().data(), blob.bytes().size());
  CHECK_THROWS_AS(second.restore(bad), StoreError);
}

TEST_CASE("fact writer: writers on two threads share one sink") {
  TempDir tmp("threads");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  SymbolTable symbols;
  std::vector<Recorded> a = make_events(symbols, 8000, 36);
  std::vector<Recorded> b = make_events(symbols, 8000, 37);
  for (Recorded& r : b) {  // the second thread's nodes are others
    r.node += 100;
    r.stream += 100;
  }
  FactSink sink(*store, 3);
  {
    FactWriter wa(*store, sink, kRun, symbols), wb(*store, sink, kRun, symbols);
    std::thread ta([&] {
      record(wa, a, 0, a.size());
      wa.flush_all();
    });
    std::thread tb([&] {
      record(wb, b, 0, b.size());
      wb.flush_all();
    });
    ta.join();
    tb.join();
  }
  sink.wait(sink.last_ticket());
  std::vector<Recorded> both = a;
  both.insert(both.end(), b.begin(), b.end());
  for (Family f : store_test::all_families()) {
    INFO(f);
    store_test::require_same(store_test::read_facts(*store, kRun, f), expected_facts(both, kRun, f));
  }
}

TEST_CASE("fact sink: a failed write is reported to the waiter and to later submits") {
  TempDir tmp("sink_failure");
  const auto db = tmp / "db";
  Store::open(db, Store::Mode::read_write).reset();
  auto ro = Store::open(db, Store::Mode::read_only);  // every write fails
  FactSink sink(*ro);
  std::vector<uint64_t> words(kChunkWords, 5);
  const uint64_t ticket = sink.submit(SeriesKey{1, Family::values, 1, 0, 0, 0}, 0, words.data(), 3);
  CHECK(ticket == 1);
  CHECK(sink.last_ticket() == 1);
  CHECK_THROWS_WITH(sink.wait(ticket), Catch::Contains("read-only") && Catch::Contains(db.string()));
  std::vector<uint64_t> more(kChunkWords);
  CHECK_THROWS_AS(sink.submit(SeriesKey{1, Family::values, 1, 0, 0, 0}, 1, more.data(), 1), StoreError);
}

TEST_CASE("fact sink: tickets count the chunks, waiting for one means every chunk up to it is written") {
  TempDir tmp("tickets");
  auto store = Store::open(tmp / "db", Store::Mode::read_write);
  FactSink sink(*store, 1);
  CHECK(sink.last_ticket() == 0);
  sink.wait(0);  // nothing to wait for
  std::vector<uint64_t> tickets;
  for (uint32_t chunk = 0; chunk < 20; ++chunk) {
    std::vector<uint64_t> words(kChunkWords);
    const size_t stride = 3 + payload_words(Family::values);
    for (uint32_t i = 0; i <= chunk; ++i) words[i * stride] = chunk * 1000 + i;
    tickets.push_back(sink.submit(SeriesKey{1, Family::values, 1, 0, 0, 0}, chunk, words.data(), chunk + 1));
  }
  CHECK(tickets.front() == 1);
  CHECK(tickets.back() == 20);
  CHECK(std::is_sorted(tickets.begin(), tickets.end()));
  sink.wait(tickets.back());
  const auto facts = store_test::read_facts(*store, 1, Family::values);
  REQUIRE(facts.size() == 20 * 21 / 2);
  size_t k = 0;
  for (uint32_t chunk = 0; chunk < 20; ++chunk)
    for (uint32_t i = 0; i <= chunk; ++i) CHECK(facts[k++].row.time == chunk * 1000 + i);
}
