// The paper-trading path under load (benchmarks/feed_bench.yaml): the bundled exchange simulator
// in-process, source.exchange_ws on loopback, two SMAs, a Lua strategy ordering on every bar,
// executor.paper. Measured in one run:
//   - throughput: the simulator sending BTC and ETH minute bars as fast as the client reads;
//     messages processed per second, against the same graph fed from the CSV files (a backtest)
//     as the baseline;
//   - latency: at a fixed pace (one bar per `--pace-us`), from the simulator handing a kline to
//     its socket to the order it causes reaching the executor (bench.order_probe), p50/p99/max;
//   - reload: the same paced run, with the strategy reloaded `--reloads` times while it trades;
//     how long each swap held the pipeline, and the latency of the orders around the reloads.
#include "graph.hpp"
#include "pipeline.hpp"
#include "pipeline_runner.hpp"
#include "plugin_host.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;
const std::string kPipeline = std::string(QFLOW_SOURCE_DIR) + "/benchmarks/feed_bench.yaml";

struct Run {
  qflow::RunResult result;
  std::vector<int64_t> sent;    // simulator: when each frame went to the socket
  std::vector<int64_t> orders;  // probe: when each order reached the executor
  std::vector<qflow::ReloadEvent> reloads;
  double seconds = 0;
  // From the first event processed to the end: the sustained rate, without the start (the
  // simulator loading its files, the connection).
  double sustained() const { return seconds - std::max(result.first_event_seconds, 0.0); }
};

Run run(const std::map<std::string, std::string>& overrides, int reloads = 0) {
  qflow::NodeRegistry registry;
  qflow::PluginHost host(registry);
  qflow::Diagnostics diags;
  host.load_directories(qflow::PluginHost::search_path({}), diags);
  host.load_library(QFLOW_PROBE_PLUGIN, diags, true, kPipeline, {});
  qflow::LoadOptions opts;
  opts.overrides = overrides;
  const qflow::PipelineDef def = qflow::load_pipeline(kPipeline, opts, diags);
  auto graph = qflow::build_graph(def, registry, diags);
  if (!graph) {
    for (const auto& d : diags.sorted()) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    std::exit(2);
  }
  Run out;
  qflow::RunOptions ro;
  ro.store = false;
  ro.on_simulator_send_times = [&](std::vector<int64_t> t) { out.sent = std::move(t); };
  std::mutex m;
  qflow::ReloadManager* manager = nullptr;
  ro.on_reload_manager = [&](qflow::ReloadManager* r) {
    std::lock_guard lock(m);
    manager = r;
  };
  std::thread reloader;
  if (reloads > 0)
    reloader = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      for (int i = 0; i < reloads; ++i) {
        {
          std::lock_guard lock(m);
          if (manager)
            for (auto& e : manager->request("strategy")) out.reloads.push_back(e);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
      }
    });
  const auto t0 = Clock::now();
  out.result = qflow::run_pipeline(*graph, ro);
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (reloader.joinable()) reloader.join();
  if (out.result.status != qflow::RunResult::Status::ok) {
    std::fprintf(stderr, "feed_bench: the run failed: %s\n", out.result.error.c_str());
    std::exit(3);
  }
  std::ifstream in(overrides.at("probe"));
  for (int64_t t; in >> t;) out.orders.push_back(t);
  return out;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("qflow_feed_bench: the paper-trading path under load");
  std::string data = std::string(QFLOW_SOURCE_DIR) + "/../shared/data";
  int repeat = 3, latency_bars = 20000, reloads = 10;
  int64_t pace_us = 200;
  std::string dump;
  app.add_option("--data", data, "folder of the Binance minute files")->capture_default_str();
  app.add_option("--repeat", repeat, "throughput runs (the best is kept)")->capture_default_str();
  app.add_option("--latency-bars", latency_bars, "bars in the paced runs")->capture_default_str();
  app.add_option("--pace-us", pace_us, "microseconds between bars in the paced runs")->capture_default_str();
  app.add_option("--reloads", reloads, "reloads during the reload run")->capture_default_str();
  app.add_option("--dump", dump, "write the paced run's per-bar latencies (sent ns, latency us) to this file");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  const std::string dir = std::filesystem::temp_directory_path() / "qflow_feed_bench";
  std::filesystem::create_directories(dir);
  const std::string btc = data + "/binance_spot_btcusdt_1m_2024q4.csv", eth = data + "/binance_spot_ethusdt_1m_2024q4.csv";
  std::map<std::string, std::string> base = {{"out", dir + "/out"}, {"probe", dir + "/probe.txt"}, {"btc", btc}, {"eth", eth}};

  // Throughput: BTC alone, paper (simulator at full speed) against the same graph reading the
  // same bars from the CSV file (a backtest), alternating; then BTC and ETH on one connection.
  double paper_best = 1e300, paper_wall = 1e300, backtest_best = 1e300, both_best = 1e300;
  uint64_t messages = 0, both_messages = 0;
  for (int i = 0; i < repeat; ++i) {
    auto o = base;
    o["speed"] = "max";
    o["streams"] = "btcusdt@kline_1m";
    const Run p = run(o);
    messages = p.result.events;
    paper_best = std::min(paper_best, p.sustained());
    paper_wall = std::min(paper_wall, p.seconds);
    o["mode"] = "backtest";
    const Run bt = run(o);
    backtest_best = std::min(backtest_best, bt.sustained());
    auto b = base;
    b["speed"] = "max";
    const Run two = run(b);
    both_messages = two.result.events;
    both_best = std::min(both_best, two.sustained());
  }
  if (repeat > 0) {
    std::printf("throughput (from the first event processed to the end): %llu BTC klines: paper %.3f s (%.0f messages/s; "
                "%.3f s from the start), backtest of the same graph %.3f s (%.0f bars/s): paper/backtest %.2f\n",
                static_cast<unsigned long long>(messages), paper_best, static_cast<double>(messages) / paper_best, paper_wall,
                backtest_best, static_cast<double>(messages) / backtest_best, backtest_best / paper_best);
    std::printf("throughput: %llu BTC+ETH klines on one connection: %.3f s, %.0f messages/s\n",
                static_cast<unsigned long long>(both_messages), both_best, static_cast<double>(both_messages) / both_best);
  }

  // Latency at a fixed pace: one BTC bar every pace_us.
  auto paced = base;
  paced["streams"] = "btcusdt@kline_1m";
  paced["speed"] = std::to_string(60'000'000.0 / static_cast<double>(pace_us));
  {
    std::ifstream in(btc);
    std::ofstream out(dir + "/btc_head.csv");
    std::string line;
    for (int k = 0; k <= latency_bars && std::getline(in, line); ++k) out << line << '\n';
  }
  paced["btc"] = dir + "/btc_head.csv";
  paced["eth"] = dir + "/btc_head.csv";  // a second feed the source does not subscribe to
  auto latency = [&](const Run& r, std::vector<double>& us) {
    // The simulator sends both feeds' frames only to subscribers: here BTC alone, bar k -> order k.
    const size_t n = std::min(r.sent.size(), r.orders.size());
    for (size_t k = 0; k < n; ++k) us.push_back(static_cast<double>(r.orders[k] - r.sent[k]) / 1000.0);
    return n;
  };
  const Run lat = run(paced);
  std::vector<double> us;
  const size_t n = latency(lat, us);
  if (!dump.empty()) {
    std::ofstream d(dump);
    for (size_t k = 0; k < n; ++k) d << lat.sent[k] << ' ' << us[k] << '\n';
  }
  std::printf("latency: %zu bars, one every %lld us: message sent -> order at the executor p50 %.1f us, p99 %.1f us, max %.1f us "
              "(%zu frames sent, %zu orders)\n",
              n, static_cast<long long>(pace_us), quantile(us, 0.5), quantile(us, 0.99), quantile(us, 1.0), lat.sent.size(),
              lat.orders.size());

  const Run rel = run(paced, reloads);
  std::vector<double> swap, rus;
  for (const auto& e : rel.reloads)
    if (e.applied) swap.push_back(e.swap_ms);
  latency(rel, rus);
  std::printf("reload: %zu reloads applied while trading: swap held the pipeline p50 %.3f ms, max %.3f ms; order latency over "
              "the run p50 %.1f us, p99 %.1f us, max %.1f us\n",
              swap.size(), quantile(swap, 0.5), quantile(swap, 1.0), quantile(rus, 0.5), quantile(rus, 0.99), quantile(rus, 1.0));
  return 0;
}
