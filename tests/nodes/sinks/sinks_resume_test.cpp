// Resuming sinks from a checkpoint. For every cut, a node runs the first events, saves its state
// and is destroyed without reaching stop, as by a crash; a fresh node with the same parameters
// (in a process whose symbol ids differ) restores the state, starts and takes the rest. Its file
// must be, byte for byte, the one a node that ran without a break wrote.
#include "sink_test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

using namespace qflow::testing;

namespace {

constexpr uint32_t kBar = QF_KIND_BIT(QF_KIND_BAR);
constexpr uint32_t kValue = QF_KIND_BIT(QF_KIND_VALUE);
constexpr uint32_t kAccount = QF_KIND_BIT(QF_KIND_ACCOUNT);

// One delivery of a cycle, its symbol by name ("" = none): every harness interns for itself.
struct Delivery {
  uint32_t slot;
  std::string symbol;
  qf_event ev;
};
using Cycle = std::vector<Delivery>;

void feed(NodeHarness& h, const std::vector<Cycle>& cycles, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    std::vector<std::pair<uint32_t, qf_event>> deliveries;
    for (const Delivery& d : cycles[i]) {
      qf_event ev = d.ev;
      ev.symbol = d.symbol.empty() ? 0 : h.intern(d.symbol);
      deliveries.push_back({d.slot, ev});
    }
    h.cycle(deliveries);
  }
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// Cuts before every cycle and after the last. The first node either dies right after the
// checkpoint (the file holds what it held then: save_state must have flushed it) or runs on and
// dies later, leaving rows past the checkpoint that the resumed node must drop. `make(dir)`
// creates the node. Returns the uninterrupted run's file.
template <class Make>
std::string check_resume(const std::string& name, Make make, const std::vector<Cycle>& cycles, const std::string& file) {
  const std::filesystem::path whole_dir = fresh_dir(name + "/whole");
  {
    NodeHarness whole = make(whole_dir.string());
    whole.start();
    feed(whole, cycles, 0, cycles.size());
    whole.stop();
  }
  const std::string want = read_text(whole_dir / file);
  for (size_t cut = 0; cut <= cycles.size(); ++cut) {
    for (const bool runs_on : {false, true}) {
      INFO("cut before cycle " << cut << (runs_on ? ", the first node running on past the checkpoint" : ""));
      const std::filesystem::path dir = fresh_dir(name + "/split");
      std::string state;
      std::optional<std::string> at_checkpoint;
      {
        NodeHarness first = make(dir.string());
        first.start();
        feed(first, cycles, 0, cut);
        state = first.save_state();
        if (std::filesystem::exists(dir / file)) at_checkpoint = read_text(dir / file);
        if (runs_on) feed(first, cycles, cut, cycles.size());
      }
      // Destroying the node flushed its buffer; a killed process would have left the file as it
      // was at the checkpoint. One that ran on may have left more than the resumed run rewrites
      // (a row half written when it died, say): all of it must go.
      if (!runs_on && at_checkpoint) write_text(dir / file, *at_checkpoint);
      if (runs_on && at_checkpoint) write_text(dir / file, read_text(dir / file) + "2024-06-03T23:59:00Z,half a row");

      NodeHarness second = make(dir.string());
      second.intern("a symbol only this process knows");  // every other id moves by one
      second.restore_state(state);
      CHECK(second.save_state() == state);  // restored, not yet started: the state as it came
      second.start();
      feed(second, cycles, cut, cycles.size());
      second.stop();
      CHECK(read_text(dir / file) == want);
    }
  }
  return want;
}

// Adds 48 fills on `slot`, one per cycle from cycle `first` on, on three symbols with whole
// quantities: trips that add, reduce, reverse and flatten.
std::vector<Cycle> fill_cycles(uint32_t slot, size_t first, std::vector<Cycle> cycles = {}) {
  const std::vector<std::string> names{"BTC", "ETH", "EUR,USD"};
  std::map<std::string, long> position;
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> pick(0, 2), qty(1, 5), ticks(380, 420);
  for (size_t i = 0; i < 48; ++i) {
    if (first + i >= cycles.size()) cycles.resize(first + i + 1);
    const std::string& s = names[static_cast<size_t>(pick(rng))];
    long& pos = position[s];
    const bool flatten = pos != 0 && qty(rng) <= 2;
    const int side = flatten ? (pos > 0 ? QF_SIDE_SELL : QF_SIDE_BUY) : (qty(rng) <= 3 ? QF_SIDE_BUY : QF_SIDE_SELL);
    const long q = flatten ? std::labs(pos) : qty(rng);
    pos += side * q;
    const int64_t t = at("2024-06-03T09:30:00Z") + static_cast<int64_t>(i) * 60 * qflow::kNanosPerSecond;
    cycles[first + i].push_back({slot, s, fill(0, t, side, static_cast<double>(q), ticks(rng) * 0.25, 0.01 * q)});
  }
  return cycles;
}

// Signed quantity per symbol after the first `n` cycles, from the fills on `slot`.
std::map<std::string, double> positions_after(const std::vector<Cycle>& cycles, uint32_t slot, size_t n) {
  std::map<std::string, double> pos;
  for (size_t i = 0; i < n; ++i)
    for (const Delivery& d : cycles[i])
      if (d.slot == slot) pos[d.symbol] += d.ev.u.fill.side * d.ev.u.fill.quantity;
  return pos;
}

// How many cuts leave a long and a short open at once (so the state must carry open trips).
size_t cuts_with_long_and_short(const std::vector<Cycle>& cycles, uint32_t slot) {
  size_t n = 0;
  for (size_t cut = 0; cut <= cycles.size(); ++cut) {
    bool is_long = false, is_short = false;
    for (const auto& [symbol, q] : positions_after(cycles, slot, cut)) {
      is_long = is_long || q > 0;
      is_short = is_short || q < 0;
    }
    n += is_long && is_short;
  }
  return n;
}

// Bars of two symbols, an average that warms up, account snapshots; cycles with no bar and
// cycles where nothing arrives.
std::vector<Cycle> table_cycles() {
  std::vector<Cycle> cycles;
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> px(90, 110);
  const int64_t t0 = at("2024-06-03T00:00:00Z"), minute = 60 * qflow::kNanosPerSecond;
  double equity = 1e5;
  for (int i = 0; i < 30; ++i) {
    const int64_t t = t0 + i * minute;
    Cycle c;
    if (i % 7 != 3) {  // now and then a cycle with no bar: its time comes from the next slot
      const double o = px(rng), cl = px(rng);
      const double hi = std::max(o, cl) + 0.5, lo = std::min(o, cl) - 0.5;
      c.push_back({0, i % 2 ? "ETH" : "BTC", qflow::make_bar(0, t, o, hi, lo, cl, 10 + i, minute)});
    }
    if (i >= 4) c.push_back({1, "BTC", qflow::make_value(0, px(rng) / 3, t)});  // warms up first
    c.push_back({2, "", account(t, equity += px(rng) - 100)});
    cycles.push_back(c);
    if (i % 9 == 5) cycles.emplace_back();  // a cycle where nothing arrives writes no row
  }
  return cycles;
}

NodeHarness trades_node(const std::string& dir) {
  return NodeHarness(plugin_path("qflow_sinks"), "sink.trades_csv", {}, {{"fills", "paper.fills"}}, dir);
}
NodeHarness table_node(const std::string& dir) {
  return NodeHarness(plugin_path("qflow_sinks"), "sink.table_csv", {{"file", "out/table.csv"}},
                     {{"in", "bars", kBar}, {"in", "fast", kValue}, {"in", "paper.account", kAccount}}, dir);
}

}  // namespace

TEST_CASE("sink.trades_csv: resumed at any fill, the file is the uninterrupted run's") {
  const std::vector<Cycle> cycles = fill_cycles(0, 0);
  REQUIRE(cuts_with_long_and_short(cycles, 0) >= 5);
  const std::string want = check_resume("resume_trades", trades_node, cycles, "trades.csv");
  CHECK(std::count(want.begin(), want.end(), '\n') > 10);  // closed trips: rows to get right
}

TEST_CASE("sink.table_csv: resumed at any cycle, the file is the uninterrupted run's") {
  const std::vector<Cycle> cycles = table_cycles();
  const std::string want = check_resume("resume_table", table_node, cycles, "out/table.csv");
  CHECK(std::count(want.begin(), want.end(), '\n') == 31);  // the header and a row per cycle with events
}

TEST_CASE("sink.summary: resumed at any cycle, summary.json is the uninterrupted run's") {
  // An initial snapshot, then a snapshot and a fill in every cycle.
  std::vector<Cycle> cycles{{{0, "", account(at("2024-06-03T09:29:00Z"), 1e5, true)}}};
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> step(-900, 1000);
  double equity = 1e5;
  for (int i = 0; i < 48; ++i)
    cycles.push_back({{0, "", account(at("2024-06-03T09:30:00Z") + i * 60 * qflow::kNanosPerSecond, equity += step(rng))}});
  cycles = fill_cycles(1, 1, std::move(cycles));
  REQUIRE(cuts_with_long_and_short(cycles, 1) >= 5);
  const auto summary_node = [](const std::string& dir) {
    return NodeHarness(plugin_path("qflow_sinks"), "sink.summary", {{"print", "false"}},
                       {{"account", "paper.account"}, {"fills", "paper.fills"}}, dir);
  };
  const std::string want = check_resume("resume_summary", summary_node, cycles, "summary.json");
  const nlohmann::json j = nlohmann::json::parse(want);
  CHECK(j.at("bars") == 48);
  CHECK(j.at("trades").get<int>() > 5);
}

TEST_CASE("sinks: resuming refuses a file deleted or cut short since the checkpoint") {
  struct Case {
    NodeHarness (*make)(const std::string&);
    std::vector<Cycle> cycles;
    std::string file;
  };
  for (const Case& c :
       {Case{trades_node, fill_cycles(0, 0), "trades.csv"}, Case{table_node, table_cycles(), "out/table.csv"}}) {
    INFO(c.file);
    const std::filesystem::path dir = fresh_dir("resume_refused");
    const std::filesystem::path path = dir / c.file;
    const auto make = [&] { return c.make(dir.string()); };
    const auto& cycles = c.cycles;
    std::string state;
    {
      NodeHarness first = make();
      first.start();
      feed(first, cycles, 0, 30);
      state = first.save_state();
    }
    const uintmax_t size = std::filesystem::file_size(path);
    REQUIRE(size > 100);
    const std::string n = std::to_string(size);

    std::filesystem::resize_file(path, size - 1);
    NodeHarness shorter = make();
    shorter.restore_state(state);
    CHECK_THROWS_WITH(shorter.start(), path.string() + " is shorter than at the checkpoint (" + std::to_string(size - 1) +
                                           " < " + n + " bytes): it was changed since; cannot resume");
    CHECK(std::filesystem::file_size(path) == size - 1);  // left as it was found

    std::filesystem::remove(path);
    NodeHarness missing = make();
    missing.restore_state(state);
    CHECK_THROWS_WITH(missing.start(), path.string() + " is missing (it had " + n +
                                           " bytes at the checkpoint): it was removed since; cannot resume");
    CHECK(!std::filesystem::exists(path));  // not created either
  }
}

TEST_CASE("sink.trades_csv: a state saved before start restores a fresh node, and restoring after start is refused") {
  const auto cycles = fill_cycles(0, 0);
  const std::string whole = fresh_dir("resume_before_start/whole"), dir = fresh_dir("resume_before_start/split");
  {
    NodeHarness h = trades_node(whole);
    h.start();
    feed(h, cycles, 0, cycles.size());
    h.stop();
  }
  const std::string state = trades_node(dir).save_state();
  write_text(std::filesystem::path(dir) / "trades.csv", "left over from another run\n");
  NodeHarness restored = trades_node(dir);
  restored.restore_state(state);
  restored.start();
  feed(restored, cycles, 0, cycles.size());
  restored.stop();
  CHECK(read_text(std::filesystem::path(dir) / "trades.csv") == read_text(std::filesystem::path(whole) / "trades.csv"));

  NodeHarness started = trades_node(dir);
  started.start();
  CHECK_THROWS_WITH(started.restore_state(state), Catch::Contains("trades.csv: state restored after the file was opened"));
}
