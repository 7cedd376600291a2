#include "sink_test_support.hpp"

#include <catch2/catch.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>

using namespace qflow::testing;

namespace {
constexpr uint32_t kBar = QF_KIND_BIT(QF_KIND_BAR);
constexpr uint32_t kValue = QF_KIND_BIT(QF_KIND_VALUE);
constexpr uint32_t kSignal = QF_KIND_BIT(QF_KIND_SIGNAL);

qf_event signal(uint32_t symbol, double value, double confidence, int64_t time_ns = 0) {
  qf_event ev = qflow::make_event(qflow::Kind::signal, symbol, time_ns);
  ev.u.signal.value = value;
  ev.u.signal.confidence = confidence;
  return ev;
}

double parse(const std::string& s) {
  double x = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  REQUIRE(ec == std::errc());
  REQUIRE(p == s.data() + s.size());
  return x;
}
// The fewest significant digits with which printf's %g text reads back to x.
int shortest_precision(double x) {
  for (int p = 1; p <= 17; ++p) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", p, x);
    if (std::strtod(buf, nullptr) == x) return p;
  }
  return 17;
}

int significant_digits(const std::string& cell) {
  std::string digits;
  for (const char c : cell.substr(0, cell.find('e')))
    if (c >= '0' && c <= '9') digits += c;
  const size_t first = digits.find_first_not_of('0'), last = digits.find_last_not_of('0');
  return first == std::string::npos ? 1 : static_cast<int>(last - first + 1);
}
}  // namespace

TEST_CASE("sink.table_csv: bar and value columns under their labels, gaps while warming up") {
  const std::string dir = fresh_dir("table_columns");
  {
    NodeHarness h(plugin_path("qflow_sinks"), "sink.table_csv", {},
                  {{"in", "bars", kBar}, {"in", "fast", kValue}, {"in", "macd.signal", kValue}, {"in", "entry", kSignal}},
                  dir);
    const uint32_t s = h.intern("BTCUSDT");
    const int64_t t0 = at("2024-05-01T00:00:00Z"), minute = 60 * qflow::kNanosPerSecond;
    const auto bar = [&](int i, double close) { return qflow::make_bar(s, t0 + i * minute, 100.5, 101, 99.75, close, 1234, minute); };
    h.start();
    h.push(0, bar(0, 100.25));                                                          // all indicators warming up
    h.cycle({{0, bar(1, 100)}, {1, qflow::make_value(s, 0.1)}});                          // fast ready
    h.cycle({{0, bar(2, 99.5)}, {1, qflow::make_value(s, 1e-7)}, {2, qflow::make_value(s, 1.0 / 3)},
             {3, signal(s, -1, 0.5)}});
    h.cycle({});  // nothing delivered: no on_cycle, no row
    // No bar this cycle: the time and symbol come from the first slot that got something.
    h.cycle({{2, qflow::make_value(s, -0.0, t0 + 3 * minute)}, {1, qflow::make_value(s, 123456789.125, t0 + 3 * minute)}});
    h.stop();
  }
  CHECK(read_text(std::filesystem::path(dir) / "table.csv") ==
        "time,symbol,bars.open,bars.high,bars.low,bars.close,bars.volume,fast,macd.signal,entry\n"
        "2024-05-01T00:00:00Z,BTCUSDT,100.5,101,99.75,100.25,1234,,,\n"
        "2024-05-01T00:01:00Z,BTCUSDT,100.5,101,99.75,100,1234,0.1,,\n"
        "2024-05-01T00:02:00Z,BTCUSDT,100.5,101,99.75,99.5,1234,1e-07,0.3333333333333333,-1\n"
        "2024-05-01T00:03:00Z,BTCUSDT,,,,,,123456789.125,0,\n");
}

TEST_CASE("sink.table_csv: every printed number reads back to the same double") {
  const std::string dir = fresh_dir("table_round_trip");
  const std::vector<double> xs{0.1, 0.1 + 0.2, 1e-7, 1.0 / 3, 2.0 / 3, 70123.45678901234, 5e-324, 1.7976931348623157e308,
                               -2.5e-12, 1e21, 123456789012345678.0, 0.000123};
  {
    NodeHarness h(plugin_path("qflow_sinks"), "sink.table_csv", {{"file", "x.csv"}}, {{"in", "x", kValue}}, dir);
    h.start();
    const uint32_t s = h.intern("S");
    for (size_t i = 0; i < xs.size(); ++i) h.push(0, qflow::make_value(s, xs[i], static_cast<int64_t>(i + 1)));
    h.stop();
  }
  const auto lines = read_lines(std::filesystem::path(dir) / "x.csv");
  REQUIRE(lines.size() == xs.size() + 1);
  CHECK(lines[1] == "1970-01-01T00:00:00.000000001Z,S,0.1");
  CHECK(lines[2].ends_with(",0.30000000000000004"));
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string& line = lines[i + 1];
    const std::string cell = line.substr(line.rfind(',') + 1);
    CHECK(parse(cell) == xs[i]);
    CHECK(significant_digits(cell) == shortest_precision(xs[i]));
  }
}

TEST_CASE("sink.table_csv: layouts from declared kinds, and what is refused") {
  const std::string dir = fresh_dir("table_layouts");
  SECTION("an output that may produce any kind gets one value column") {
    NodeHarness h(plugin_path("qflow_sinks"), "sink.table_csv", {}, {{"in", "lua.out"}, {"in", "feed", QF_KINDS_MARKET}}, dir);
    h.start();
    const uint32_t s = h.intern("ETH");
    h.cycle({{1, qflow::make_bar(s, 5'000'000'000, 1, 2, 0.5, 1.5, 10, 60)}, {0, signal(s, 0.25, 1, 5'000'000'000)}});
    CHECK_THROWS_WITH(h.push(0, qflow::make_bar(s, 6'000'000'000, 1, 1, 1, 1, 1, 60)),
                      Catch::Contains("a bar event arrived"));
    h.stop();
    CHECK(read_lines(std::filesystem::path(dir) / "table.csv") ==
          std::vector<std::string>{"time,symbol,lua.out,feed.open,feed.high,feed.low,feed.close,feed.volume",
                                   "1970-01-01T00:00:05Z,ETH,0.25,1,2,0.5,1.5,10"});
  }
  SECTION("labels that need quoting are quoted") {
    NodeHarness h(plugin_path("qflow_sinks"), "sink.table_csv", {}, {{"in", "a,b", kValue}, {"in", "q\"t", kBar}}, dir);
    h.start();
    h.stop();
    CHECK(read_text(std::filesystem::path(dir) / "table.csv") ==
          "time,symbol,\"a,b\",\"q\"\"t.open\",\"q\"\"t.high\",\"q\"\"t.low\",\"q\"\"t.close\",\"q\"\"t.volume\"\n");
  }
  SECTION("orders have no columns") {
    CHECK_THROWS_WITH(NodeHarness(plugin_path("qflow_sinks"), "sink.table_csv", {},
                                  {{"in", "orders", QF_KIND_BIT(QF_KIND_ORDER)}}, dir),
                      Catch::Contains("input 'orders' carries order"));
  }
}

TEST_CASE("sink.table_csv: several events on one input in a cycle give a row per symbol") {
  const std::string dir = fresh_dir("table_legs");
  {
    NodeHarness h(plugin_path("qflow_sinks"), "sink.table_csv", {},
                  {{"in", "legs", kBar}, {"in", "spread", kValue}, {"in", "eth_vol", kValue}}, dir);
    const uint32_t btc = h.intern("BTCUSDT"), eth = h.intern("ETHUSDT"), pair = h.intern("BTCUSDT/ETHUSDT");
    const int64_t t0 = at("2024-05-01T00:00:00Z"), minute = 60 * qflow::kNanosPerSecond;
    const auto bar = [&](uint32_t s, int i, double close) {
      return qflow::make_bar(s, t0 + i * minute, close - 1, close + 2, close - 3, close, 10 + i, minute);
    };
    h.start();
    // Minute 0: the two legs of an instant on `legs`, BTC first. The spread's symbol has no row
    // of its own: it goes to the first row (BTC); eth_vol is ETH's, so ETH's row, although it
    // arrived before the ETH bar.
    h.cycle({{1, qflow::make_value(pair, 0.5, t0)}, {0, bar(btc, 0, 70000)}, {2, qflow::make_value(eth, 7, t0)},
             {0, bar(eth, 0, 3500)}});
    // Minute 1: ETH arrives first, so its row comes first; spread goes to that first row.
    h.cycle({{0, bar(eth, 1, 3501)}, {0, bar(btc, 1, 70001.5)}, {1, qflow::make_value(pair, -0.25, t0 + minute)}});
    // Minute 2: one event per input again: a single row named after the first input's event,
    // exactly as before (the ETH value shares the BTC row).
    h.cycle({{0, bar(btc, 2, 70002)}, {2, qflow::make_value(eth, 8, t0 + 2 * minute)}});
    // Minute 3: the same symbol twice on one input is one row; the later bar stands.
    h.cycle({{0, bar(btc, 3, 1)}, {0, bar(btc, 3, 2)}});
    h.stop();
  }
  CHECK(read_text(std::filesystem::path(dir) / "table.csv") ==
        "time,symbol,legs.open,legs.high,legs.low,legs.close,legs.volume,spread,eth_vol\n"
        "2024-05-01T00:00:00Z,BTCUSDT,69999,70002,69997,70000,10,0.5,\n"
        "2024-05-01T00:00:00Z,ETHUSDT,3499,3502,3497,3500,10,,7\n"
        "2024-05-01T00:01:00Z,ETHUSDT,3500,3503,3498,3501,11,-0.25,\n"
        "2024-05-01T00:01:00Z,BTCUSDT,70000.5,70003.5,69998.5,70001.5,11,,\n"
        "2024-05-01T00:02:00Z,BTCUSDT,70001,70004,69999,70002,12,,8\n"
        "2024-05-01T00:03:00Z,BTCUSDT,1,4,-1,2,13,,\n");
}
