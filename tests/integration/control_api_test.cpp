// The control API of a paper session, through real HTTP on loopback against the `qflow` binary:
// status, metrics, readiness, the bearer token, the kill switch (new orders refused, positions
// flattened), a reload on request, an unknown endpoint, a second qflow on the same run folder,
// and a clean stop with Ctrl-C.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace qflow::testing;

namespace {


struct Response {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 request on a fresh connection; status 0 when nothing answered.
Response http(int port, const std::string& method, const std::string& path, const std::string& body = "",
              const std::string& token = "") {
  Response r;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  [[maybe_unused]] const ssize_t sent = ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (raw.size() < 12) return r;
  r.status = std::stoi(raw.substr(9, 3));
  const size_t end = raw.find("\r\n\r\n");
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  return r;
}

}  // namespace

TEST_CASE("the control API of a paper session: token, status, metrics, kill switch, reload, Ctrl-C") {
  const std::string dir = fresh_dir("control_api");
  {
    std::ifstream in(std::string(QFLOW_SHARED_DATA_DIR) + "/binance_spot_btcusdt_1m_2024q4.csv");
    std::ofstream out(dir + "/btc.csv");
    std::string line;
    for (size_t i = 0; i <= 5000 && std::getline(in, line); ++i) out << line << "\n";
  }
  // Buys 1 every 5 bars and never sells: it holds a position to flatten and keeps placing
  // orders to refuse.
  std::ofstream(dir + "/strategy.lua") << R"(
state = { n = 0 }
function on_bar(bar)
  state.n = state.n + 1
  if state.n % 5 == 0 then buy(1) end
end
)";
  const std::string pipeline = dir + "/paper.yaml";
  std::ofstream(pipeline) << "name: control_api_test\nmode: paper\noutput: " << dir << R"(/out
simulator:
  port: 0
  speed: 600
  feeds:
    - symbol: BTCUSDT
      path: btc.csv
      interval: 1m
nodes:
  - id: bars
    type: source.exchange_ws
    params:
      url: ${simulator.url}
      streams: btcusdt@kline_1m
  - id: strategy
    type: lua
    inputs: [bars]
    params:
      script: strategy.lua
  - id: broker
    type: executor.paper
    inputs: {market: bars, orders: strategy}
    params:
      cash: 1000000
)";
  const std::string log_path = dir + "/log.txt";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execl(QFLOW_BINARY, QFLOW_BINARY, "run", "--no-progress", "--control-port", "0", "--control-token", "s3cret",
          pipeline.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  REQUIRE(wait_until([&] {
    const std::string text = read_file(log_path);
    const std::string key = "dashboard: http://127.0.0.1:";
    const size_t at = text.find(key);
    if (at == std::string::npos) return false;
    port = std::stoi(text.substr(at + key.size()));
    return true;
  }));
  INFO(read_file(log_path));

  CHECK(http(port, "GET", "/ping").body == "pong");
  REQUIRE(wait_until([&] { return http(port, "GET", "/ready").status == 200; }));
  // Trading for a while: some fills first.
  REQUIRE(wait_until([&] {
    const auto s = nlohmann::json::parse(http(port, "GET", "/api/status").body);
    return s["events"].get<uint64_t>() >= 30;
  }));
  const auto status = nlohmann::json::parse(http(port, "GET", "/api/status").body);
  CHECK(status["mode"] == "paper");
  CHECK(status["run"].get<std::string>().rfind("control_api_test-", 0) == 0);
  CHECK(status["killed"] == false);
  CHECK(status["versions"]["strategy"].get<std::string>().rfind("strategy.lua@", 0) == 0);
  auto node_states = [&](const nlohmann::json& st) {
    std::map<std::string, std::string> out;
    for (const auto& n : st["nodes"]) out[n["id"].get<std::string>()] = n["state"].get<std::string>();
    return out;
  };
  const auto before_kill = node_states(status);
  REQUIRE(before_kill.count("strategy") == 1);
  REQUIRE(before_kill.count("broker") == 1);
  for (const auto& [id, state] : before_kill) CHECK(state == "ok");
  const std::string metrics = http(port, "GET", "/metrics").body;
  CHECK(metrics.find("qflow_node_events_in_total{node=\"strategy\",type=\"lua\"}") != std::string::npos);
  CHECK(metrics.find("qflow_node_callback_seconds_count{node=\"broker\",type=\"executor.paper\"}") != std::string::npos);
  CHECK(http(port, "GET", "/no/such/endpoint").status == 404);

  // The token: missing or wrong is refused, and nothing happens.
  CHECK(http(port, "POST", "/api/kill", R"({"flatten":true})").status == 401);
  CHECK(http(port, "POST", "/api/kill", R"({"flatten":true})", "wrong").status == 401);
  CHECK(http(port, "POST", "/api/reload", "", "wrong").status == 401);
  CHECK(nlohmann::json::parse(http(port, "GET", "/api/status").body)["killed"] == false);

  // A reload on request.
  const Response reload = http(port, "POST", "/api/reload", R"({"node":"strategy"})", "s3cret");
  REQUIRE(reload.status == 200);
  const auto reloads = nlohmann::json::parse(reload.body)["reloads"];
  REQUIRE(reloads.size() == 1);
  CHECK(reloads[0]["outcome"] == "applied");

  // The same from the command line: qflow status / reload.
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  CHECK(run_cli("status --url " + url).text.find("\"mode\": \"paper\"") != std::string::npos);
  CHECK(run_cli("reload --url " + url + " --node strategy").text.find("the session answered 401") != std::string::npos);
  const std::string cli_reload = run_cli("reload --url " + url + " --token s3cret --node strategy").text;
  CHECK(cli_reload.find("\"outcome\": \"applied\"") != std::string::npos);

  // The kill switch, flattening: from now on every order is refused.
  const Response kill = http(port, "POST", "/api/kill", R"({"flatten":true})", "s3cret");
  REQUIRE(kill.status == 200);
  CHECK(nlohmann::json::parse(kill.body)["killed"] == true);
  REQUIRE(wait_until([&] { return nlohmann::json::parse(http(port, "GET", "/api/status").body)["orders_blocked"].get<uint64_t>() >= 3; }));
  const std::string killed_metrics = http(port, "GET", "/metrics").body;
  CHECK(killed_metrics.find("qflow_killed 1") != std::string::npos);
  // The nodes table: the strategy and the executor are halted; the others run on.
  for (const auto& [id, state] : node_states(nlohmann::json::parse(http(port, "GET", "/api/status").body)))
    CHECK(state == (id == "strategy" || id == "broker" ? "halted" : "ok"));

  // A second qflow on the same run folder is refused, and the first one goes on.
  const std::string second = run_cli("run --no-progress --control-port 0 " + pipeline).text;
  CHECK(second.find("is in use by another qflow process") != std::string::npos);
  CHECK(http(port, "GET", "/ping").body == "pong");

  // Ctrl-C: sources stop, the pipeline drains and checkpoints, the sockets close.
  ::kill(pid, SIGINT);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  REQUIRE(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 130);
  const std::string log = read_file(log_path);
  CHECK(log.find("checkpoint written: resume with --resume") != std::string::npos);
  CHECK(http(port, "GET", "/ping").status == 0);  // nobody listens any more

  // What the facts say: after the kill, the strategy's orders were all rejected as halted, and
  // the only fills are the kill switch's, which leave no position.
  const auto updates = nlohmann::json::parse(run_cli("export " + dir + "/out order_updates --format json").text);
  const auto fills = nlohmann::json::parse(run_cli("export " + dir + "/out fills --format json").text);
  size_t halted = 0;
  for (const auto& u : updates) halted += u["reason"] == "halted";
  CHECK(halted >= 3);
  double position = 0;
  bool flattened_last = false;
  for (const auto& f : fills) {
    position += (f["side"] == "buy" ? 1.0 : -1.0) * f["quantity"].get<double>();
    flattened_last = f["tag"] == "kill switch";
  }
  CHECK(std::abs(position) < 1e-9);
  CHECK(flattened_last);
}
