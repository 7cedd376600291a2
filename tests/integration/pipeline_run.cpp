#include "pipeline_run.hpp"

#include "graph.hpp"
#include "pipeline.hpp"
#include "pipeline_runner.hpp"
#include "plugin_host.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <sys/wait.h>

namespace qflow::testing {

PipelineRun run_pipeline_file(const std::string& file, const std::map<std::string, std::string>& overrides, int threads) {
  PipelineRun run;
  NodeRegistry registry;
  PluginHost host(registry);
  Diagnostics diags;
  host.load_directories({QFLOW_TEST_PLUGIN_DIR}, diags);
  LoadOptions opts;
  opts.overrides = overrides;
  PipelineDef def = load_pipeline(file, opts, diags);
  std::optional<Graph> graph;
  if (!diags.has_errors()) graph = build_graph(def, registry, diags);
  for (const Diagnostic& d : diags.all()) run.errors += d.to_string() + "\n";
  if (!graph) {
    run.status = 2;
    return run;
  }
  RunOptions ro;
  ro.threads = threads;
  const RunResult r = run_pipeline(*graph, ro);
  run.output_dir = r.output_dir;
  if (r.status != RunResult::Status::ok) {
    run.status = 3;
    run.errors += r.error;
  }
  return run;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fresh_dir(const std::string& name) {
  const std::filesystem::path p = std::filesystem::path(QFLOW_TEST_WORK_DIR) / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

CliOutput run_cli(const std::string& args) {
  const std::string cmd = std::string(QFLOW_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  CliOutput out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.text.append(buf, n);
  const int status = pclose(p);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

bool wait_until(const std::function<bool()>& f, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

}  // namespace qflow::testing
