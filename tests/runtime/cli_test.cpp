// runtime/cli/main.cpp, through the built `qflow` executable: how diagnostics reach the user
// (file:line:col: CODE message (hint)), what only the command line checks (E0303, plugins:
// entries, where their relative paths lead) and the exit codes.
#include "runtime_test_support.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>

namespace {

namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string text;  // stdout and stderr
};

// Runs `qflow <args>` in `cwd` with no QFLOW_PLUGIN_PATH from the environment.
Output qflow_cli(const std::string& args, const fs::path& cwd) {
  const std::string cmd = "cd '" + cwd.string() + "' && env -u QFLOW_PLUGIN_PATH '" + QFLOW_CLI + "' " + args + " 2>&1";
  Output out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.text.append(buf, n);
  const int rc = ::pclose(p);
  out.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// A pipeline in <dir>/pipes/p.yaml using the good test library through its `plugins:` list.
std::string pipeline(const std::string& plugin_entry, const std::string& extra_nodes = "") {
  return "variables: {lib: none, count: 3}\n"
         "plugins: [\"" + plugin_entry + "\"]\n"
         "nodes:\n"
         "  - {id: bars, type: test.bars, params: {count: \"${count}\"}}\n"
         "  - {id: out, type: test.count, inputs: bars}\n" + extra_nodes;
}

}  // namespace

TEST_CASE("cli: plugins: entries are relative to the pipeline file, or to the CWD when from --set") {
  const fs::path dir = rt_test::fresh_dir("cli_plugins");
  const fs::path pipes = dir / "pipes";
  fs::create_directories(pipes);
  const fs::path elsewhere = dir / "else" / "where";
  fs::create_directories(elsewhere);
  const std::string from_file = fs::relative(QFLOW_TEST_GOOD_PLUGIN, pipes).string();
  const std::string from_cwd = fs::relative(QFLOW_TEST_GOOD_PLUGIN, elsewhere).string();
  REQUIRE(from_file != from_cwd);

  write(pipes / "p.yaml", pipeline(from_file));
  auto r = qflow_cli("validate ../../pipes/p.yaml", elsewhere);
  INFO(r.text);
  CHECK(r.status == 0);
  CHECK(contains(r.text, "../../pipes/p.yaml: valid (2 nodes)"));

  write(pipes / "q.yaml", pipeline("${lib}"));
  r = qflow_cli("validate ../../pipes/q.yaml --set lib=" + from_cwd, elsewhere);
  INFO(r.text);
  CHECK(r.status == 0);
  // The same relative text from --set, run elsewhere, does not resolve against the pipeline.
  r = qflow_cli("validate ../../pipes/q.yaml --set lib=" + from_file, elsewhere);
  INFO(r.text);
  CHECK(r.status == 2);
  CHECK(contains(r.text, "../../pipes/q.yaml:2:11: E0401 plugin library not found: "));
}

TEST_CASE("cli: diagnostics are printed as file:line:col: CODE message (hint), all of them, then a count") {
  const fs::path dir = rt_test::fresh_dir("cli_errors");
  const std::string lib = fs::relative(QFLOW_TEST_GOOD_PLUGIN, dir).string();
  write(dir / "bad.yaml", pipeline(lib,
                                   "  - {id: s, type: test.all_params, inputs: bars, params: {thresold: 2}}\n"
                                   "  - {id: t, type: test.pas, inputs: bars}\n"));
  const auto r = qflow_cli("validate bad.yaml", dir);
  INFO(r.text);
  CHECK(r.status == 2);
  CHECK(contains(r.text, "bad.yaml:6:59: E0103 unknown parameter 'thresold' in node 's' (test.all_params) (did you mean 'threshold'?)\n"));
  CHECK(contains(r.text, "bad.yaml:7:19: E0101 unknown node type 'test.pas' in node 't' (did you mean 'test.pass'?)\n"));
  CHECK(contains(r.text, "bad.yaml: 2 errors; the pipeline was not started"));
  CHECK(r.text.find("E0103") < r.text.find("E0101"));  // in file order
}

TEST_CASE("cli: E0303 malformed --set, E0302 --set of an undeclared variable") {
  const fs::path dir = rt_test::fresh_dir("cli_set");
  write(dir / "p.yaml", pipeline(fs::relative(QFLOW_TEST_GOOD_PLUGIN, dir).string()));
  auto r = qflow_cli("validate p.yaml --set count", dir);
  INFO(r.text);
  CHECK(r.status == 2);
  CHECK(contains(r.text, "--set: E0303 expected --set name=value, got 'count'"));
  r = qflow_cli("validate p.yaml --set =5", dir);
  CHECK(contains(r.text, "E0303 expected --set name=value, got '=5'"));
  r = qflow_cli("validate p.yaml --set cuont=5", dir);
  INFO(r.text);
  CHECK(r.status == 2);
  CHECK(contains(r.text, "p.yaml: E0302 --set cuont: the pipeline declares no variable 'cuont' (did you mean 'count'?)"));
  r = qflow_cli("validate p.yaml --set count=x", dir);
  CHECK(contains(r.text, "p.yaml:4:49: E0105 parameter 'count' expects an integer, got 'x' in node 'bars'"));
  r = qflow_cli("validate p.yaml --set count=12", dir);
  CHECK(r.status == 0);
}

TEST_CASE("cli: E0007 a pipeline file that cannot be read") {
  const fs::path dir = rt_test::fresh_dir("cli_missing");
  const auto r = qflow_cli("validate nope.yaml", dir);
  INFO(r.text);
  CHECK(r.status == 2);
  CHECK(contains(r.text, "nope.yaml: E0007 cannot read pipeline file: No such file or directory"));
}

TEST_CASE("cli: run reports a failing node and exits 3, sinks still wrote their files") {
  const fs::path dir = rt_test::fresh_dir("cli_run");
  write(dir / "p.yaml", "output: out\n" + pipeline(fs::relative(QFLOW_TEST_GOOD_PLUGIN, dir).string(),
                                                   "  - {id: boom, type: test.throw_on_event, inputs: bars, params: {at: 2}}\n"
                                                   "  - {id: post, type: test.count, inputs: boom}\n"));
  const auto r = qflow_cli("run p.yaml --no-progress", dir);
  INFO(r.text);
  CHECK(r.status == 3);
  CHECK(contains(r.text, "node 'boom' (test.throw_on_event) failed in on_event: boom at event 2"));
  CHECK(fs::exists(dir / "out" / "post.count"));
  const auto ok = qflow_cli("run p.yaml --no-progress --set count=1", dir);
  INFO(ok.text);
  CHECK(ok.status == 0);
}
