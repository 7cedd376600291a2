// source.exchange_ws against the bundled exchange simulator on loopback, with the real `qflow`
// binary: BTC and ETH minute bars replayed in Binance's wire format reach the pipeline exactly
// once and in time order, whatever fault the simulator injects (dropped, duplicated, malformed
// and reordered messages, disconnects, stalls), over ws:// and over wss:// with a verified
// certificate. The expected table is built here from the CSV files themselves.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <cctype>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace qflow::testing;

namespace {

const std::string kData = QFLOW_SHARED_DATA_DIR;
constexpr size_t kRows = 1200;  // per symbol

// The first `rows` data rows of a shared CSV, written to `dir`.
std::string truncated_copy(const std::string& dir, const std::string& file, size_t rows) {
  std::ifstream in(kData + "/" + file);
  const std::string out_path = dir + "/" + file;
  std::ofstream out(out_path);
  std::string line;
  for (size_t i = 0; i <= rows && std::getline(in, line); ++i) out << line << "\n";
  return out_path;
}

std::string shortest(const std::string& text) {
  const double v = std::strtod(text.c_str(), nullptr);
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// What sink.table_csv must hold: each minute's BTC row, then ETH's (the order of `streams`),
// times as ISO 8601 UTC, numbers as the shortest text of the CSV's own.
std::string expected_table(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::vector<std::vector<std::string>>> tables;
  for (const auto& [symbol, path] : files) tables.push_back(read_csv(path));
  std::string out = "time,symbol,feed.open,feed.high,feed.low,feed.close,feed.volume\n";
  for (size_t row = 1; row < tables[0].size(); ++row) {
    for (size_t f = 0; f < files.size(); ++f) {
      const auto& r = tables[f][row];
      std::string time = r[0];
      time[10] = 'T';
      out += time + "Z," + files[f].first;
      for (size_t c = 1; c <= 5; ++c) {
        out += ',';
        out += shortest(r[c]);
      }
      out += "\n";
    }
  }
  return out;
}

struct Outcome {
  int status = -1;
  std::string log;
};

Outcome run_qflow(const std::vector<std::string>& args) {
  std::string cmd = QFLOW_BINARY;
  for (const std::string& a : args) {
    cmd += " '";
    cmd += a;
    cmd += '\'';
  }
  cmd += " 2>&1";
  Outcome o;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.log.append(buf, n);
  const int rc = pclose(p);
  o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return o;
}

// The source's closing summary: "feed: N messages, N bars, ..., N connections, N stale hang-ups".
std::map<std::string, uint64_t> feed_counters(const std::string& log) {
  std::map<std::string, uint64_t> out;
  const size_t at = log.rfind("feed: ");
  if (at == std::string::npos) return out;
  const std::string line = log.substr(at, log.find('\n', at) - at);
  // "N words": a number, a space, then lower-case words (spaces and hyphens inside).
  for (size_t i = 0; i < line.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i])) || (i > 0 && std::isalnum(static_cast<unsigned char>(line[i - 1])))) continue;
    size_t j = i;
    while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
    if (j + 1 >= line.size() || line[j] != ' ' || !std::islower(static_cast<unsigned char>(line[j + 1]))) {
      i = j;
      continue;
    }
    size_t k = j + 1;
    while (k < line.size() && (std::islower(static_cast<unsigned char>(line[k])) || line[k] == ' ' || line[k] == '-')) ++k;
    std::string words = line.substr(j + 1, k - j - 1);
    while (!words.empty() && (words.back() == ' ' || words.back() == '-')) words.pop_back();
    out[words] = std::stoull(line.substr(i, j - i));
    i = k;
  }
  return out;
}

std::string write_pipeline(const std::string& dir) {
  const std::string path = dir + "/feed.yaml";
  std::ofstream(path) << R"(name: paper_feed_test
mode: paper
output: ${out}
variables:
  out: out
  speed: max
  drop: 0
  dup: 0
  bad: 0
  reorder: 0
  disconnect: 0
  stall_every: 0
  stall_for: 0
  stale: 0
engine:
  facts: false
simulator:
  port: 0
  speed: ${speed}
  feeds:
    - symbol: BTCUSDT
      path: binance_spot_btcusdt_1m_2024q4.csv
      interval: 1m
    - symbol: ETHUSDT
      path: binance_spot_ethusdt_1m_2024q4.csv
      interval: 1m
  faults:
    drop_every: ${drop}
    duplicate_every: ${dup}
    malformed_every: ${bad}
    reorder_every: ${reorder}
    disconnect_every: ${disconnect}
    stall_every: ${stall_every}
    stall_for: ${stall_for}
nodes:
  - id: feed
    type: source.exchange_ws
    params:
      url: ${simulator.url}
      streams: btcusdt@kline_1m, ethusdt@kline_1m
      reconnect_min: 20ms
      reconnect_max: 200ms
      stale_after: ${stale}
  - id: table
    type: sink.table_csv
    inputs: [feed]
)";
  return path;
}

struct Fixture {
  std::string dir, pipeline, expected;
  // Each test case in a folder of its own: CTest runs them in parallel.
  explicit Fixture(const std::string& name) {
    dir = fresh_dir("paper_feed_" + name);
    const std::string btc = truncated_copy(dir, "binance_spot_btcusdt_1m_2024q4.csv", kRows);
    const std::string eth = truncated_copy(dir, "binance_spot_ethusdt_1m_2024q4.csv", kRows);
    pipeline = write_pipeline(dir);
    expected = expected_table({{"BTCUSDT", btc}, {"ETHUSDT", eth}});
  }
  Outcome run(const std::string& name, const std::vector<std::string>& sets) {
    std::vector<std::string> args = {"run", "--no-progress", "--control-port", "0", pipeline, "--set", "out=" + dir + "/" + name};
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    return run_qflow(args);
  }
  std::string table(const std::string& name) const { return read_file(dir + "/" + name + "/table.csv"); }
};

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool can_connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// `qflow replay-server` in a child process, stopped with SIGTERM.
class ReplayProcess {
 public:
  explicit ReplayProcess(std::vector<std::string> args) {
    args.insert(args.begin(), {QFLOW_BINARY, "replay-server"});
    std::fflush(stdout);  // the child must not write out our buffered output again
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      std::freopen("/dev/null", "w", stdout);
      execv(QFLOW_BINARY, argv.data());
      _exit(127);
    }
  }
  ~ReplayProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("exchange_ws delivers every simulator bar exactly once, in time order") {
  Fixture f("clean");
  const Outcome o = f.run("clean", {});
  INFO(o.log);
  REQUIRE(o.status == 0);
  CHECK(f.table("clean") == f.expected);
  const auto c = feed_counters(o.log);
  CHECK(c.at("bars") == 2 * kRows);
  CHECK(c.at("messages") == 2 * kRows);
  CHECK(c.at("gaps") == 0);
  CHECK(c.at("connections") == 1);
}

TEST_CASE("exchange_ws loses and repeats nothing under dropped, duplicated, malformed and reordered messages") {
  Fixture f("faults");
  const uint64_t total = 2 * kRows;
  SECTION("dropped messages are fetched from the REST API") {
    const Outcome o = f.run("drop", {"drop=97"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("drop") == f.expected);
    const auto c = feed_counters(o.log);
    CHECK(c.at("messages") == total - total / 97);
    CHECK(c.at("bars backfilled") == total / 97);
    CHECK(c.at("gaps") == total / 97);
    CHECK(c.at("bars lost") == 0);
  }
  SECTION("the last message, dropped, is fetched once the feed has ended") {
    // Message 2,400 is the last: no later kline reveals it missing, so only a fetch after the
    // end of the feed finds it.
    const Outcome o = f.run("drop_last", {"drop=" + std::to_string(total)});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("drop_last") == f.expected);
    const auto c = feed_counters(o.log);
    CHECK(c.at("messages") == total - 1);
    CHECK(c.at("bars backfilled") == 1);
    CHECK(c.at("bars lost") == 0);
  }
  SECTION("duplicates are dropped") {
    const Outcome o = f.run("dup", {"dup=89"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("dup") == f.expected);
    const auto c = feed_counters(o.log);
    CHECK(c.at("duplicates") == total / 89);
    CHECK(c.at("messages") == total + total / 89);
  }
  SECTION("malformed messages are counted, logged, and their bars fetched again") {
    const Outcome o = f.run("bad", {"bad=83"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("bad") == f.expected);
    const auto c = feed_counters(o.log);
    // The simulator cycles through four kinds: three unreadable, one of an unknown event type.
    CHECK(c.at("malformed") + c.at("unexpected") == total / 83);
    CHECK(c.at("unexpected") == total / 83 / 4);
    CHECK(c.at("bars backfilled") == total / 83);
    CHECK(o.log.find("malformed message #1: ") != std::string::npos);
  }
  SECTION("reordered messages are put back in order") {
    const Outcome o = f.run("reorder", {"reorder=71"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("reorder") == f.expected);
    CHECK(feed_counters(o.log).at("bars lost") == 0);
  }
  SECTION("all of them at once") {
    const Outcome o = f.run("all", {"drop=97", "dup=89", "bad=83", "reorder=71"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("all") == f.expected);
    CHECK(feed_counters(o.log).at("bars lost") == 0);
  }
}

TEST_CASE("exchange_ws reconnects after disconnects and stalls and backfills what it missed") {
  Fixture f("reconnects");
  // 60,000x: a minute of data every millisecond, so the 1,200 minutes last about 1.2 s.
  SECTION("disconnects") {
    const Outcome o = f.run("disconnect", {"speed=60000", "disconnect=250ms"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("disconnect") == f.expected);
    const auto c = feed_counters(o.log);
    CHECK(c.at("connections") >= 3);
    CHECK(c.at("bars backfilled") > 0);
    CHECK(c.at("bars lost") == 0);
    CHECK(o.log.find("disconnected: ") != std::string::npos);
  }
  SECTION("a stalled feed is hung up and reconnected") {
    const Outcome o = f.run("stall", {"speed=60000", "stall_every=400ms", "stall_for=250ms", "stale=100ms"});
    INFO(o.log);
    REQUIRE(o.status == 0);
    CHECK(f.table("stall") == f.expected);
    const auto c = feed_counters(o.log);
    CHECK(c.at("stale hang-ups") >= 1);
    CHECK(c.at("connections") == c.at("stale hang-ups") + 1);
    CHECK(c.at("bars lost") == 0);
    CHECK(o.log.find("(stale feed)") != std::string::npos);
  }
}

TEST_CASE("exchange_ws speaks wss:// with a verified certificate and refuses an untrusted one") {
  const std::string dir = fresh_dir("paper_feed_tls");
  const std::string btc = truncated_copy(dir, "binance_spot_btcusdt_1m_2024q4.csv", 300);
  const std::string tls = std::string(QFLOW_SOURCE_DIR) + "/tests/data/tls";
  auto pipeline = [&](int port, const std::string& name) {
    const std::string path = dir + "/" + name + ".yaml";
    std::ofstream(path) << "name: tls_" << name << "\nmode: paper\noutput: " << dir << "/" << name
                        << "\nengine:\n  facts: false\nnodes:\n  - id: feed\n    type: source.exchange_ws\n    params:\n"
                        << "      url: wss://localhost:" << port << "\n      streams: btcusdt@kline_1m\n"
                        << "      ca_file: " << tls << "/ca.crt\n      reconnect_min: 20ms\n      reconnect_max: 50ms\n"
                        << "      max_reconnect_attempts: 3\n  - id: table\n    type: sink.table_csv\n    inputs: [feed]\n";
    return path;
  };
  auto serve = [&](int port, const std::string& cert) {
    return std::make_unique<ReplayProcess>(std::vector<std::string>{
        "--feed", "BTCUSDT=" + btc, "--speed", "max", "--port", std::to_string(port), "--cert", tls + "/" + cert + ".crt",
        "--key", tls + "/" + cert + ".key"});
  };
  auto wait_listening = [](int port) {
    for (int i = 0; i < 500 && !can_connect(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(can_connect(port));
  };

  SECTION("trusted") {
    const int port = free_port();
    auto server = serve(port, "server");
    wait_listening(port);
    const Outcome o = run_qflow({"run", "--no-progress", "--control-port", "0", pipeline(port, "trusted")});
    INFO(o.log);
    REQUIRE(o.status == 0);
    std::string expected = expected_table({{"BTCUSDT", btc}});
    CHECK(read_file(dir + "/trusted/table.csv") == expected);
    CHECK(o.log.find("connecting to wss://localhost:") != std::string::npos);
  }
  SECTION("untrusted") {
    const int port = free_port();
    auto server = serve(port, "untrusted");
    wait_listening(port);
    const Outcome o = run_qflow({"run", "--no-progress", "--control-port", "0", pipeline(port, "untrusted")});
    INFO(o.log);
    CHECK(o.status == 3);
    CHECK(o.log.find("gave up after 3 failed connection attempts to localhost:") != std::string::npos);
    CHECK(read_file(dir + "/untrusted/table.csv") == "time,symbol,feed.open,feed.high,feed.low,feed.close,feed.volume\n");
  }
}

TEST_CASE("pipelines/paper_trend.yaml trades on the simulator exactly as its backtest does") {
  const std::string dir = fresh_dir("paper_trend");
  const std::string pipeline = std::string(QFLOW_SOURCE_DIR) + "/pipelines/paper_trend.yaml";
  const Outcome paper = run_qflow({"run", "--no-progress", "--control-port", "0", pipeline, "--set", "speed=max", "--set",
                                   "out=" + dir + "/paper"});
  INFO(paper.log);
  REQUIRE(paper.status == 0);
  CHECK(paper.log.find("exchange simulator: ws://127.0.0.1:9464/stream?streams=btcusdt@kline_1m") != std::string::npos);
  const Outcome backtest = run_qflow({"run", "--no-progress", pipeline, "--set", "mode=backtest", "--set", "out=" + dir + "/backtest"});
  INFO(backtest.log);
  REQUIRE(backtest.status == 0);
  const std::string trades = read_file(dir + "/paper/trades.csv");
  CHECK(std::count(trades.begin(), trades.end(), '\n') > 100);
  CHECK(trades == read_file(dir + "/backtest/trades.csv"));
  CHECK(read_file(dir + "/paper/summary.json") == read_file(dir + "/backtest/summary.json"));
}
