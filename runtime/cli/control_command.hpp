// `qflow reload`, `qflow kill` and `qflow status`: the control API of a running paper or live
// session (runtime/run_monitor.hpp) from the command line, over HTTP on loopback.
//
//   qflow status                          # GET /api/status, printed as JSON
//   qflow reload [--node strategy]        # POST /api/reload: reload now, print the attempts
//   qflow kill [--flatten]                # POST /api/kill: the kill switch
//
// --url names the session (default http://127.0.0.1:8321, what `qflow run` prints as
// "dashboard:"); --token, or $QFLOW_CONTROL_TOKEN, is sent as a bearer token.
// Exit codes: 0 done, 1 usage, 3 no session answered or it refused (the message says why).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace qflow::cli {

struct ControlArguments {
  std::string url = "http://127.0.0.1:8321";
  std::string token;
  std::string node;
  bool flatten = false;
};

struct ControlCommands {
  CLI::App* status = nullptr;
  CLI::App* reload = nullptr;
  CLI::App* kill = nullptr;
};

ControlCommands add_control_commands(CLI::App& app, ControlArguments& args);
// Runs whichever of the commands was parsed; returns the exit code.
int run_control_command(const ControlCommands& commands, const ControlArguments& args);

}  // namespace qflow::cli
