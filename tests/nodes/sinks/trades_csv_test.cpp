#include "sink_test_support.hpp"

#include <catch2/catch.hpp>

#include <charconv>
#include <cmath>
#include <random>

using namespace qflow::testing;

namespace {
const std::string kHeader = "symbol,direction,entry_time,entry_price,exit_time,exit_price,size,pnl_gross,commission,pnl_net";

NodeHarness trades_node(const std::string& dir, std::map<std::string, std::string> params = {}) {
  return NodeHarness(plugin_path("qflow_sinks"), "sink.trades_csv", params, {{"fills", "paper.fills"}}, dir);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1)
    cells.push_back(line.substr(start, comma - start));
  cells.push_back(line.substr(start));
  return cells;
}

double number(const std::string& s) {
  double x = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  REQUIRE(ec == std::errc());
  REQUIRE(p == s.data() + s.size());
  return x;
}
}  // namespace

TEST_CASE("sink.trades_csv: a long trip and a short trip") {
  const std::string dir = fresh_dir("trades_long_short");
  {
    NodeHarness h = trades_node(dir);
    const uint32_t btc = h.intern("BTC"), eth = h.intern("ETH");
    h.start();
    h.push(0, fill(btc, at("2024-01-02T01:00:00Z"), QF_SIDE_BUY, 2, 100, 0.5));
    h.push(0, fill(btc, at("2024-01-02T02:00:00Z"), QF_SIDE_SELL, 2, 110, 0.5));
    h.push(0, fill(eth, at("2024-01-02T03:00:00Z"), QF_SIDE_SELL, 3, 50, 0.25));
    h.push(0, fill(eth, at("2024-01-02T04:00:00.250Z"), QF_SIDE_BUY, 3, 40, 0.25));
    h.stop();
  }
  // BTC: 2 * (110 - 100) = 20, commission 1. ETH short: 3 * (50 - 40) = 30, commission 0.5.
  CHECK(read_text(std::filesystem::path(dir) / "trades.csv") ==
        kHeader + "\n"
                  "BTC,long,2024-01-02T01:00:00Z,100,2024-01-02T02:00:00Z,110,2,20,1,19\n"
                  "ETH,short,2024-01-02T03:00:00Z,50,2024-01-02T04:00:00.250Z,40,3,30,0.5,29.5\n");
}

TEST_CASE("sink.trades_csv: partial entries and exits use the average cost") {
  const std::string dir = fresh_dir("trades_partial");
  NodeHarness h = trades_node(dir);
  h.start();
  const uint32_t spy = h.intern("SPY");
  h.push(0, fill(spy, at("2024-03-01T14:30:00Z"), QF_SIDE_BUY, 1, 100, 1));   // avg 100
  h.push(0, fill(spy, at("2024-03-01T14:31:00Z"), QF_SIDE_BUY, 3, 104, 1));   // avg (100 + 312) / 4 = 103
  h.push(0, fill(spy, at("2024-03-01T14:32:00Z"), QF_SIDE_SELL, 2, 110, 1));  // +2 * 7 = 14, hold 2
  h.push(0, fill(spy, at("2024-03-01T14:33:00Z"), QF_SIDE_BUY, 2, 115, 1));   // avg (206 + 230) / 4 = 109
  h.push(0, fill(spy, at("2024-03-01T14:34:00Z"), QF_SIDE_SELL, 4, 107, 1));  // 4 * (107 - 109) = -8
  h.stop();
  // size 1 + 3 + 2 = 6; entry (100 + 312 + 230) / 6 = 107; exit (220 + 428) / 6 = 108;
  // gross 14 - 8 = 6 (= 6 * (108 - 107)); commission 5; net 1.
  CHECK(read_lines(std::filesystem::path(dir) / "trades.csv") ==
        std::vector<std::string>{kHeader, "SPY,long,2024-03-01T14:30:00Z,107,2024-03-01T14:34:00Z,108,6,6,5,1"});
}

TEST_CASE("sink.trades_csv: a reversing fill is split and its commission prorated") {
  const std::string dir = fresh_dir("trades_reversal");
  NodeHarness h = trades_node(dir);
  h.start();
  const uint32_t x = h.intern("X"), y = h.intern("Y");
  // Long 100, sell 150: 100 close the long (commission 3 * 100/150 = 2), 50 open a short (1).
  h.push(0, fill(x, at("2024-01-01T00:00:00Z"), QF_SIDE_BUY, 100, 10, 1));
  h.push(0, fill(x, at("2024-01-01T01:00:00Z"), QF_SIDE_SELL, 150, 12, 3));
  h.push(0, fill(x, at("2024-01-01T02:00:00Z"), QF_SIDE_BUY, 50, 11, 0.5));
  // Short 10, buy 30: 10 close the short (0.75 * 10/30 = 0.25), 20 open a long (0.5).
  h.push(0, fill(y, at("2024-01-01T03:00:00Z"), QF_SIDE_SELL, 10, 20, 0));
  h.push(0, fill(y, at("2024-01-01T04:00:00Z"), QF_SIDE_BUY, 30, 18, 0.75));
  h.push(0, fill(y, at("2024-01-01T05:00:00Z"), QF_SIDE_SELL, 20, 17, 0.5));
  h.stop();
  CHECK(read_lines(std::filesystem::path(dir) / "trades.csv") ==
        std::vector<std::string>{kHeader,
                                 "X,long,2024-01-01T00:00:00Z,10,2024-01-01T01:00:00Z,12,100,200,3,197",
                                 "X,short,2024-01-01T01:00:00Z,12,2024-01-01T02:00:00Z,11,50,50,1.5,48.5",
                                 "Y,short,2024-01-01T03:00:00Z,20,2024-01-01T04:00:00Z,18,10,20,0.25,19.75",
                                 "Y,long,2024-01-01T04:00:00Z,18,2024-01-01T05:00:00Z,17,20,-20,1,-21"});
}

TEST_CASE("sink.trades_csv: interleaved symbols, open trips left out") {
  const std::string dir = fresh_dir("trades_interleaved");
  NodeHarness h = trades_node(dir, {{"file", "reports/trips.csv"}});
  h.start();
  const uint32_t a = h.intern("A"), b = h.intern("EUR,USD"), c = h.intern("C");
  h.push(0, fill(a, at("2024-01-01T00:00:01Z"), QF_SIDE_BUY, 1, 10));
  h.push(0, fill(b, at("2024-01-01T00:00:02Z"), QF_SIDE_SELL, 2, 20));
  h.push(0, fill(c, at("2024-01-01T00:00:03Z"), QF_SIDE_BUY, 5, 20, 0.1));  // never closed
  h.push(0, fill(a, at("2024-01-01T00:00:04Z"), QF_SIDE_SELL, 1, 15));
  h.push(0, fill(b, at("2024-01-01T00:00:05Z"), QF_SIDE_BUY, 2, 21));
  h.push(0, fill(a, at("2024-01-01T00:00:06Z"), QF_SIDE_SELL, 4, 16));      // reopened, never closed
  h.push(0, fill(c, at("2024-01-01T00:00:07Z"), QF_SIDE_SELL, 2, 30, 0.1));  // partial exit only
  h.stop();
  CHECK(read_lines(std::filesystem::path(dir) / "reports" / "trips.csv") ==
        std::vector<std::string>{kHeader, "A,long,2024-01-01T00:00:01Z,10,2024-01-01T00:00:04Z,15,1,5,0,5",
                                 "\"EUR,USD\",short,2024-01-01T00:00:02Z,20,2024-01-01T00:00:05Z,21,2,-2,0,-2"});
}

TEST_CASE("sink.trades_csv: fractional quantities that sum inexactly still close the trip") {
  const std::string dir = fresh_dir("trades_fractional");
  NodeHarness h = trades_node(dir);
  h.start();
  const uint32_t s = h.intern("ETHUSDT");
  REQUIRE(0.1 + 0.2 != 0.3);  // the premise: held 0.30000000000000004, sold 0.3
  h.push(0, fill(s, at("2024-01-01T00:00:00Z"), QF_SIDE_BUY, 0.1, 100));
  h.push(0, fill(s, at("2024-01-01T00:01:00Z"), QF_SIDE_BUY, 0.2, 100));
  h.push(0, fill(s, at("2024-01-01T00:02:00Z"), QF_SIDE_SELL, 0.3, 110));
  // Flat now: a new buy opens a fresh long that a sell of the same size closes.
  h.push(0, fill(s, at("2024-01-01T00:03:00Z"), QF_SIDE_BUY, 0.7, 120));
  h.push(0, fill(s, at("2024-01-01T00:04:00Z"), QF_SIDE_SELL, 0.7, 119));
  h.stop();
  const auto lines = read_lines(std::filesystem::path(dir) / "trades.csv");
  REQUIRE(lines.size() == 3);
  const auto first = split(lines[1]);
  REQUIRE(first.size() == 10);
  CHECK(first[1] == "long");
  CHECK(first[4] == "2024-01-01T00:02:00Z");
  CHECK(number(first[6]) == 0.1 + 0.2);
  CHECK(number(first[7]) == Approx(3.0).epsilon(1e-12));
  CHECK(split(lines[2])[2] == "2024-01-01T00:03:00Z");
  CHECK(number(split(lines[2])[7]) == Approx(-0.7).epsilon(1e-12));
}

TEST_CASE("sink.trades_csv: matches cash-flow accounting on a random fill stream") {
  // Recompute every trip independently: its boundaries, its size, its cash flow (what the
  // closing fills received minus what the opening fills paid) and the average-cost pnl step by
  // step; over a flat-to-flat trip the last two agree.
  const std::string dir = fresh_dir("trades_random");
  NodeHarness h = trades_node(dir);
  h.start();
  const uint32_t sym = h.intern("R");
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> qty(1, 7), side(0, 1), ticks(3600, 4400);
  struct Expected {
    std::string direction;
    double size = 0, cash = 0;
    double average_cost = 0, realized = 0;  // the average-cost method, step by step
  };
  std::vector<Expected> expected;
  Expected cur;
  long position = 0;
  for (int i = 0; i < 5000; ++i) {
    // About a quarter of the fills flatten the position exactly; the rest add, reduce or reverse.
    const bool flatten = position != 0 && qty(rng) <= 2;
    const int sd = flatten ? (position > 0 ? -1 : 1) : (side(rng) ? 1 : -1);
    const long q = flatten ? std::labs(position) : qty(rng);
    const double price = ticks(rng) * 0.25;
    h.push(0, fill(sym, (i + 1) * qflow::kNanosPerSecond, sd, static_cast<double>(q), price));
    long left = q;
    while (left > 0) {
      if (position == 0) cur = Expected{sd > 0 ? "long" : "short", 0, 0};
      const bool adds = position == 0 || (position > 0) == (sd > 0);
      const long part = adds ? left : std::min(left, std::labs(position));
      const double held = static_cast<double>(std::labs(position)), n = static_cast<double>(part);
      if (adds) {
        cur.size += n;
        cur.average_cost = (held * cur.average_cost + n * price) / (held + n);
      } else {
        cur.realized += n * (price - cur.average_cost) * (position > 0 ? 1 : -1);
      }
      cur.cash -= sd * n * price;
      position += sd * part;
      left -= part;
      if (position == 0) expected.push_back(cur);
    }
  }
  h.stop();
  const auto lines = read_lines(std::filesystem::path(dir) / "trades.csv");
  REQUIRE(expected.size() > 500);
  REQUIRE(lines.size() == expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto cells = split(lines[i + 1]);
    REQUIRE(cells.size() == 10);
    CHECK(cells[1] == expected[i].direction);
    CHECK(number(cells[6]) == expected[i].size);
    CHECK(number(cells[7]) == expected[i].cash);  // quarter prices, whole sizes: all sums exact
    CHECK(number(cells[7]) == Approx(expected[i].realized).margin(1e-6));
    const double sign = expected[i].direction == "long" ? 1.0 : -1.0;
    CHECK(number(cells[7]) == Approx(sign * expected[i].size * (number(cells[5]) - number(cells[3]))).margin(1e-6));
  }
}

TEST_CASE("sink.trades_csv: rows survive a run that never reaches stop") {
  const std::string dir = fresh_dir("trades_no_stop");
  {
    NodeHarness h = trades_node(dir);
    h.start();
    const uint32_t s = h.intern("S");
    h.push(0, fill(s, at("2024-01-01T00:00:00Z"), QF_SIDE_BUY, 1, 1.5));
    h.push(0, fill(s, at("2024-01-01T00:01:00Z"), QF_SIDE_SELL, 1, 2));
  }
  CHECK(read_lines(std::filesystem::path(dir) / "trades.csv") ==
        std::vector<std::string>{kHeader, "S,long,2024-01-01T00:00:00Z,1.5,2024-01-01T00:01:00Z,2,1,0.5,0,0.5"});
}

TEST_CASE("sink.trades_csv: malformed fills and unwritable files are errors") {
  const std::string dir = fresh_dir("trades_errors");
  NodeHarness h = trades_node(dir);
  h.start();
  CHECK_THROWS_WITH(h.push(0, fill(1, 1, QF_SIDE_BUY, 0, 10)), Catch::Contains("positive quantity"));
  CHECK_THROWS_WITH(h.push(0, fill(1, 1, 0, 1, 10)), Catch::Contains("side 0"));
  CHECK_THROWS_WITH(h.push(0, qflow::make_bar(1, 1, 1, 1, 1, 1, 1, 60)), Catch::Contains("got a bar event"));
  CHECK_THROWS_WITH(trades_node(dir + "/trades.csv/sub"), Catch::Contains("trades.csv"));
}
