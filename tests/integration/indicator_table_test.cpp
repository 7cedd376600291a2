// pipelines/indicator_table.yaml end to end: its three tables have one row per bar and one
// column per output, and the numbers in them equal computations written here from the bar
// columns of the same tables (an SMA, a 15-minute grouping, a Pearson correlation). A Lua
// strategy reads a node of several outputs by `id.output`.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace qflow::testing;

namespace {

const std::string kPipeline = std::string(QFLOW_SOURCE_DIR) + "/pipelines/indicator_table.yaml";

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  size_t col(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    FAIL("no column " << name);
    return 0;
  }
  double num(size_t row, const std::string& name) const { return std::stod(rows.at(row).at(col(name))); }
  bool empty(size_t row, const std::string& name) const { return rows.at(row).at(col(name)).empty(); }
};

Table table(const std::string& path) {
  auto csv = read_csv(path);
  REQUIRE(!csv.empty());
  Table t;
  t.header = csv.front();
  t.rows.assign(csv.begin() + 1, csv.end());
  return t;
}

bool close_to(double got, double want, double tol = 1e-9) { return std::abs(got - want) <= tol * std::max(1.0, std::abs(want)); }

}  // namespace

TEST_CASE("pipelines/indicator_table.yaml: one row per bar, a column per output, numbers equal independent sums") {
  const std::string out = fresh_dir("indicator_table");
  const PipelineRun r = run_pipeline_file(kPipeline, {{"out", out}});
  INFO(r.errors);
  REQUIRE(r.status == 0);

  const Table ind = table(out + "/indicators.csv");
  REQUIRE(ind.rows.size() == 10000);  // every BTC minute of the bundled file
  for (const char* c : {"sma", "ema", "wma", "bbands.middle", "bbands.upper", "bbands.lower", "donchian.upper", "vwap", "rsi",
                        "macd.macd", "macd.signal", "macd.hist", "stoch.slowk", "stoch.slowd", "willr", "cci", "mfi", "obv",
                        "slope", "atr", "adx.adx", "adx.plus_di", "adx.minus_di", "trend", "ret", "vol", "zscore",
                        "regime.regime"})
    (void)ind.col(c);
  // SMA(20): empty before row 19, then the mean of the last 20 closes of the table itself.
  for (size_t i = 0; i < ind.rows.size(); ++i) {
    if (i < 19) {
      CHECK(ind.empty(i, "sma"));
      continue;
    }
    long double sum = 0;
    for (size_t k = i - 19; k <= i; ++k) sum += ind.num(k, "btc.close");
    if (!close_to(ind.num(i, "sma"), static_cast<double>(sum / 20))) FAIL("sma at row " << i);
  }
  // MACD 12/26/9 starts at row 33, all three lines together; hist = macd - signal.
  CHECK(ind.empty(32, "macd.macd"));
  CHECK(ind.empty(32, "macd.signal"));
  CHECK_FALSE(ind.empty(33, "macd.macd"));
  CHECK_FALSE(ind.empty(33, "macd.hist"));
  for (size_t i = 33; i < ind.rows.size(); i += 97)
    CHECK(close_to(ind.num(i, "macd.hist"), ind.num(i, "macd.macd") - ind.num(i, "macd.signal"), 1e-12));
  // ADX(14): +DI from row 14, ADX from row 27.
  CHECK(ind.empty(13, "adx.plus_di"));
  CHECK_FALSE(ind.empty(14, "adx.plus_di"));
  CHECK(ind.empty(26, "adx.adx"));
  CHECK_FALSE(ind.empty(27, "adx.adx"));

  // 15-minute bars: the table's 1-minute rows grouped on the quarter hour.
  const Table q = table(out + "/btc_15m.csv");
  std::map<std::string, std::vector<size_t>> groups;  // bucket start (text) -> 1-minute rows
  for (size_t i = 0; i < ind.rows.size(); ++i) {
    std::string t = ind.rows[i][0];  // 2024-10-01T03:07:00Z
    const int minute = std::stoi(t.substr(14, 2));
    std::string quarter = std::to_string(minute / 15 * 15);
    if (quarter.size() < 2) quarter.insert(quarter.begin(), '0');
    t.replace(14, 2, quarter);
    groups[t].push_back(i);
  }
  REQUIRE(q.rows.size() == groups.size());
  size_t k = 0;
  for (const auto& [start, rows] : groups) {
    INFO("15m bar " << start);
    CHECK(q.rows[k][0] == start);
    CHECK(q.num(k, "btc_15m.open") == ind.num(rows.front(), "btc.open"));
    CHECK(q.num(k, "btc_15m.close") == ind.num(rows.back(), "btc.close"));
    double hi = -1e300, lo = 1e300;
    long double vol = 0;
    for (size_t i : rows) hi = std::max(hi, ind.num(i, "btc.high")), lo = std::min(lo, ind.num(i, "btc.low")), vol += ind.num(i, "btc.volume");
    CHECK(q.num(k, "btc_15m.high") == hi);
    CHECK(q.num(k, "btc_15m.low") == lo);
    CHECK(close_to(q.num(k, "btc_15m.volume"), static_cast<double>(vol), 1e-12));
    ++k;
  }

  // Pairs: one row per ETH minute; the correlation over 120 minutes, two-pass.
  const Table p = table(out + "/pairs.csv");
  REQUIRE(p.rows.size() == 10000);
  CHECK(p.empty(118, "corr"));
  for (size_t i = 119; i < p.rows.size(); i += 131) {
    long double mx = 0, my = 0;
    for (size_t j = i - 119; j <= i; ++j) mx += ind.num(j, "btc.close"), my += p.num(j, "eth.close");
    mx /= 120, my /= 120;
    long double sxy = 0, sxx = 0, syy = 0;
    for (size_t j = i - 119; j <= i; ++j) {
      const long double dx = ind.num(j, "btc.close") - mx, dy = p.num(j, "eth.close") - my;
      sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    INFO("pair row " << i);
    CHECK(close_to(p.num(i, "corr"), static_cast<double>(sxy / std::sqrt(sxx * syy))));
    CHECK(p.rows[i][0] == ind.rows[i][0]);  // the same minute
  }
}

TEST_CASE("a Lua strategy reads a node of several outputs by id.output, and the node's name alone reads the first") {
  const std::string dir = fresh_dir("lua_multi_output");
  // One script gives back what value('macd.signal') read; the other checks value('macd') is the
  // macd line and that macd - signal is the histogram (1 when both hold, 0 otherwise).
  std::ofstream(dir + "/echo.lua") << "function on_bar(bar)\n"
                                      "  local s = value('macd.signal')\n"
                                      "  if s ~= nil then signal(s) end\n"
                                      "end\n";
  std::ofstream(dir + "/check.lua") << "function on_bar(bar)\n"
                                       "  local m, l, s, h = value('macd'), value('macd.macd'), value('macd.signal'), value('macd.hist')\n"
                                       "  if m == nil then return end\n"
                                       "  signal((m == l and math.abs(l - s - h) <= 1e-9 * math.max(1, math.abs(h))) and 1 or 0)\n"
                                       "end\n";
  std::ofstream(dir + "/p.yaml") << "name: lua_multi_output\nmode: backtest\noutput: " << dir << "/out\n"
                                 << "engine: {facts: false}\n"
                                 << "nodes:\n"
                                 << "  - {id: bars, type: source.csv_bars, params: {path: " << QFLOW_SOURCE_DIR
                                 << "/pipelines/data/binance_spot_btcusdt_1m_2024q4_head10k.csv, symbol: BTCUSDT, interval: 1m}}\n"
                                 << "  - {id: macd, type: indicator.macd, inputs: [bars]}\n"
                                 << "  - {id: echo, type: lua, inputs: [bars, macd], params: {script: echo.lua}}\n"
                                 << "  - {id: check, type: lua, inputs: [bars, macd], params: {script: check.lua}}\n"
                                 << "  - {id: t, type: sink.table_csv, inputs: [bars, macd, echo.signals, check.signals], params: {file: t.csv}}\n";
  const PipelineRun r = run_pipeline_file(dir + "/p.yaml", {});
  INFO(r.errors);
  REQUIRE(r.status == 0);
  const Table t = table(dir + "/out/t.csv");
  REQUIRE(t.rows.size() == 10000);
  size_t checked = 0;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    INFO("row " << i);
    REQUIRE(t.empty(i, "macd.signal") == t.empty(i, "echo.signals"));
    if (t.empty(i, "macd.signal")) continue;
    REQUIRE(t.num(i, "echo.signals") == t.num(i, "macd.signal"));
    REQUIRE(t.num(i, "check.signals") == 1.0);
    ++checked;
  }
  CHECK(checked == 10000 - 33);  // MACD 12/26/9 from row 33
}
