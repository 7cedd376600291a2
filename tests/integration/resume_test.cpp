// Crash safety end to end, with the real `qflow` binary: a backtest killed with SIGKILL at
// random moments and resumed with --resume ends with exactly the files and facts of a run that
// was never interrupted, byte for byte; so does one stopped with Ctrl-C. A changed pipeline is
// not resumed unless forced, a full disk fails cleanly and keeps what was committed, and a
// damaged database is refused with a message instead of a crash.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace qflow::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

const std::string kSource = QFLOW_SOURCE_DIR;

// The pipeline under test: synthetic minute bars, two averages, the crossover strategy (Lua
// or native), the paper executor, and every sink. Checkpoints every 20,000 events, so that
// where they fall does not depend on the machine's speed.
std::string write_pipeline(const std::string& dir, const std::string& extra_engine = "") {
  const std::string path = dir + "/crash.yaml";
  std::ofstream(path) << R"(name: crash_test
seed: 3
output: ${out}
engine:
  checkpoint_every: 0
  checkpoint_events: 20000
)" << extra_engine << R"(variables:
  out: out
  bars: 300000
  strategy: native
  fast: 10
nodes:
  - id: bars
    type: source.synthetic_bars
    params:
      bars: ${bars}
      symbol: SYN
      interval: 1m
      volatility: 0.002
      seed: 11
  - id: fast
    type: indicator.sma
    inputs: [bars]
    params:
      period: ${fast}
  - id: slow
    type: indicator.ema
    inputs: [bars]
    params: {period: 30}
  - id: strategy
    inputs: [bars, fast, slow]
    variant: ${strategy}
    variants:
      lua:
        type: lua
        params: {script: )" << kSource << R"(/scripts/strategies/sma_cross.lua, size: 1}
      native:
        type: strategy.sma_cross
        params: {size: 1}
  - id: broker
    type: executor.paper
    inputs: {market: bars, orders: strategy}
    params: {commission: 0.001}
  - id: trades
    type: sink.trades_csv
    inputs: [broker.fills]
  - id: summary
    type: sink.summary
    inputs: {account: broker.account, fills: broker.fills}
    params: {print: false}
  - id: table
    type: sink.table_csv
    inputs: [bars, fast, slow, broker.account]
)";
  return path;
}

struct Child {
  pid_t pid = -1;
};

// Starts `qflow args...` with stdout and stderr to `log`; with `file_limit` > 0 the process may
// not write files beyond that many bytes (a full disk, as far as it can tell).
Child spawn(const std::vector<std::string>& args, const std::string& log, rlim_t file_limit = 0) {
  std::vector<std::string> all{QFLOW_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (!f) _exit(126);
    dup2(fileno(stdout), STDERR_FILENO);
    if (file_limit > 0) {
      std::signal(SIGXFSZ, SIG_IGN);  // a write beyond the limit fails with EFBIG instead
      const rlimit lim{file_limit, file_limit};
      setrlimit(RLIMIT_FSIZE, &lim);
    }
    execv(QFLOW_BINARY, argv.data());
    _exit(127);
  }
  return Child{pid};
}

int wait_exit(Child c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// A run that ends by a signal nobody sent it (an abort, a sanitizer's report) shows its log, so
// that the failure explains itself.
int run_qflow(const std::vector<std::string>& args, const std::string& log, rlim_t file_limit = 0) {
  const int code = wait_exit(spawn(args, log, file_limit));
  if (code < 0) {
    const std::string text = read_file(log);
    std::fprintf(stderr, "qflow died of signal %d; the last of %s:\n%s\n", -code, log.c_str(),
                 text.substr(text.size() > 20000 ? text.size() - 20000 : 0).c_str());
  }
  return code;
}

std::vector<std::string> run_args(const std::string& pipeline, const std::string& out, const std::string& strategy,
                                  const std::string& bars) {
  return {"run", "--no-progress", pipeline, "--set", "out=" + out, "--set", "strategy=" + strategy, "--set", "bars=" + bars};
}

const std::vector<std::string> kOutputFiles{"trades.csv", "summary.json", "table.csv"};
const std::vector<std::string> kFamilies{"bars", "values", "orders", "order_updates", "fills", "equity"};

// Every output file and every family of facts (exported as CSV) of two run folders are equal.
void require_same_outputs(const std::string& expected, const std::string& actual) {
  for (const std::string& f : kOutputFiles) {
    INFO("file " << f);
    const std::string a = read_file(expected + "/" + f), b = read_file(actual + "/" + f);
    REQUIRE(!a.empty());
    CHECK(a.size() == b.size());
    CHECK(a == b);
  }
  for (const std::string& fam : kFamilies) {
    INFO("facts " << fam);
    const std::string ea = expected + "/export_" + fam + ".csv", eb = actual + "/export_" + fam + ".csv";
    REQUIRE(run_qflow({"export", expected, fam, "-o", ea}, expected + "/export.log") == 0);
    REQUIRE(run_qflow({"export", actual, fam, "-o", eb}, actual + "/export.log") == 0);
    const std::string a = read_file(ea), b = read_file(eb);
    CHECK(std::count(a.begin(), a.end(), '\n') > 1);
    CHECK(a.size() == b.size());
    CHECK(a == b);
  }
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The run records of a run folder; empty while it has no database yet.
nlohmann::json try_runs_json(const std::string& out) {
  const std::string log = out + "/runs.json";
  if (run_qflow({"runs", out, "--json"}, log) != 0) return nlohmann::json::array();
  return nlohmann::json::parse(read_file(log));
}

nlohmann::json runs_json(const std::string& out) {
  const std::string log = out + "/runs.json";
  REQUIRE(run_qflow({"runs", out, "--json"}, log) == 0);
  return nlohmann::json::parse(read_file(log));
}

struct Crashes {
  int landed = 0;           // kills that landed while the run was going
  int after_checkpoint = 0;  // of those, kills after a checkpoint was committed (a real resume)
};

// Kills a run at random moments, resuming after each kill, then lets the last one finish.

Crashes crash_and_resume(const std::string& pipeline, const std::string& out, const std::string& strategy,
                         const std::string& bars, double reference_seconds, uint32_t seed) {
  std::mt19937 rng(seed);
  // The first kill anywhere in the run; later ones early, as less is left each time.
  std::uniform_real_distribution<double> first(0.1 * reference_seconds, 0.8 * reference_seconds);
  std::uniform_real_distribution<double> later(0.02 * reference_seconds, 0.2 * reference_seconds);
  Crashes crashes;
  std::vector<std::string> args = run_args(pipeline, out, strategy, bars);
  for (int attempt = 0; attempt < 6 && crashes.landed < 3; ++attempt) {
    const double delay = attempt == 0 ? first(rng) : later(rng);
    const Child c = spawn(args, out + "/attempt" + std::to_string(attempt) + ".log");
    const auto t0 = Clock::now();
    int status = 0;
    bool exited = false;
    while (seconds_since(t0) < delay)
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
        exited = true;
        break;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    if (exited) {
      // It finished before the kill: nothing left to resume.
      REQUIRE(WIFEXITED(status));
      REQUIRE(WEXITSTATUS(status) == 0);
      return crashes;
    }
    kill(c.pid, SIGKILL);
    waitpid(c.pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    const nlohmann::json runs = try_runs_json(out);
    if (runs.empty()) {
      // Killed before its database existed: the next attempt starts the run.
      continue;
    }
    REQUIRE(runs.size() == 1);
    const std::string state = runs[0]["status"];
    if (state == "completed") return crashes;  // killed while exiting, after the run was closed
    // The record says the run did not end; the next attempt resumes it.
    CHECK(state.rfind("crashed", 0) == 0);
    ++crashes.landed;
    if (runs[0]["checkpoints"].get<int>() > 0) ++crashes.after_checkpoint;
    if (args.back() != "--resume") args.push_back("--resume");
  }
  const int code = run_qflow(args, out + "/final.log");
  INFO(read_file(out + "/final.log"));
  REQUIRE(code == 0);
  return crashes;
}

}  // namespace

TEST_CASE("A backtest killed with SIGKILL at random moments and resumed gives the uninterrupted run's outputs and facts") {
  const std::string dir = fresh_dir("resume_sigkill");
  const std::string pipeline = write_pipeline(dir);
  for (const std::string strategy : {"native", "lua"}) {
    INFO("strategy " << strategy);
    const std::string bars = "300000";
    const std::string reference = dir + "/reference_" + strategy;
    fs::create_directories(reference);
    const auto t0 = Clock::now();
    REQUIRE(run_qflow(run_args(pipeline, reference, strategy, bars), reference + "/run.log") == 0);
    const double seconds = seconds_since(t0);
    // A busy machine can let an attempt finish before its kill: then the sequence starts over
    // in a fresh folder, so that every comparison follows at least two kills mid-run.
    int landed = 0;
    for (int round = 0; round < 4 && landed < 2; ++round) {
      const std::string crashed = dir + "/crashed_" + strategy + std::to_string(round);
      fs::create_directories(crashed);
      const uint32_t seed = std::random_device{}();
      INFO("round " << round << ": kill times drawn with seed " << seed << " over a " << seconds << " s run");
      const Crashes crashes = crash_and_resume(pipeline, crashed, strategy, bars, seconds, seed);
      landed = crashes.landed;
      require_same_outputs(reference, crashed);
      const nlohmann::json runs = runs_json(crashed);
      REQUIRE(runs.size() == 1);
      CHECK(runs[0]["status"] == "completed");
      CHECK(runs[0]["events"].get<long long>() == std::stoll(bars));
      // A crash before the first checkpoint starts the run over; after one, the run resumes.
      if (crashes.after_checkpoint > 0) CHECK(runs[0]["resumes"].get<int>() >= 1);
    }
    CHECK(landed >= 2);
  }
}

TEST_CASE("Ctrl-C checkpoints at the drained point and --resume continues to the uninterrupted outputs") {
  const std::string dir = fresh_dir("resume_sigint");
  const std::string pipeline = write_pipeline(dir);
  const std::string reference = dir + "/reference", stopped = dir + "/stopped";
  fs::create_directories(reference);
  fs::create_directories(stopped);
  const std::string bars = "600000";
  REQUIRE(run_qflow(run_args(pipeline, reference, "native", bars), reference + "/run.log") == 0);
  const Child c = spawn(run_args(pipeline, stopped, "native", bars), stopped + "/run.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(c.pid, SIGINT);
  const int code = wait_exit(c);
  if (code == 0) {
    WARN("the run finished before Ctrl-C arrived; nothing to resume");
  } else {
    REQUIRE(code == 130);
    const nlohmann::json runs = runs_json(stopped);
    REQUIRE(runs[0]["status"] == "interrupted");
    CHECK(runs[0]["events"].get<long long>() < 600000);
    REQUIRE(run_qflow([&] {
              auto a = run_args(pipeline, stopped, "native", bars);
              a.push_back("--resume");
              return a;
            }(),
                      stopped + "/resume.log") == 0);
  }
  require_same_outputs(reference, stopped);
}

TEST_CASE("Resuming after the pipeline changed is refused unless forced, a completed run is not resumed") {
  const std::string dir = fresh_dir("resume_changed");
  const std::string pipeline = write_pipeline(dir);
  const std::string out = dir + "/out";
  fs::create_directories(out);
  const Child c = spawn(run_args(pipeline, out, "native", "3000000"), out + "/run.log");
  // Wait for a checkpoint, reading the database while the run writes it, then crash.
  nlohmann::json live = nlohmann::json::array();
  for (int i = 0; i < 1000 && (live.empty() || live[0]["checkpoints"].get<int>() == 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    live = try_runs_json(out);
  }
  REQUIRE(!live.empty());
  CHECK(live[0]["status"] == "running");  // the lock is held by the writer
  REQUIRE(run_qflow({"query", out, "bars", "--limit", "5", "--format", "csv"}, out + "/live_query.csv") == 0);
  const auto rows = read_csv(out + "/live_query.csv");
  CHECK(rows.size() >= 6);  // header + 5 bars, read while the run goes on (plus a line about --limit)
  kill(c.pid, SIGKILL);
  wait_exit(c);
  const std::string run_id = runs_json(out)[0]["id"];

  // The same run under another parameter value: refused, and the run folder is untouched.
  auto changed = run_args(pipeline, out, "native", "3000000");
  changed.insert(changed.end(), {"--set", "fast=12", "--resume", "--run-id", run_id});
  REQUIRE(run_qflow(changed, out + "/changed.log") == 3);
  const std::string message = read_file(out + "/changed.log");
  CHECK(message.find("another version of the pipeline") != std::string::npos);
  CHECK(message.find("--force") != std::string::npos);
  CHECK(runs_json(out)[0]["resumes"] == 0);

  // A new run under the original id with the changed pipeline would overwrite: refused too.
  auto replace = run_args(pipeline, out, "native", "3000000");
  replace.insert(replace.end(), {"--set", "fast=12", "--run-id", run_id});
  REQUIRE(run_qflow(replace, out + "/replace.log") == 3);
  CHECK(read_file(out + "/replace.log").find("already exists") != std::string::npos);

  // Resumed as it was, it completes; resuming it again is refused.
  auto resume = run_args(pipeline, out, "native", "3000000");
  resume.push_back("--resume");
  REQUIRE(run_qflow(resume, out + "/resume.log") == 0);
  REQUIRE(run_qflow(resume, out + "/again.log") == 3);
  CHECK(read_file(out + "/again.log").find("nothing to resume") != std::string::npos);
}

TEST_CASE("A full disk fails the run with a message, keeps what was committed, and the run resumes once there is room") {
  const std::string dir = fresh_dir("resume_disk_full");
  const std::string pipeline = write_pipeline(dir);
  const std::string reference = dir + "/reference", full = dir + "/full";
  fs::create_directories(reference);
  fs::create_directories(full);
  const std::string bars = "300000";
  REQUIRE(run_qflow(run_args(pipeline, reference, "native", bars), reference + "/run.log") == 0);
  // No file may grow beyond 4 MiB: the table sink or the store's files hit it first.
  const int code = run_qflow(run_args(pipeline, full, "native", bars), full + "/run.log", 4 << 20);
  const std::string log = read_file(full + "/run.log");
  INFO(log);
  REQUIRE(code == 3);
  CHECK((log.find("File too large") != std::string::npos || log.find("EFBIG") != std::string::npos ||
         log.find("cannot write") != std::string::npos));
  // The store still opens and tells what happened.
  const nlohmann::json runs = runs_json(full);
  REQUIRE(runs.size() == 1);
  // Room again: the run resumes from its last checkpoint (or starts over) and ends as the reference.
  auto resume = run_args(pipeline, full, "native", bars);
  resume.push_back("--resume");
  const int resumed = run_qflow(resume, full + "/resume.log");
  INFO(read_file(full + "/resume.log"));
  REQUIRE(resumed == 0);
  require_same_outputs(reference, full);
}

TEST_CASE("A damaged database is refused with a message naming it, never a crash") {
  const std::string dir = fresh_dir("resume_corrupt");
  const std::string pipeline = write_pipeline(dir);
  const std::string out = dir + "/out";
  fs::create_directories(out);
  REQUIRE(run_qflow(run_args(pipeline, out, "native", "50000"), out + "/run.log") == 0);
  // Overwrite the manifest with garbage of the same length.
  fs::path manifest;
  for (const auto& e : fs::directory_iterator(out + "/qflow.db"))
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) manifest = e.path();
  REQUIRE(!manifest.empty());
  const auto size = fs::file_size(manifest);
  {
    std::ofstream f(manifest, std::ios::binary | std::ios::trunc);
    for (uintmax_t i = 0; i < size; ++i) f.put(static_cast<char>(i * 37 + 11));
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"runs", out}, {"query", out, "fills"}, run_args(pipeline, out, "native", "50000")}) {
    const int code = run_qflow(args, out + "/damaged.log");
    const std::string log = read_file(out + "/damaged.log");
    INFO(args[0] << ": " << log);
    CHECK(code == 3);
    CHECK(log.find("qflow.db") != std::string::npos);
  }
}

TEST_CASE("A Lua strategy whose state cannot be saved fails the run at its first checkpoint, naming the key") {
  const std::string dir = fresh_dir("resume_lua_state");
  const std::string script = dir + "/keeps_a_function.lua";
  std::ofstream(script) << "function on_bar(bar)\n  state.n = (state.n or 0) + 1\n  state.callback = print\nend\n";
  const std::string pipeline = dir + "/lua_state.yaml";
  std::ofstream(pipeline) << R"(name: lua_state
output: ${out}
engine:
  checkpoint_every: 0
  checkpoint_events: 5000
variables: {out: out}
nodes:
  - id: bars
    type: source.synthetic_bars
    params: {bars: 20000, symbol: SYN, interval: 1m, seed: 2}
  - id: strategy
    type: lua
    inputs: [bars]
    params: {script: )" << script << R"(}
  - id: broker
    type: executor.paper
    inputs: {market: bars, orders: strategy}
  - id: summary
    type: sink.summary
    inputs: {account: broker.account}
    params: {print: false}
)";
  const std::string out = dir + "/out";
  REQUIRE(run_qflow({"run", "--no-progress", pipeline, "--set", "out=" + out}, dir + "/run.log") == 3);
  const std::string log = read_file(dir + "/run.log");
  INFO(log);
  CHECK(log.find(script + ": cannot save state: state.callback holds a function") != std::string::npos);
  // The failure is on record, with the facts written before it.
  const nlohmann::json runs = runs_json(out);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "failed");
  CHECK(runs[0]["error"].get<std::string>().find("state.callback") != std::string::npos);
  CHECK(runs[0]["checkpoints"] == 0);
  REQUIRE(run_qflow({"export", out, "events"}, dir + "/events.csv") == 0);
  CHECK(read_file(dir + "/events.csv").find("state.callback holds a function") != std::string::npos);
  REQUIRE(run_qflow({"export", out, "bars", "-o", dir + "/bars.csv"}, dir + "/export.log") == 0);
  CHECK(read_csv(dir + "/bars.csv").size() > 5000);
}

TEST_CASE("A missing run folder gets a message from every command, and --resume creates no database") {
  const std::string dir = fresh_dir("resume_missing");
  const std::string pipeline = write_pipeline(dir);
  const std::string missing = dir + "/nowhere";
  for (const auto& args : std::vector<std::vector<std::string>>{{"runs", missing}, {"query", missing, "fills"},
                                                                {"export", missing, "bars"}}) {
    const int code = run_qflow(args, dir + "/missing.log");
    const std::string log = read_file(dir + "/missing.log");
    INFO(args[0] << ": " << log);
    CHECK(code == 3);
    CHECK(log.find("no run folder " + missing) != std::string::npos);
  }
  auto resume = run_args(pipeline, missing, "native", "1000");
  resume.push_back("--resume");
  REQUIRE(run_qflow(resume, dir + "/resume.log") == 3);
  CHECK(read_file(dir + "/resume.log").find("no run 'crash_test-") != std::string::npos);
  CHECK(!fs::exists(missing + "/qflow.db"));
}

TEST_CASE("qflow query and export give the numbers the run's CSV table holds") {
  const std::string dir = fresh_dir("store_query");
  const std::string pipeline = write_pipeline(dir);
  const std::string out = dir + "/out";
  fs::create_directories(out);
  REQUIRE(run_qflow(run_args(pipeline, out, "native", "20000"), out + "/run.log") == 0);
  // table.csv: time,symbol,bars.open..bars.volume,fast,slow,broker.account.cash,...
  const auto table = read_csv(out + "/table.csv");
  REQUIRE(table.size() > 1000);
  const auto& header = table[0];
  auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<size_t>(it - header.begin());
  };
  // One row per bar (every cycle has a bar): index the table by time.
  std::map<std::string, const std::vector<std::string>*> by_time;
  for (size_t i = 1; i < table.size(); ++i) by_time[table[i][0]] = &table[i];

  // bars: time,seq,symbol,node,output,interval,open,high,low,close,volume
  REQUIRE(run_qflow({"export", out, "bars", "-o", out + "/bars.csv"}, out + "/e.log") == 0);
  const auto bars = read_csv(out + "/bars.csv");
  size_t bar_rows = 0;
  for (size_t i = 1; i < table.size(); ++i) bar_rows += !table[i][column("bars.open")].empty();
  REQUIRE(bar_rows == 20000);
  REQUIRE(bars.size() == bar_rows + 1);
  const char* fields[] = {"open", "high", "low", "close", "volume"};
  for (size_t i = 1; i < bars.size(); ++i) {
    const auto& row = *by_time.at(bars[i][0]);
    CHECK(bars[i][2] == "SYN");
    CHECK(bars[i][3] == "bars");
    CHECK(bars[i][5] == "1m");
    for (size_t k = 0; k < 5; ++k) CHECK(bars[i][6 + k] == row[column(std::string("bars.") + fields[k])]);
  }
  // values of one node: time,seq,symbol,node,output,interval,value — as the table's column, which
  // is empty while the average warms up (no fact then either).
  for (const std::string node : {"fast", "slow"}) {
    REQUIRE(run_qflow({"export", out, "values", "--node", node, "-o", out + "/v.csv"}, out + "/e.log") == 0);
    const auto values = read_csv(out + "/v.csv");
    size_t filled = 0;
    for (size_t i = 1; i < table.size(); ++i) filled += !table[i][column(node)].empty();
    REQUIRE(values.size() == filled + 1);
    for (size_t i = 1; i < values.size(); ++i) {
      CHECK(values[i][3] == node);
      CHECK(values[i][6] == by_time.at(values[i][0])->at(column(node)));
    }
  }
  // equity: time,seq,symbol,node,output,cash,equity,... — one per bar plus the initial one.
  REQUIRE(run_qflow({"export", out, "equity", "--format", "json", "-o", out + "/eq.json"}, out + "/e.log") == 0);
  const auto equity = nlohmann::json::parse(read_file(out + "/eq.json"));
  REQUIRE(equity.size() == table.size() - 1);  // a table row per snapshot, the initial one included
  for (const auto& e : equity) {
    const auto it = by_time.find(e["time"].get<std::string>());
    if (it == by_time.end()) continue;  // the initial snapshot, before the first bar
    CHECK(e["equity"].get<double>() == std::stod(it->second->at(column("broker.account.equity"))));
    CHECK(e["cash"].get<double>() == std::stod(it->second->at(column("broker.account.cash"))));
  }
  // query filters by time, inclusive at both ends.
  const std::string from = table[101][0], to = table[200][0];
  REQUIRE(run_qflow({"query", out, "bars", "--from", from, "--to", to, "--format", "csv", "--symbol", "SYN"},
                    out + "/q.csv") == 0);
  const auto q = read_csv(out + "/q.csv");
  REQUIRE(q.size() == 101);
  CHECK(q[1][0] == from);
  CHECK(q.back()[0] == to);
}
