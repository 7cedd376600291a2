// Running a pipeline file in-process, as `qflow run` would, for integration tests.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace qflow::testing {

struct PipelineRun {
  int status = 0;  // 0 ok, 2 invalid, 3 failed
  std::string errors;
  std::string output_dir;
};

PipelineRun run_pipeline_file(const std::string& file, const std::map<std::string, std::string>& overrides,
                              int threads = 0);

std::string read_file(const std::string& path);
// A fresh, empty directory under the test work dir.
std::string fresh_dir(const std::string& name);
// CSV rows split into fields (header included).
std::vector<std::vector<std::string>> read_csv(const std::string& path);

// `qflow <args>` as a user runs it: the exit code, and stdout and stderr together.
struct CliOutput {
  int code = -1;
  std::string text;
};
CliOutput run_cli(const std::string& args);

// Asks `f` every 20 ms until it holds; false once `seconds` have passed.
bool wait_until(const std::function<bool()>& f, double seconds = 10);

}  // namespace qflow::testing
