// `qflow replay-server`: the bundled exchange simulator (runtime/net/replay_server.hpp) on the
// command line. Replays CSV files as Binance spot streams until Ctrl-C / SIGTERM, or until the
// replay ends with --exit-at-end.
//
//   qflow replay-server --feed BTCUSDT=data/btc.csv --feed ETHUSDT=data/eth.csv,interval=1m --speed 60
//
// A --feed is SYMBOL=PATH[,bars|ticks][,interval=1m][,time=COL][,price=COL][,qty=COL] (so a path
// cannot hold a comma). At start it prints each stream's URL, the combined one and the REST base
// on stdout, one line each, prefixed "replay-server: ".
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace qflow::cli {

struct ReplayArguments {
  std::vector<std::string> feeds;
  std::string speed = "1";
  std::string host = "127.0.0.1";
  int port = 9000;
  std::string cert, key;
  bool partial_klines = false, start_immediately = false, exit_at_end = false;
  std::string disconnect_every, stall_every, stall_for, ping_every = "20s";
  uint64_t drop_every = 0, duplicate_every = 0, malformed_every = 0, reorder_every = 0;
};

// Declares the subcommand and its options on `app`.
CLI::App* add_replay_command(CLI::App& app, ReplayArguments& args);

// Runs the server until `interrupted` or the end; returns the exit code: 0, 1 (bad arguments)
// or 3 (a data file or the network failed).
int run_replay_server(const ReplayArguments& args, const std::atomic<bool>& interrupted);

}  // namespace qflow::cli
