// Hot reload while paper trading, with the real `qflow` binary: a Lua strategy trades on the
// bundled exchange simulator while the test rewrites its file again and again — new versions,
// a syntax error, a failing on_start, a runtime error, a runaway loop — and edits a reloadable
// and a structural part of the pipeline. Every bar is handled by exactly one version, the state
// carries over, orders and fills carry the version that placed them, every attempt is in the
// run's facts, and broken versions never take over (or are rolled back).
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <cctype>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace qflow::testing;
namespace fs = std::filesystem;

namespace {

constexpr size_t kBars = 1500;

// Replaces `path` the way editors save: a new file renamed over the old one.
void save(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

// The strategy, version `label`: counts the bars it handles in `state` (by version()), trades
// every 20 bars, and reports at the end. `body` is inserted into on_bar first.
std::string strategy(const std::string& label, const std::string& body = "", const std::string& extra = "") {
  return "-- version " + label + "\n" + R"(
params = { size = { default = 1, reloadable = true } }
state = { seen = {}, total = 0 }
function on_reload(old)
  old.reloads = (old.reloads or 0) + 1
  return old
end
function on_bar(bar)
)" + body + R"(
  state.total = state.total + 1
  local v = version()
  state.seen[v] = (state.seen[v] or 0) + 1
  if state.total % 20 == 0 then buy(params.size)
  elseif state.total % 20 == 10 and position() > 0 then sell(position()) end
end
function on_stop()
  local keys = {}
  for k in pairs(state.seen) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do log("seen " .. k .. " " .. state.seen[k]) end
  log("total " .. state.total .. " reloads " .. (state.reloads or 0))
end
)" + extra;
}

std::string pipeline_text(const std::string& dir, const std::string& slippage, bool extra_node) {
  std::string text = R"(name: hot_reload_test
mode: paper
output: )" + dir + R"(/out
engine:
  checkpoint_every: 0
simulator:
  port: 0
  speed: 6000
  feeds:
    - symbol: BTCUSDT
      path: btc.csv
      interval: 1m
nodes:
  - id: bars
    type: source.exchange_ws
    params:
      url: ${simulator.url}
      streams: btcusdt@kline_1m
  - id: strategy
    type: lua
    inputs: [bars]
    params:
      script: strategy.lua
      instruction_budget: 200000
  - id: broker
    type: executor.paper
    inputs: {market: bars, orders: strategy}
    params:
      cash: 1000000
      slippage_bps: )" + slippage + R"(
  - id: trades
    type: sink.trades_csv
    inputs: [broker.fills]
)";
  if (extra_node) text += "  - id: extra\n    type: sink.table_csv\n    inputs: [bars]\n";
  return text;
}

// The lines of a growing log file.
struct LogFile {
  std::string path;
  std::string text() const { return read_file(path); }
  size_t count(const std::string& needle) const {
    const std::string t = text();
    size_t n = 0;
    for (size_t at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1)) ++n;
    return n;
  }
  // Waits until `needle` occurs `n` times; false after `seconds`.
  bool wait_for(const std::string& needle, size_t n, double seconds = 10) const {
    return wait_until([&] { return count(needle) >= n; }, seconds);
  }
};

// Every "<prefix>strategy.lua@<12 hex digits> <count>" in `text`, in order.
std::vector<std::pair<std::string, uint64_t>> version_counts(const std::string& text, const std::string& prefix) {
  std::vector<std::pair<std::string, uint64_t>> out;
  const std::string key = prefix + "strategy.lua@";
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    const size_t name_at = at + prefix.size();
    const size_t end = name_at + 13 + 12;  // "strategy.lua@" and the hash
    if (end + 1 >= text.size() || text[end] != ' ' || !std::isdigit(static_cast<unsigned char>(text[end + 1]))) continue;
    out.emplace_back(text.substr(name_at, end - name_at), std::stoull(text.substr(end + 1)));
  }
  return out;
}


}  // namespace

TEST_CASE("a Lua strategy is reloaded while paper trading: exactly once, with its state, and broken versions never trade") {
  const std::string dir = fresh_dir("hot_reload");
  {
    std::ifstream in(std::string(QFLOW_SHARED_DATA_DIR) + "/binance_spot_btcusdt_1m_2024q4.csv");
    std::ofstream out(dir + "/btc.csv");
    std::string line;
    for (size_t i = 0; i <= kBars && std::getline(in, line); ++i) out << line << "\n";
  }
  const std::string script = dir + "/strategy.lua";
  const std::string pipeline = dir + "/paper.yaml";
  save(script, strategy("1"));
  std::ofstream(pipeline) << pipeline_text(dir, "0", false);

  LogFile log{dir + "/log.txt"};
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execl(QFLOW_BINARY, QFLOW_BINARY, "run", "--no-progress", "--control-port", "0", pipeline.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(log.wait_for("subscribed at message", 1));

  // Each step waits for its outcome before the next, so no two saves are merged.
  size_t applied = 0, refused = 0, rolled_back = 0;
  auto expect_applied = [&](const std::string& text) {
    save(script, text);
    ++applied;
    REQUIRE(log.wait_for("reload: node 'strategy' now runs", applied));
  };
  auto expect_refused = [&](const std::string& text, const std::string& why) {
    save(script, text);
    ++refused;
    REQUIRE(log.wait_for("reload refused for node 'strategy'", refused));
    CHECK(log.text().find(why) != std::string::npos);
  };
  expect_applied(strategy("2"));
  expect_refused("function on_bar(bar)\n  x = = 1\nend\n", "strategy.lua:2: syntax error");
  expect_refused(strategy("on_start fails", "", "function on_start() error('not ready') end\n"), "in on_start: not ready");
  expect_applied(strategy("3"));
  // Applied, then fails on its first bar: rolled back to version 3.
  expect_applied(strategy("boom", "  error('boom')"));
  ++rolled_back;
  REQUIRE(log.wait_for("rolled back from", rolled_back));
  // A runaway loop: the instruction budget stops it, and it is rolled back too.
  expect_applied(strategy("runaway", "  while true do end"));
  ++rolled_back;
  REQUIRE(log.wait_for("rolled back from", rolled_back));
  CHECK(log.text().find("instruction budget") != std::string::npos);
  expect_applied(strategy("4"));
  // A reloadable parameter in the pipeline file: the executor's slippage.
  std::ofstream(pipeline + ".tmp") << pipeline_text(dir, "2", false);
  fs::rename(pipeline + ".tmp", pipeline);
  REQUIRE(log.wait_for("reload: node 'broker' now runs", 1));
  // A structural change: refused, nothing applied.
  std::ofstream(pipeline + ".tmp") << pipeline_text(dir, "2", true);
  fs::rename(pipeline + ".tmp", pipeline);
  REQUIRE(log.wait_for("reload refused for the pipeline", 1));
  CHECK(log.text().find("node 'extra' was added: that needs a restart") != std::string::npos);
  // A storm of saves within a second: debounced into one reload.
  const size_t before = log.count("reload: node 'strategy' now runs");
  for (int i = 0; i < 10; ++i) {
    save(script, strategy("storm " + std::to_string(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(log.wait_for("reload: node 'strategy' now runs", before + 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  CHECK(log.count("reload: node 'strategy' now runs") == before + 1);
  ++applied;

  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  const std::string text = log.text();
  INFO(text);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  // Exactly once: the runtime's count of cycles per version adds up to the bars sent.
  const size_t at = text.find("cycles per version: ");
  REQUIRE(at != std::string::npos);
  const std::string per_version = text.substr(at, text.find('\n', at) - at);
  uint64_t cycles = 0;
  std::set<std::string> versions;
  for (const auto& [name, count] : version_counts(per_version, "")) {
    cycles += count;
    versions.insert(name);
  }
  CHECK(cycles == kBars);
  // The state went through every reload: the count of bars handled is every bar but the two
  // that failed, and the script's own per-version counts add up to it.
  const size_t total_at = text.find("total ");
  REQUIRE(total_at != std::string::npos);
  const size_t reloads_at = text.find(" reloads ", total_at);
  REQUIRE(reloads_at != std::string::npos);
  CHECK(std::stoull(text.substr(total_at + 6)) == kBars - rolled_back);
  CHECK(std::stoull(text.substr(reloads_at + 9)) == applied);
  uint64_t seen = 0;
  for (const auto& [name, count] : version_counts(text, "seen ")) seen += count;
  CHECK(seen == kBars - rolled_back);

  // Orders and fills carry the version that placed them; the broken versions placed none.
  const auto orders = nlohmann::json::parse(run_cli("export " + dir + "/out orders --format json").text);
  const auto fills = nlohmann::json::parse(run_cli("export " + dir + "/out fills --format json").text);
  REQUIRE(orders.size() > 20);
  std::map<int64_t, std::string> tag_of;
  for (const auto& o : orders) {
    const std::string tag = o["tag"];
    CHECK(versions.count(tag) == 1);
    tag_of[o["order_id"].get<int64_t>()] = tag;
  }
  std::set<std::string> trading_versions;
  for (const auto& f : fills) {
    CHECK(f["tag"] == tag_of.at(f["order_id"].get<int64_t>()));
    trading_versions.insert(f["tag"].get<std::string>());
  }
  CHECK(trading_versions.size() >= 4);

  // Every attempt is in the run's facts.
  const auto events = nlohmann::json::parse(run_cli("export " + dir + "/out events --format json").text);
  size_t applied_facts = 0, refused_facts = 0;
  for (const auto& e : events) {
    if (e["event"] != "reload") continue;
    const std::string t = e["text"];
    if (t.find(" applied") != std::string::npos) ++applied_facts;
    if (t.find("refused: ") != std::string::npos) ++refused_facts;
  }
  CHECK(applied_facts == applied + 1);  // + the executor's slippage
  CHECK(refused_facts == refused + 1);  // + the structural change
}
