// Throughput of pipelines/sma_cross_synthetic.yaml with the native and the Lua strategy, and of
// a hand-written C++ loop doing the same computation on the same bars held in memory (the
// practical limit), measured in one run. The loop's results are compared with the pipeline's,
// so the benchmark also cross-checks the numbers. Optionally the peak memory of a long run in a
// child process. Times are the best of --repeat runs.
//
// The store: the native pipeline again with every fact persisted and a checkpoint every second
// (the pipeline's defaults) against the same pipeline with the store off, measured in one run;
// the time a `qflow run --resume` takes from its start to its first processed event when the
// run has a million-bar history; and the database size per million bars with five indicators.
#include "graph.hpp"
#include "pipeline.hpp"
#include "pipeline_runner.hpp"
#include "plugin_host.hpp"
#include "random_walk.hpp"
#include "store/runs.hpp"
#include "store/store.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <thread>
#include <sys/resource.h>
#include <sys/wait.h>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
const std::string kPipeline = std::string(QFLOW_SOURCE_DIR) + "/pipelines/sma_cross_synthetic.yaml";

struct Outcome {
  double seconds = 1e300;
  double final_value = 0;
  double max_drawdown = 0;
  long long trades = 0;
};

Outcome run_pipeline(const std::string& strategy, long long bars, const std::string& out, bool store = false,
                     const std::string& pipeline = kPipeline) {
  qflow::NodeRegistry registry;
  qflow::PluginHost host(registry);
  qflow::Diagnostics diags;
  host.load_directories(qflow::PluginHost::search_path({}), diags);
  qflow::LoadOptions opts;
  opts.overrides = {{"strategy", strategy}, {"bars", std::to_string(bars)}, {"out", out}};
  std::error_code ec;
  std::filesystem::remove_all(out + "/" + qflow::store::kStoreDir, ec);  // each measured run starts a fresh store
  const qflow::PipelineDef def = qflow::load_pipeline(pipeline, opts, diags);
  auto graph = qflow::build_graph(def, registry, diags);
  if (!graph) {
    for (const auto& d : diags.all()) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    std::exit(1);
  }
  const auto t0 = Clock::now();
  qflow::RunOptions ro;
  ro.store = store;
  const qflow::RunResult r = qflow::run_pipeline(*graph, ro);
  Outcome o;
  o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (r.status != qflow::RunResult::Status::ok) {
    std::fprintf(stderr, "run failed: %s\n", r.error.c_str());
    std::exit(1);
  }
  std::ifstream in(out + "/summary.json");
  if (!in) return o;  // a pipeline without a summary
  const auto j = nlohmann::json::parse(in);
  o.final_value = j["final_value"].get<double>();
  o.trades = j["trades"].get<long long>();
  o.max_drawdown = j["max_drawdown"].get<double>();
  return o;
}

// The same strategy written out by hand over bars in memory: running-sum SMAs, the crossover
// on the last non-zero difference, next-open fills, commission, cash check, equity at close.
Outcome hand_loop(const std::vector<qf_bar>& bars, int fast, int slow, double size, double commission) {
  const auto t0 = Clock::now();
  double cash = 100000, pos = 0, sum_f = 0, sum_s = 0, last_nonzero = 0, peak = cash, max_dd = 0;
  int pending = 0;
  long long trades = 0;
  const size_t n = bars.size();
  for (size_t i = 0; i < n; ++i) {
    const qf_bar& b = bars[i];
    if (pending > 0) {
      const double cost = size * b.open, comm = cost * commission;
      if (cost + comm <= cash) cash -= cost + comm, pos += size;
    } else if (pending < 0) {
      const double value = pos * b.open;
      cash += value - value * commission;
      pos = 0;
      ++trades;
    }
    pending = 0;
    sum_f += b.close;
    sum_s += b.close;
    if (i >= static_cast<size_t>(fast)) sum_f -= bars[i - static_cast<size_t>(fast)].close;
    if (i >= static_cast<size_t>(slow)) sum_s -= bars[i - static_cast<size_t>(slow)].close;
    if (i + 1 >= static_cast<size_t>(slow)) {
      const double diff = sum_f / fast - sum_s / slow;
      const bool up = diff > 0 && last_nonzero < 0, down = diff < 0 && last_nonzero > 0;
      if (diff != 0) last_nonzero = diff;
      if (pos == 0 && up) pending = 1;
      else if (pos > 0 && down) pending = -1;
    }
    const double equity = cash + pos * b.close;
    peak = std::max(peak, equity);
    max_dd = std::max(max_dd, (peak - equity) / peak);
  }
  Outcome o;
  o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  o.final_value = cash + pos * bars.back().close;
  o.max_drawdown = max_dd;
  o.trades = trades;
  return o;
}

// Peak resident memory (MB) and rate of `qflow run` on a long synthetic run, in a child process.
std::pair<double, double> child_memory(long long bars, const std::string& out) {
  std::error_code ec;
  std::filesystem::remove_all(out, ec);  // a fresh run folder: no store of an earlier run
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string() + "/qflow";
  std::vector<std::string> args = {exe, "run", "--no-progress", "--log-level", "warn", kPipeline, "--set", "strategy=native",
                                   "--set", "bars=" + std::to_string(bars), "--set", "out=" + out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return {-1, 0};
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {-1, 0};
  return {static_cast<double>(ru.ru_maxrss) / 1024.0, static_cast<double>(bars) / secs};
}

std::string qflow_exe() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string() + "/qflow";
}

// The synthetic pipeline with an engine block of its own, written to `dir` (its script path
// made absolute).
std::string pipeline_with_engine(const std::string& engine, const std::string& dir) {
  std::ifstream in(kPipeline);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("\nvariables:");
  text.insert(at + 1, "engine:\n" + engine);
  const std::string script = "../scripts/";
  const size_t s = text.find(script);
  text.replace(s, script.size(), std::string(QFLOW_SOURCE_DIR) + "/scripts/");
  const std::string path = dir + "/pipeline.yaml";
  std::ofstream(path) << text;
  return path;
}

// Seconds from the start of `qflow run --resume` to its first processed event, for a run killed
// (SIGKILL) right after its checkpoint at `history` bars. -1 on failure.
double resume_seconds(long long history, const std::string& out) {
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  std::filesystem::create_directories(out);
  const std::string pipeline = pipeline_with_engine(
      "  checkpoint_every: 0\n  checkpoint_events: " + std::to_string(history) + "\n", out);
  const std::string exe = qflow_exe();
  auto spawn = [&](std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), exe);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  };
  std::vector<std::string> args = {"run", "--no-progress", pipeline, "--set", "strategy=native",
                                   "--set", "bars=" + std::to_string(3 * history), "--set", "out=" + out};
  const pid_t pid = spawn(args, out + "/first.log");
  // Kill it as soon as the checkpoint at `history` is committed, before the next one.
  bool killed = false;
  for (int i = 0; i < 20000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    try {
      auto st = qflow::store::Store::open(out + "/" + qflow::store::kStoreDir, qflow::store::Store::Mode::read_only);
      for (const auto& r : qflow::store::list_runs(*st))
        if (r.checkpoints >= 1) killed = kill(pid, SIGKILL) == 0;
    } catch (const std::exception&) {
      // not created yet
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!killed) return -1;
  args.push_back("--resume");
  const pid_t again = spawn(args, out + "/resume.log");
  waitpid(again, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  std::ifstream log(out + "/resume.log");
  std::string line;
  while (std::getline(log, line)) {
    const size_t at = line.find("first event processed ");
    if (at != std::string::npos) return std::stod(line.substr(at + 22));
  }
  return -1;
}

// Bytes of the store after `bars` bars through five indicators, every value kept as a fact.
uintmax_t store_size(long long bars, const std::string& out) {
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  std::filesystem::create_directories(out);
  const std::string path = out + "/pipeline.yaml";
  std::ofstream(path) << R"(name: five_indicators
output: ${out}
variables: {bars: 1000, out: out, strategy: none}
nodes:
  - id: bars
    type: source.synthetic_bars
    params:
      bars: ${bars}
      symbol: SYN
      interval: 1m
      seed: 5
  - {id: sma10, type: indicator.sma, inputs: [bars], params: {period: 10}}
  - {id: sma30, type: indicator.sma, inputs: [bars], params: {period: 30}}
  - {id: sma50, type: indicator.sma, inputs: [bars], params: {period: 50}}
  - {id: ema12, type: indicator.ema, inputs: [bars], params: {period: 12}}
  - {id: ema26, type: indicator.ema, inputs: [bars], params: {period: 26}}
  - {id: table, type: sink.table_csv, inputs: [sma10, sma30, sma50, ema12, ema26]}
)";
  run_pipeline("native", bars, out, true, path);
  uintmax_t size = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out + "/" + qflow::store::kStoreDir, ec))
    if (e.is_regular_file()) size += e.file_size();
  return size;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qflow_bench: sma_cross throughput, native vs Lua vs a hand-written loop"};
  long long bars = 10'000'000, memory_bars = 0;
  int repeat = 3;
  app.add_option("--bars", bars, "Synthetic bars per run")->check(CLI::PositiveNumber);
  app.add_option("--repeat", repeat, "Runs per variant; the best time counts")->check(CLI::PositiveNumber);
  app.add_option("--memory-bars", memory_bars, "Also measure peak memory of a run this long (child process)");
  long long resume_history = 1'000'000, size_bars = 1'000'000;
  bool store = true;
  app.add_flag("!--no-store", store, "Skip the store figures");
  app.add_option("--resume-history", resume_history, "Bars before the checkpoint a resume starts from");
  app.add_option("--size-bars", size_bars, "Bars for the database size figure (five indicators)");
  CLI11_PARSE(app, argc, argv);

  const std::string out = (std::filesystem::temp_directory_path() / "qflow_bench").string();
  std::filesystem::create_directories(out);
  spdlog::set_level(spdlog::level::warn);

  // First, while this process is small: a spawned child's peak RSS counts the pages it shared
  // with its parent before exec, so the in-memory bars below would inflate it.
  std::pair<double, double> memory{0, 0};
  if (memory_bars > 0) memory = child_memory(memory_bars, out + "/memory");

  std::vector<qf_bar> data(static_cast<size_t>(bars));
  {
    qflow::nodes::RandomWalk walk(100.0, 0.002, 0.0, 7);
    for (qf_bar& b : data) walk.next(b);
  }
  Outcome native, lua, loop, persisted;
  for (int r = 0; r < repeat; ++r) {
    const Outcome n = run_pipeline("native", bars, out + "/native");
    if (store) {
      const Outcome p = run_pipeline("native", bars, out + "/persisted", true);
      if (p.seconds < persisted.seconds) persisted = p;
    }
    const Outcome l = run_pipeline("lua", bars, out + "/lua");
    const Outcome h = hand_loop(data, 10, 30, 1.0, 0.001);
    if (n.seconds < native.seconds) native = n;
    if (l.seconds < lua.seconds) lua = l;
    if (h.seconds < loop.seconds) loop = h;
  }
  auto rate = [&](const Outcome& o) { return static_cast<double>(bars) / o.seconds; };
  std::printf("sma_cross on %lld synthetic bars, best of %d\n", bars, repeat);
  std::printf("%-22s %14s %10s %16s %8s\n", "variant", "bars/s", "seconds", "final value", "trades");
  std::printf("%-22s %14.0f %10.3f %16.6f %8lld\n", "hand-written loop", rate(loop), loop.seconds, loop.final_value, loop.trades);
  std::printf("%-22s %14.0f %10.3f %16.6f %8lld\n", "pipeline, native", rate(native), native.seconds, native.final_value, native.trades);
  std::printf("%-22s %14.0f %10.3f %16.6f %8lld\n", "pipeline, Lua", rate(lua), lua.seconds, lua.final_value, lua.trades);
  std::printf("loop / native: %.2fx   native / Lua: %.2fx\n", rate(loop) / rate(native), rate(native) / rate(lua));
  if (store) {
    std::printf("%-22s %14.0f %10.3f %16.6f %8lld\n", "native + store", rate(persisted), persisted.seconds,
                persisted.final_value, persisted.trades);
    std::printf("store on / store off (facts persisted, checkpoint every second): %.2f\n", rate(persisted) / rate(native));
  }
  auto same = [&](const Outcome& o) {
    return o.trades == loop.trades && std::abs(o.final_value - loop.final_value) <= 1e-6 * std::abs(loop.final_value) &&
           std::abs(o.max_drawdown - loop.max_drawdown) <= 1e-9;
  };
  const bool agree = same(native) && same(lua) && (!store || same(persisted));
  std::printf("results agree (trades; final value within 1e-6 relative; max drawdown within 1e-9): %s\n", agree ? "yes" : "NO");
  if (memory_bars > 0)
    std::printf("qflow run, native, %lld bars: peak RSS %.1f MB, %.0f bars/s\n", memory_bars, memory.first, memory.second);
  if (store) {
    const double resume = resume_seconds(resume_history, out + "/resume");
    std::printf("qflow run --resume after %lld bars: first event %.3f s after the process started\n", resume_history, resume);
    const uintmax_t size = store_size(size_bars, out + "/size");
    std::printf("store size, %lld bars through five indicators: %.1f MB (%.1f MB per million bars)\n", size_bars,
                static_cast<double>(size) / 1e6, static_cast<double>(size) / 1e6 / (static_cast<double>(size_bars) / 1e6));
  }
  return agree ? 0 : 1;
}
