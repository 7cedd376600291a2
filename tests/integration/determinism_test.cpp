#include "pipeline_run.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace qflow::testing;

namespace {
const std::string kSource = QFLOW_SOURCE_DIR;
}

TEST_CASE("same inputs give byte-identical outputs, with 1 or 2 threads") {
  for (const std::string strategy : {"native", "lua"}) {
    std::string trades, summary;
    for (int threads : {1, 2, 2, 1}) {
      const std::string out = fresh_dir("determinism_" + strategy + std::to_string(threads));
      const PipelineRun run = run_pipeline_file(kSource + "/pipelines/sma_cross_synthetic.yaml",
                                                {{"strategy", strategy}, {"out", out}, {"bars", "300000"}}, threads);
      INFO(run.errors);
      REQUIRE(run.status == 0);
      const std::string t = read_file(out + "/trades.csv"), s = read_file(out + "/summary.json");
      REQUIRE(std::count(t.begin(), t.end(), '\n') > 50);
      if (trades.empty()) {
        trades = t, summary = s;
      } else {
        CHECK(t == trades);
        CHECK(s == summary);
      }
    }
  }
}

TEST_CASE("no look-ahead: a poisoned future changes nothing before it") {
  // Bars after row k are replaced by wild prices; everything decided up to bar k must not move.
  const std::string orig = kSource + "/pipelines/data/orcl_1995_2014_daily_yahoo.csv";
  const std::string poisoned = fresh_dir("poison") + "/poisoned.csv";
  const size_t k = 2500;
  std::string cutoff_date;
  {
    std::ifstream in(orig);
    std::ofstream out(poisoned);
    std::string line;
    std::getline(in, line);
    out << line << "\n";
    for (size_t row = 0; std::getline(in, line); ++row) {
      if (row <= k) {
        if (row == k) cutoff_date = line.substr(0, 10);
        out << line << "\n";
        continue;
      }
      // Date, then prices multiplied by a factor that swings wildly: still a valid bar.
      std::stringstream ss(line);
      std::string f[7];
      for (auto& x : f) std::getline(ss, x, ',');
      const double m = row % 2 ? 50.0 : 0.02;
      out << f[0];
      for (int c = 1; c <= 5; ++c) out << "," << std::stod(f[c]) * m;
      out << "," << f[6] << "\n";
    }
  }
  for (const std::string strategy : {"native", "lua"}) {
    const std::string a = fresh_dir("lookahead_clean_" + strategy), b = fresh_dir("lookahead_poisoned_" + strategy);
    const std::string pipeline = kSource + "/tests/integration/pipelines/lookahead.yaml";
    const PipelineRun ra = run_pipeline_file(pipeline, {{"out", a}, {"strategy", strategy}});
    const PipelineRun rb = run_pipeline_file(pipeline, {{"out", b}, {"strategy", strategy}, {"data", poisoned}});
    INFO(ra.errors << rb.errors);
    REQUIRE(ra.status == 0);
    REQUIRE(rb.status == 0);
    // Indicator table: identical up to and including bar k, different after.
    const auto ta = read_csv(a + "/table.csv"), tb = read_csv(b + "/table.csv");
    REQUIRE(ta.size() == tb.size());
    for (size_t r = 0; r <= k + 1; ++r) CHECK(ta[r] == tb[r]);
    CHECK(ta[k + 5] != tb[k + 5]);
    // Trades closed by bar k+1 (an order decided on bar k fills at the open of k+1, which is
    // already poisoned, so compare trades exited strictly before the cutoff).
    auto closed_before = [&](const std::vector<std::vector<std::string>>& rows) {
      std::vector<std::vector<std::string>> out;
      for (size_t r = 1; r < rows.size(); ++r)
        if (rows[r][4].substr(0, 10) <= cutoff_date) out.push_back(rows[r]);
      return out;
    };
    const auto ca = closed_before(read_csv(a + "/trades.csv")), cb = closed_before(read_csv(b + "/trades.csv"));
    CHECK(ca.size() > 10);
    CHECK(ca == cb);
  }
}

TEST_CASE("a fill reaches the strategy before its next bar") {
  const std::string out = fresh_dir("feedback");
  const PipelineRun run = run_pipeline_file(kSource + "/tests/integration/pipelines/feedback.yaml", {{"out", out}});
  INFO(run.errors);
  REQUIRE(run.status == 0);
  const auto rows = read_csv(out + "/table.csv");
  REQUIRE(rows.size() == 41);
  const size_t col = rows[0].size() - 1;  // the probe's signal: position() seen in on_bar
  for (size_t bar = 1; bar <= 40; ++bar) {
    const double expected = bar >= 6 && bar <= 20 ? 10 : 0;  // bought on 5, filled at 6's open; sold on 20
    INFO("bar " << bar);
    CHECK(std::stod(rows[bar][col]) == expected);
  }
  const auto trades = read_csv(out + "/trades.csv");
  REQUIRE(trades.size() == 2);
  CHECK(trades[1][2] == rows[6][0]);   // entry at bar 6
  CHECK(trades[1][4] == rows[21][0]);  // exit at bar 21
}

TEST_CASE("indicators run a batch at a time or event by event with byte-identical results") {
  // The same pipeline with engine.vectorize false (every node event by event) and true.
  const std::string src = read_file(kSource + "/tests/integration/pipelines/lookahead.yaml");
  const std::string dir = fresh_dir("vectorize");
  for (const std::string mode : {"true", "false"}) {
    std::string text = src;
    text.replace(text.find("nodes:"), 6, "engine:\n  vectorize: " + mode + "\n  batch_size: 333\nnodes:");
    const std::string script = "../../../scripts/strategies/sma_cross.lua";  // relative to the original file
    text.replace(text.find(script), script.size(), kSource + "/scripts/strategies/sma_cross.lua");
    std::ofstream(dir + "/lookahead_" + mode + ".yaml") << text;
  }
  for (const std::string strategy : {"native", "lua"}) {
    std::string table, trades;
    for (const std::string mode : {"true", "false"}) {
      const std::string out = fresh_dir("vectorize_" + strategy + mode);
      const PipelineRun run = run_pipeline_file(dir + "/lookahead_" + mode + ".yaml",
                                                {{"out", out}, {"strategy", strategy},
                                                 {"data", kSource + "/pipelines/data/orcl_1995_2014_daily_yahoo.csv"}});
      INFO(run.errors);
      REQUIRE(run.status == 0);
      const std::string t = read_file(out + "/table.csv"), tr = read_file(out + "/trades.csv");
      REQUIRE(std::count(t.begin(), t.end(), '\n') == 5037);
      if (table.empty()) {
        table = t, trades = tr;
      } else {
        CHECK(t == table);
        CHECK(tr == trades);
      }
    }
  }
}

TEST_CASE("the indicator table is byte-identical vectorized or event by event, whatever the batch size") {
  // indicator_table.yaml: a batch stage of indicators whose answers reach the table sinks as
  // lanes of its batches, beside resample and the pair statistics in a compute stage. Event by
  // event (vectorize false) every node runs in cycles; the tables must not differ by a byte.
  const std::string src = read_file(kSource + "/pipelines/indicator_table.yaml");
  const std::string dir = fresh_dir("vectorize_table");
  struct Mode {
    std::string name, engine;
  };
  const Mode modes[] = {{"cycles", "engine:\n  vectorize: false\n"},
                        {"batch333", "engine:\n  vectorize: true\n  batch_size: 333\n"},
                        {"batch1", "engine:\n  vectorize: true\n  batch_size: 1\n  facts: false\n"},
                        {"batch4096", "engine:\n  vectorize: true\n  batch_size: 4096\n"}};
  std::map<std::string, std::string> first;
  for (const Mode& m : modes) {
    INFO(m.name);
    std::string text = src;
    text.replace(text.find("\nnodes:"), 7, "\n" + m.engine + "nodes:");
    for (const std::string data : {"data/binance_spot_btcusdt_1m_2024q4_head10k.csv", "data/binance_spot_ethusdt_1m_2024q4_head10k.csv"})
      text.replace(text.find(data), data.size(), kSource + "/pipelines/" + data);
    std::ofstream(dir + "/table_" + m.name + ".yaml") << text;
    const std::string out = fresh_dir("vectorize_table_" + m.name);
    const PipelineRun run = run_pipeline_file(dir + "/table_" + m.name + ".yaml", {{"out", out}});
    INFO(run.errors);
    REQUIRE(run.status == 0);
    for (const std::string table : {"indicators.csv", "btc_15m.csv", "pairs.csv"}) {
      const std::string t = read_file(out + "/" + table);
      CHECK(std::count(t.begin(), t.end(), '\n') > 600);
      if (!first.count(table))
        first[table] = t;
      else
        CHECK(t == first[table]);
    }
  }
}
