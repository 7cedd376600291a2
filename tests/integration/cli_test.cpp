// The qflow command line as a user runs it: exit codes, every validation error at once,
// node listings, DOT output, Ctrl-C.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace qflow::testing;

extern char** environ;

namespace {

using Output = CliOutput;

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const std::string kSource = QFLOW_SOURCE_DIR;

}  // namespace

TEST_CASE("qflow validate reports every error at once with position, code and suggestion") {
  const std::string dir = fresh_dir("cli_validate");
  const std::string file = write(dir, "broken.yaml", R"(name: broken
variables:
  n: 10
nodes:
  - id: bars
    type: source.synthetic_bars
    params:
      bars: 100
  - id: fast
    type: indicator.smaa
    inputs: [bars]
  - id: slow
    type: indicator.sma
    inputs: [barz]
    params:
      perod: ${n}
  - id: broker
    type: executor.paper
    inputs: {market: bars, orders: slow}
    params:
      cash: -5
)");
  const Output o = run_cli("validate " + file);
  INFO(o.text);
  CHECK(o.code == 2);
  CHECK_THAT(o.text, Catch::Contains(file + ":10:11: E0101 unknown node type 'indicator.smaa' in node 'fast' (did you mean 'indicator.sma'?)"));
  CHECK_THAT(o.text, Catch::Contains(file + ":14:14: E0201 node 'slow' takes input from unknown node 'barz' (did you mean 'bars'?)"));
  CHECK_THAT(o.text, Catch::Contains(file + ":16:7: E0103 unknown parameter 'perod' in node 'slow' (indicator.sma) (did you mean 'period'?)"));
  CHECK_THAT(o.text, Catch::Contains(file + ":12:9: E0104 node 'slow' (indicator.sma) is missing required parameter 'period'"));
  CHECK_THAT(o.text, Catch::Contains(file + ":19:36: E0203"));
  CHECK_THAT(o.text, Catch::Contains(file + ":21:13: E0106 parameter 'cash' is -5, but must be >= 0"));
  CHECK_THAT(o.text, Catch::Contains("6 errors; the pipeline was not started"));

  const Output run = run_cli("run " + file);
  CHECK(run.code == 2);
  CHECK_FALSE(std::filesystem::exists("runs/broken"));
}

TEST_CASE("qflow validate accepts every shipped pipeline") {
  for (const auto& e : std::filesystem::directory_iterator(kSource + "/pipelines")) {
    if (e.path().extension() != ".yaml") continue;
    const Output o = run_cli("validate " + e.path().string());
    INFO(o.text);
    CHECK(o.code == 0);
    CHECK_THAT(o.text, Catch::Contains("valid"));
  }
}

TEST_CASE("every pipeline in pipelines/ runs") {
  for (const auto& e : std::filesystem::directory_iterator(kSource + "/pipelines")) {
    if (e.path().extension() != ".yaml") continue;
    const std::string out = fresh_dir("every_pipeline_" + e.path().stem().string());
    // A paper pipeline replays its feed at full speed here, with its dashboard on any free port.
    const bool paper = read_file(e.path().string()).find("\nsimulator:") != std::string::npos;
    const Output o = run_cli("run --no-progress " + e.path().string() + " --set out=" + out +
                             (paper ? " --set speed=max --control-port 0" : ""));
    INFO(e.path() << "\n" << o.text);
    CHECK(o.code == 0);
    // Each sink's file, by the sinks the pipeline declares (file names as it sets them).
    const std::string text = read_file(e.path().string());
    if (text.find("type: sink.summary") != std::string::npos) CHECK(std::filesystem::exists(out + "/summary.json"));
    if (text.find("type: sink.trades_csv") != std::string::npos) CHECK(std::filesystem::exists(out + "/trades.csv"));
    for (size_t at = text.find("file: "); at != std::string::npos; at = text.find("file: ", at + 1)) {
      const std::string name = text.substr(at + 6, text.find_first_of("}\n", at) - at - 6);
      CHECK(std::filesystem::file_size(out + "/" + name) > 0);
    }
  }
}

TEST_CASE("a runtime failure exits 3 and names the cause") {
  const std::string out = fresh_dir("cli_missing");
  const Output o = run_cli("run " + kSource + "/pipelines/sma_cross.yaml --set data=/nonexistent/bars.csv --set out=" + out);
  INFO(o.text);
  CHECK(o.code == 3);
  CHECK_THAT(o.text, Catch::Contains("/nonexistent/bars.csv"));
  CHECK_THAT(o.text, Catch::Contains("node 'bars' (source.csv_bars)"));
}

TEST_CASE("qflow refuses --set of an undeclared variable, with a suggestion") {
  const Output o = run_cli("validate " + kSource + "/pipelines/sma_cross.yaml --set fsat=5");
  CHECK(o.code == 2);
  CHECK_THAT(o.text, Catch::Contains("E0302 --set fsat: the pipeline declares no variable 'fsat' (did you mean 'fast'?)"));
}

TEST_CASE("qflow nodes lists every node type, --markdown equals the committed docs/nodes.md") {
  const Output json = run_cli("nodes --json");
  REQUIRE(json.code == 0);
  const auto j = nlohmann::json::parse(json.text);
  std::set<std::string> names;
  for (const auto& t : j) names.insert(t["type"].get<std::string>());
  for (const char* expected : {"source.csv_bars", "source.synthetic_bars", "indicator.sma", "indicator.ema", "strategy.sma_cross",
                               "executor.paper", "sink.trades_csv", "sink.summary", "sink.table_csv", "lua"})
    CHECK(names.count(expected) == 1);
  for (const auto& t : j) {
    CHECK_FALSE(t["summary"].get<std::string>().empty());
    for (const auto& p : t["params"]) CHECK_FALSE(p["doc"].get<std::string>().empty());
  }
  const Output md = run_cli("nodes --markdown");
  REQUIRE(md.code == 0);
  const std::string committed = read_file(kSource + "/docs/nodes.md");
  INFO("docs/nodes.md is stale: regenerate it with `qflow nodes --markdown > docs/nodes.md`");
  CHECK(md.text == committed);
}

TEST_CASE("qflow graph prints the pipeline and its stages as DOT") {
  const Output o = run_cli("graph " + kSource + "/pipelines/sma_cross.yaml");
  REQUIRE(o.code == 0);
  CHECK_THAT(o.text, Catch::StartsWith("digraph \"sma_cross\" {"));
  CHECK_THAT(o.text, Catch::Contains("subgraph cluster_"));
  CHECK_THAT(o.text, Catch::Contains("\"fast\" -> \"strategy\""));
  CHECK_THAT(o.text, Catch::Contains("fills (feedback)"));
  // Labels break lines with DOT's \n escape, not a doubled backslash that Graphviz prints.
  CHECK_THAT(o.text, Catch::Contains("\"bars\" [label=\"bars\\nsource.csv_bars\"];"));
  CHECK_THAT(o.text, !Catch::Contains("\\\\n"));
  // The strategy, its indicators and the executor share one stage; each sink has its own.
  CHECK_THAT(o.text, Catch::Contains("label=\"stage sink:trades\""));
  const Output logical = run_cli("graph --logical " + kSource + "/pipelines/sma_cross.yaml");
  CHECK_THAT(logical.text, !Catch::Contains("cluster"));
}

TEST_CASE("qflow version names the plugin ABI") {
  const Output o = run_cli("version");
  CHECK(o.code == 0);
  CHECK_THAT(o.text, Catch::Contains("plugin ABI 1.5"));
}

TEST_CASE("Ctrl-C drains, writes the outputs and exits 130") {
  const std::string out = fresh_dir("cli_interrupt");
  const std::string pipeline = kSource + "/pipelines/sma_cross_synthetic.yaml";
  const std::string set_out = "out=" + out;
  std::vector<std::string> args = {QFLOW_BINARY, "run", "--no-progress", pipeline, "--set", "bars=100000000",
                                   "--set", "strategy=native", "--set", set_out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, QFLOW_BINARY, nullptr, nullptr, argv.data(), environ) == 0);
  // Wait until the run has produced something, then interrupt it.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const auto summary = nlohmann::json::parse(read_file(out + "/summary.json"));
  const auto bars = summary["bars"].get<long long>();
  CHECK(bars > 0);
  CHECK(bars < 100000000);
  CHECK(std::filesystem::exists(out + "/trades.csv"));
}
