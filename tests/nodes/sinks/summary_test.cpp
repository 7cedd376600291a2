#include "sink_test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>

using namespace qflow::testing;
using nlohmann::json;

namespace {
NodeHarness summary_node(const std::string& dir, std::map<std::string, std::string> params = {},
                         bool with_fills = true) {
  std::vector<HarnessSlot> slots{{"account", "paper.account"}};
  if (with_fills) slots.push_back({"fills", "paper.fills"});
  return NodeHarness(plugin_path("qflow_sinks"), "sink.summary", params, slots, dir);
}

// Runs f with the process's stdout sent to a file; returns what was written.
template <class F>
std::string capture_stdout(const std::string& dir, F&& f) {
  const std::string path = dir + "/stdout.txt";
  std::fflush(stdout);
  const int saved = dup(STDOUT_FILENO);
  std::FILE* tmp = std::fopen(path.c_str(), "w");
  REQUIRE(tmp);
  dup2(fileno(tmp), STDOUT_FILENO);
  try {
    f();
  } catch (...) {
    std::fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    std::fclose(tmp);
    throw;
  }
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  std::fclose(tmp);
  return read_text(path);
}

json read_json(const std::string& path) { return json::parse(read_text(path)); }
}  // namespace

TEST_CASE("sink.summary: return, drawdown and bars on a hand-worked equity path") {
  const std::string dir = fresh_dir("summary_path");
  NodeHarness h = summary_node(dir);
  const uint32_t btc = h.intern("BTC");
  h.start();
  h.push(0, account(at("2024-01-01T00:00:00Z"), 1000, true));
  // Peaks 1100 then 1200; drawdowns 110/1100 = 10% and 180/1200 = 15%.
  const double path[] = {1100, 990, 1050, 1200, 1020, 1080};
  for (int i = 0; i < 6; ++i) {
    const int64_t t = at("2024-01-01T00:00:00Z") + (i + 1) * 3600 * qflow::kNanosPerSecond;
    if (i == 1) h.cycle({{0, account(t, path[i])}, {1, fill(btc, t, QF_SIDE_BUY, 1, 100, 0.5)}});
    else if (i == 3) h.cycle({{0, account(t, path[i])}, {1, fill(btc, t, QF_SIDE_SELL, 1, 120, 0.5)}});
    else h.push(0, account(t, path[i]));
  }
  const std::string printed = capture_stdout(dir, [&] { h.stop(); });
  CHECK(printed == "summary: final value 1080.00, return +8.00%, trades 1, max drawdown 15.00%, bars 6\n");

  const json j = read_json(dir + "/summary.json");
  CHECK(j.at("initial_value") == 1000.0);
  CHECK(j.at("final_value") == 1080.0);
  CHECK(j.at("total_return").get<double>() == Approx(0.08).epsilon(1e-12));
  CHECK(j.at("max_drawdown").get<double>() == 0.15);
  CHECK(j.at("bars") == 6);
  CHECK(j.at("trades") == 1);
  CHECK(j.at("winning_trades") == 1);
  CHECK(j.at("pnl_net") == 19.0);  // 20 - 1
  CHECK(j.at("commission") == 1.0);
  CHECK(j.at("first_time") == "2024-01-01T01:00:00Z");
  CHECK(j.at("last_time") == "2024-01-01T06:00:00Z");
}

TEST_CASE("sink.summary: the initial value counts as a peak") {
  SECTION("with an initial snapshot") {
    const std::string dir = fresh_dir("summary_initial_peak");
    NodeHarness h = summary_node(dir, {{"print", "false"}});
    h.push(0, account(1, 1000, true));
    h.push(0, account(2, 950));  // 5% below the initial value
    h.push(0, account(3, 980));
    const std::string printed = capture_stdout(dir, [&] { h.stop(); });
    CHECK(printed.empty());
    const json j = read_json(dir + "/summary.json");
    CHECK(j.at("max_drawdown").get<double>() == 0.05);
    CHECK(j.at("initial_value") == 1000.0);
    CHECK(j.at("total_return").get<double>() == Approx(-0.02).epsilon(1e-12));
    CHECK(j.at("bars") == 2);
  }
  SECTION("without one, the first snapshot is the initial value") {
    const std::string dir = fresh_dir("summary_no_initial");
    NodeHarness h = summary_node(dir, {{"print", "false"}});
    h.push(0, account(2, 950));
    h.push(0, account(3, 980));
    h.push(0, account(4, 931));  // 49/980 = 5%
    h.stop();
    const json j = read_json(dir + "/summary.json");
    CHECK(j.at("initial_value") == 950.0);
    CHECK(j.at("final_value") == 931.0);
    CHECK(j.at("max_drawdown").get<double>() == 49.0 / 980.0);
    CHECK(j.at("total_return").get<double>() == Approx(-0.02).epsilon(1e-12));
    CHECK(j.at("bars") == 3);
  }
}

TEST_CASE("sink.summary: trade counts come from closed round trips") {
  const std::string dir = fresh_dir("summary_trades");
  NodeHarness h = summary_node(dir, {{"file", "out/run.json"}});
  const uint32_t a = h.intern("A"), b = h.intern("B");
  h.push(0, account(0, 10000, true));
  // A: long 10 @ 50 -> sell 10 @ 51: +10 gross, commission 2, net 8 (a win).
  h.push(1, fill(a, 1, QF_SIDE_BUY, 10, 50, 1));
  h.push(1, fill(a, 2, QF_SIDE_SELL, 10, 51, 1));
  // B: short 4 @ 25 -> buy 6 @ 24: closes 4 (+4 gross, commission 1 + 3 * 4/6 = 3, net 1, a win),
  // opens long 2 with commission 1; sell 2 @ 23: -2 gross, commission 1 + 0.5, net -3.5.
  h.push(1, fill(b, 3, QF_SIDE_SELL, 4, 25, 1));
  h.push(1, fill(b, 4, QF_SIDE_BUY, 6, 24, 3));
  h.push(1, fill(b, 5, QF_SIDE_SELL, 2, 23, 0.5));
  // A again: a gross win eaten by commission (+0.5 - 1 = -0.5, not a win), then an open trip.
  h.push(1, fill(a, 6, QF_SIDE_SELL, 1, 50.5, 0.5));
  h.push(1, fill(a, 7, QF_SIDE_BUY, 1, 50, 0.5));
  h.push(1, fill(a, 8, QF_SIDE_BUY, 3, 49, 0.25));
  h.push(0, account(9, 10004.25));
  const std::string printed = capture_stdout(dir, [&] { h.stop(); });
  const json j = read_json(dir + "/out/run.json");
  CHECK(j.at("trades") == 4);
  CHECK(j.at("winning_trades") == 2);
  CHECK(j.at("pnl_net").get<double>() == Approx(8 + 1 - 3.5 - 0.5).epsilon(1e-12));
  CHECK(j.at("commission").get<double>() == 1 + 1 + 1 + 3 + 0.5 + 0.5 + 0.5 + 0.25);  // open trip's included
  CHECK(j.at("bars") == 1);
  CHECK(printed == "summary: final value 10004.25, return +0.04%, trades 4, max drawdown 0.00%, bars 1\n");
}

TEST_CASE("sink.summary: unknowable figures are null") {
  SECTION("no fills connected") {
    const std::string dir = fresh_dir("summary_no_fills");
    NodeHarness h = summary_node(dir, {}, false);
    h.push(0, account(1, 500, true));
    h.push(0, account(2, 400));
    const std::string printed = capture_stdout(dir, [&] { h.stop(); });
    CHECK(printed == "summary: final value 400.00, return -20.00%, max drawdown 20.00%, bars 1\n");
    const json j = read_json(dir + "/summary.json");
    CHECK(j.at("trades").is_null());
    CHECK(j.at("pnl_net").is_null());
    CHECK(j.at("max_drawdown").get<double>() == 0.2);
  }
  SECTION("no account snapshot at all") {
    const std::string dir = fresh_dir("summary_empty");
    NodeHarness h = summary_node(dir);
    const std::string printed = capture_stdout(dir, [&] { h.stop(); });
    CHECK(printed == "summary: no account snapshots, trades 0, bars 0\n");
    const json j = read_json(dir + "/summary.json");
    CHECK(j.at("final_value").is_null());
    CHECK(j.at("total_return").is_null());
    CHECK(j.at("first_time").is_null());
    CHECK(j.at("bars") == 0);
    CHECK(j.at("trades") == 0);
  }
}
