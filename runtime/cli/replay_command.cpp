// `qflow replay-server`: arguments into ReplayOptions, then serve until interrupted or done.
#include "replay_command.hpp"

#include "net/replay_server.hpp"

#include <qflow/time.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace qflow::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitFailed = 3;

// A usage error: the message names the option and what was wrong.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int64_t duration(const std::string& option, const std::string& text) {
  if (text.empty()) return 0;
  const std::optional<int64_t> ns = parse_duration(text);
  if (!ns) throw UsageError(option + " '" + text + "': expected a duration such as 500ms, 30s, 1m");
  return *ns;
}

double speed(const std::string& text) {
  if (text == "max") return 0;
  double v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty() || !std::isfinite(v) || v < 0)
    throw UsageError("--speed '" + text + "': expected a positive number (60 = a minute of data per second) or max");
  return v;
}

// SYMBOL=PATH[,bars|ticks][,interval=1m][,time=COL][,price=COL][,qty=COL]
net::ReplayFeed feed(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return UsageError("--feed '" + text + "': " + why +
                      " (expected SYMBOL=PATH[,bars|ticks][,interval=1m][,time=COL][,price=COL][,qty=COL])");
  };
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw bad("no SYMBOL=");
  net::ReplayFeed f;
  f.symbol = text.substr(0, eq);
  std::vector<std::string> parts;
  for (size_t pos = eq + 1;;) {
    const size_t comma = text.find(',', pos);
    parts.push_back(text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  f.path = parts[0];
  if (f.path.empty()) throw bad("no path");
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const size_t k = p.find('=');
    const std::string key = p.substr(0, k), value = k == std::string::npos ? "" : p.substr(k + 1);
    if (p == "bars") f.kind = net::ReplayFeed::bars;
    else if (p == "ticks") f.kind = net::ReplayFeed::ticks;
    else if (k != std::string::npos && key == "interval") f.interval = value;
    else if (k != std::string::npos && key == "time") f.time_column = value;
    else if (k != std::string::npos && key == "price") f.price_column = value;
    else if (k != std::string::npos && key == "qty") f.qty_column = value;
    else throw bad("unknown part '" + p + "'");
  }
  return f;
}

net::ReplayOptions options_of(const ReplayArguments& a) {
  net::ReplayOptions o;
  for (const std::string& f : a.feeds) o.feeds.push_back(feed(f));
  o.speed = speed(a.speed);
  o.host = a.host;
  o.port = a.port;
  o.cert = a.cert;
  o.key = a.key;
  o.partial_klines = a.partial_klines;
  o.start_immediately = a.start_immediately;
  o.exit_at_end = a.exit_at_end;
  o.ping_every_ns = duration("--ping-every", a.ping_every);
  o.faults.disconnect_every_ns = duration("--disconnect-every", a.disconnect_every);
  o.faults.stall_every_ns = duration("--stall-every", a.stall_every);
  o.faults.stall_for_ns = duration("--stall-for", a.stall_for);
  o.faults.drop_every = a.drop_every;
  o.faults.duplicate_every = a.duplicate_every;
  o.faults.malformed_every = a.malformed_every;
  o.faults.reorder_every = a.reorder_every;
  if (o.cert.empty() != o.key.empty()) throw UsageError("--cert and --key go together");
  if ((o.faults.stall_every_ns > 0) != (o.faults.stall_for_ns > 0)) throw UsageError("--stall-every and --stall-for go together");
  return o;
}

}  // namespace

CLI::App* add_replay_command(CLI::App& app, ReplayArguments& a) {
  CLI::App* cmd = app.add_subcommand("replay-server", "Serve CSV market data as Binance spot WebSocket streams and REST klines");
  cmd->add_option("--feed", a.feeds, "SYMBOL=PATH[,bars|ticks][,interval=1m][,time=COL][,price=COL][,qty=COL] (repeatable)")
      ->required();
  cmd->add_option("--speed", a.speed, "Data time per wall time (60: a minute per second), or max")->capture_default_str();
  cmd->add_option("--host", a.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", a.port, "Port to listen on (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--cert", a.cert, "PEM certificate: serve wss:// and https://");
  cmd->add_option("--key", a.key, "PEM private key of --cert");
  cmd->add_flag("--partial-klines", a.partial_klines, "Send an unclosed (x=false) update before each closed kline");
  cmd->add_flag("--start-immediately", a.start_immediately, "Start the clock now, not at the first subscription");
  cmd->add_flag("--exit-at-end", a.exit_at_end, "Exit once the replay finished and every client was closed");
  cmd->add_option("--disconnect-every", a.disconnect_every, "Drop every connection this often (e.g. 30s)");
  cmd->add_option("--drop-every", a.drop_every, "Skip every Nth message of a connection");
  cmd->add_option("--duplicate-every", a.duplicate_every, "Send every Nth message twice");
  cmd->add_option("--malformed-every", a.malformed_every, "Replace every Nth message with malformed JSON");
  cmd->add_option("--reorder-every", a.reorder_every, "Swap every Nth message with the next");
  cmd->add_option("--stall-every", a.stall_every, "Stop sending this often (with --stall-for)");
  cmd->add_option("--stall-for", a.stall_for, "How long each stall lasts");
  cmd->add_option("--ping-every", a.ping_every, "WebSocket ping period (0: none)")->capture_default_str();
  return cmd;
}

int run_replay_server(const ReplayArguments& args, const std::atomic<bool>& interrupted) {
  net::ReplayOptions options;
  try {
    options = options_of(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "qflow replay-server: %s\n", e.what());
    return kExitUsage;
  }
  try {
    net::ReplayServer server(options);
    server.start();
    for (const std::string& s : server.streams()) std::printf("replay-server: %s\n", server.raw_url(s).c_str());
    std::printf("replay-server: %s\n", server.url().c_str());
    std::printf("replay-server: %s/api/v3/klines\n", server.http_url().c_str());
    std::fflush(stdout);
    while (!interrupted.load() && !(options.exit_at_end && server.finished()))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();
    const net::ReplayStats s = server.stats();
    spdlog::info("replay-server: sent {} messages to {} connections; position {} of {}", s.sent, s.connections,
                 s.position, s.total);
    return kExitOk;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qflow replay-server: %s\n", e.what());
    return kExitFailed;
  }
}

}  // namespace qflow::cli
