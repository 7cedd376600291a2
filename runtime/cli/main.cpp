// qflow — the command line: run, validate, nodes, graph, runs, query, export, replay-server,
// status, reload, kill, version.
//
// Exit codes: 0 success, 1 usage error, 2 invalid pipeline, 3 runtime failure, 130 interrupted.
#include "../diagnostics.hpp"
#include "../graph.hpp"
#include "../node_registry.hpp"
#include "../pipeline.hpp"
#include "../pipeline_runner.hpp"
#include "../planner.hpp"
#include "../plugin_host.hpp"
#include "../node_catalog.hpp"
#include "control_command.hpp"
#include "replay_command.hpp"
#include "store_commands.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitInvalid = 2;
constexpr int kExitFailed = 3;
constexpr int kExitInterrupted = 130;

std::atomic<bool> g_interrupted{false};
const std::chrono::steady_clock::time_point g_started = std::chrono::steady_clock::now();

extern "C" void on_signal(int sig) {
  if (g_interrupted.exchange(true)) {  // a second Ctrl-C: stop now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

struct CommonOptions {
  std::vector<std::string> plugin_path;
  std::vector<std::string> sets;
  std::string log_level = "info";
};

void print_diagnostics(const qflow::Diagnostics& diags) {
  for (const qflow::Diagnostic& d : diags.sorted()) std::fprintf(stderr, "%s\n", d.to_string().c_str());
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("qflow");
  logger->set_pattern("%^[%l]%$ [%n] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

void load_plugins(const CommonOptions& opts, qflow::PluginHost& host, qflow::Diagnostics& diags) {
  host.load_directories(qflow::PluginHost::search_path(opts.plugin_path), diags);
}

// Loads, resolves plugins and validates. Prints diagnostics; returns a graph only if valid.
std::optional<qflow::Graph> prepare(const std::string& file, const CommonOptions& opts, qflow::NodeRegistry& registry,
                                    qflow::PluginHost& host) {
  qflow::Diagnostics diags;
  qflow::LoadOptions load;
  for (const std::string& s : opts.sets) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      diags.error("--set", {}, "E0303", "expected --set name=value, got '" + s + "'");
      continue;
    }
    load.overrides[s.substr(0, eq)] = s.substr(eq + 1);
  }
  load_plugins(opts, host, diags);
  qflow::PipelineDef def = qflow::load_pipeline(file, load, diags);
  for (const qflow::Scalar& p : def.plugins) {
    std::filesystem::path path(p.text);
    if (path.is_relative()) path = (p.from_command_line ? std::filesystem::current_path() : def.base_dir) / path;
    host.load_library(path, diags, true, file, p.pos);
  }
  std::optional<qflow::Graph> graph;
  // Structural problems do not stop the checks against node specs: all problems at once.
  if (!def.nodes.empty()) graph = qflow::build_graph(def, registry, diags);
  print_diagnostics(diags);
  if (diags.has_errors()) {
    size_t n = 0;
    for (const auto& d : diags.all()) n += d.severity == qflow::Severity::error;
    std::fprintf(stderr, "%s: %zu error%s; the pipeline was not started\n", file.c_str(), n, n == 1 ? "" : "s");
    return std::nullopt;
  }
  return graph;
}

void add_common(CLI::App* cmd, CommonOptions& opts, bool with_sets) {
  cmd->add_option("--plugin-path", opts.plugin_path, "Extra directory to load node plugins from (repeatable)");
  if (with_sets) cmd->add_option("--set", opts.sets, "Override a pipeline variable: --set name=value (repeatable)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qflow — a dataflow runtime for quantitative trading"};
  app.require_subcommand(1);
  CommonOptions opts;
  app.add_option("--log-level", opts.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  std::string file;
  auto* run = app.add_subcommand("run", "Run a pipeline");
  run->add_option("pipeline", file, "Pipeline YAML file")->required();
  add_common(run, opts, true);
  int threads = 0;
  bool stats = false, no_progress = false;
  run->add_option("--threads", threads, "Worker threads (default: all cores in a backtest, one in paper mode)")->check(CLI::NonNegativeNumber);
  run->add_flag("--stats", stats, "Print per-node event counts at the end");
  run->add_flag("--no-progress", no_progress, "Do not show the progress line");
  std::string run_id;
  bool resume = false, force = false, no_store = false;
  run->add_option("--run-id", run_id, "Name of the run in the output folder's store (default: <pipeline name>-<hash of "
                                      "the pipeline, its parameters, scripts and data>)");
  run->add_flag("--resume", resume, "Continue the run from its last checkpoint (after a crash or Ctrl-C)");
  run->add_flag("--force", force, "Resume, or replace a run, although its pipeline changed since");
  run->add_flag("--no-store", no_store, "Write no database: no facts, no checkpoints, no run record");
  qflow::MonitorOptions control;
  bool no_control = false, no_reload = false;
  run->add_option("--control-port", control.port, "Paper/live: port of the dashboard and control API (0 = any free)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  run->add_option("--control-host", control.host, "Paper/live: address the control server listens on")->capture_default_str();
  run->add_option("--control-token", control.token,
                  "Paper/live: bearer token the control endpoints require (default: $QFLOW_CONTROL_TOKEN; none)");
  run->add_flag("--no-control", no_control, "Paper/live: no dashboard or control API");
  run->add_flag("--no-reload", no_reload, "Paper/live: do not reload scripts or parameters when their files change");

  auto* validate = app.add_subcommand("validate", "Check a pipeline and report every problem at once");
  validate->add_option("pipeline", file, "Pipeline YAML file")->required();
  add_common(validate, opts, true);

  auto* nodes = app.add_subcommand("nodes", "List every node type with its parameters, ports and documentation");
  bool json = false, markdown = false;
  nodes->add_flag("--json", json, "Machine-readable output");
  nodes->add_flag("--markdown", markdown, "Markdown reference (docs/nodes.md)");
  add_common(nodes, opts, false);

  auto* graph_cmd = app.add_subcommand("graph", "Print a pipeline and its execution plan as Graphviz DOT");
  graph_cmd->add_option("pipeline", file, "Pipeline YAML file")->required();
  bool logical = false;
  graph_cmd->add_flag("--logical", logical, "Only the nodes and edges, without the stages of the plan");
  add_common(graph_cmd, opts, true);

  std::string run_dir;
  auto* runs_cmd = app.add_subcommand("runs", "List the runs recorded in a run folder and how they ended");
  runs_cmd->add_option("run_dir", run_dir, "Run folder (the pipeline's output folder)")->required();
  bool runs_json = false;
  runs_cmd->add_flag("--json", runs_json, "Machine-readable output");

  qflow::cli::FactQuery fq;
  auto add_fact_options = [&](CLI::App* cmd) {
    cmd->add_option("run_dir", fq.run_dir, "Run folder (the pipeline's output folder)")->required();
    cmd->add_option("family", fq.family,
                    "bars, ticks, quotes, values, signals, orders, order_updates, fills, positions, equity, alerts, "
                    "signal_inputs or events")
        ->required();
    cmd->add_option("--run", fq.run_id, "Run id (default: the latest run)");
    cmd->add_option("--symbol", fq.symbol, "Only this symbol");
    cmd->add_option("--node", fq.node, "Only what this node emitted");
    cmd->add_option("--from", fq.from, "From this time (ISO 8601 UTC, inclusive)");
    cmd->add_option("--to", fq.to, "Up to this time (ISO 8601 UTC, inclusive)");
  };
  auto* query_cmd = app.add_subcommand("query", "Show a run's facts as a table");
  add_fact_options(query_cmd);
  std::string query_format = "table";
  int64_t query_limit = 100;
  query_cmd->add_option("--format", query_format, "table, csv or json")->capture_default_str();
  query_cmd->add_option("--limit", query_limit, "At most this many rows (0: all)")->capture_default_str();
  auto* export_cmd = app.add_subcommand("export", "Write a run's facts as CSV or JSON");
  add_fact_options(export_cmd);
  std::string export_format = "csv";
  export_cmd->add_option("--format", export_format, "csv or json")->capture_default_str();
  export_cmd->add_option("-o,--output", fq.output, "File to write (default: stdout)");

  qflow::cli::ReplayArguments replay_args;
  auto* replay_cmd = qflow::cli::add_replay_command(app, replay_args);
  qflow::cli::ControlArguments control_args;
  const qflow::cli::ControlCommands control_cmds = qflow::cli::add_control_commands(app, control_args);

  auto* version = app.add_subcommand("version", "Print the qflow and plugin ABI versions");

  // --log-level may come before or after the subcommand.
  for (CLI::App* sub : {run, validate, nodes, graph_cmd, runs_cmd, query_cmd, export_cmd, replay_cmd, control_cmds.status,
                        control_cmds.reload, control_cmds.kill, version})
    sub->fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  setup_logging(opts.log_level);

  if (version->parsed()) {
    std::printf("qflow %s (plugin ABI %u.%u)\n", QFLOW_VERSION, QF_ABI_VERSION_MAJOR, QF_ABI_VERSION_MINOR);
    return kExitOk;
  }

  if (runs_cmd->parsed()) return qflow::cli::list_runs(run_dir, runs_json);
  if (control_cmds.status->parsed() || control_cmds.reload->parsed() || control_cmds.kill->parsed())
    return qflow::cli::run_control_command(control_cmds, control_args);
  if (replay_cmd->parsed()) {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    return qflow::cli::run_replay_server(replay_args, g_interrupted);
  }
  if (query_cmd->parsed() || export_cmd->parsed()) {
    fq.format = query_cmd->parsed() ? query_format : export_format;
    fq.limit = query_cmd->parsed() ? query_limit : 0;
    if (export_cmd->parsed() && fq.format == "table") {
      std::fprintf(stderr, "qflow: export writes csv or json\n");
      return kExitUsage;
    }
    return qflow::cli::query_facts(fq);
  }

  qflow::NodeRegistry registry;
  qflow::PluginHost host(registry);

  if (nodes->parsed()) {
    qflow::Diagnostics diags;
    load_plugins(opts, host, diags);
    print_diagnostics(diags);
    const std::string text = json ? qflow::catalog_json(registry) : markdown ? qflow::catalog_markdown(registry) : qflow::catalog_text(registry);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return diags.has_errors() ? kExitFailed : kExitOk;
  }

  std::optional<qflow::Graph> graph = prepare(file, opts, registry, host);
  if (!graph) return kExitInvalid;

  if (validate->parsed()) {
    std::printf("%s: valid (%zu nodes)\n", file.c_str(), graph->nodes.size());
    return kExitOk;
  }
  if (graph_cmd->parsed()) {
    const qflow::Plan plan = qflow::make_plan(*graph);
    qflow::write_dot(std::cout, *graph, logical ? nullptr : &plan);
    return kExitOk;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  qflow::RunOptions ro;
  ro.threads = threads;
  ro.interrupted = &g_interrupted;
  ro.progress = !no_progress && isatty(STDERR_FILENO);
  ro.stats = stats;
  ro.store = !no_store;
  ro.run_id = run_id;
  ro.resume = resume;
  ro.force = force;
  ro.started = g_started;
  ro.reload = !no_reload;
  if (graph->mode != QF_MODE_BACKTEST && !no_control) {
    if (control.token.empty())
      if (const char* t = std::getenv("QFLOW_CONTROL_TOKEN")) control.token = t;
    ro.monitor = control;
  }
  // A reload reads the pipeline again with the same --set values and the same simulator port.
  ro.load_graph = [&, sim_port = graph->simulator ? graph->simulator->port : 0](std::string& error) -> std::optional<qflow::Graph> {
    qflow::Diagnostics diags;
    qflow::LoadOptions load;
    for (const std::string& s : opts.sets) {
      const size_t eq = s.find('=');
      if (eq != std::string::npos && eq > 0) load.overrides[s.substr(0, eq)] = s.substr(eq + 1);
    }
    load.simulator_port = sim_port;
    const qflow::PipelineDef def = qflow::load_pipeline(file, load, diags);
    std::optional<qflow::Graph> g;
    if (!def.nodes.empty()) g = qflow::build_graph(def, registry, diags);
    if (diags.has_errors()) {
      for (const qflow::Diagnostic& d : diags.sorted()) error += (error.empty() ? "" : "; ") + d.to_string();
      return std::nullopt;
    }
    return g;
  };
  spdlog::info("running {} ({} nodes, mode {})", file, graph->nodes.size(),
               graph->mode == QF_MODE_BACKTEST ? "backtest" : graph->mode == QF_MODE_PAPER ? "paper" : "live");
  const qflow::RunResult r = qflow::run_pipeline(*graph, ro);
  spdlog::info("{} market events in {:.3f} s ({:.0f} events/s)", r.events, r.seconds, r.events / std::max(r.seconds, 1e-9));
  if (!r.output_dir.empty()) {
    std::string files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(r.output_dir, ec))
      if (e.is_regular_file()) files += (files.empty() ? "" : ", ") + e.path().filename().string();
    spdlog::info("output folder {}: {}", r.output_dir, files.empty() ? "(empty)" : files);
  }
  if (r.resumed)
    spdlog::info("resumed run '{}' after {} events; first event processed {:.3f} s after start", r.run_id, r.resumed_events,
                 r.first_event_seconds);
  if (!r.run_id.empty() && r.status != qflow::RunResult::Status::failed)
    spdlog::info("facts of run '{}': qflow query {} <family>  (qflow runs {} lists the runs)", r.run_id, r.output_dir, r.output_dir);
  switch (r.status) {
    case qflow::RunResult::Status::ok: return kExitOk;
    case qflow::RunResult::Status::interrupted:
      spdlog::warn("interrupted: the data read so far was processed and the outputs were written{}",
                   r.run_id.empty() ? "" : "; continue with --resume");
      return kExitInterrupted;
    case qflow::RunResult::Status::failed:
      spdlog::error("{}", r.error);
      return kExitFailed;
  }
  return kExitFailed;
}
