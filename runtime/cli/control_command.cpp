#include "control_command.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace qflow::cli {
namespace {

struct Reply {
  int status = 0;
  std::string body;
  std::string error;  // no answer: why
};

// One HTTP/1.1 request to http://host:port; the connection closes after the answer.
Reply request(const std::string& url, const std::string& method, const std::string& path, const std::string& body,
              const std::string& token) {
  Reply r;
  if (url.rfind("http://", 0) != 0) {
    r.error = "--url must be http://host:port, got '" + url + "'";
    return r;
  }
  std::string authority = url.substr(7);
  if (const size_t slash = authority.find('/'); slash != std::string::npos) authority.resize(slash);
  std::string host = authority, port = "80";
  if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    r.error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return r;
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    r.error = "no qflow session answers at " + url + " (" + std::strerror(errno) + "); is `qflow run` running in paper mode?";
    return r;
  }
  timeval tv{30, 0};  // a reload answers once it is applied
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    r.error = std::string("cannot send the request: ") + std::strerror(errno);
    ::close(fd);
    return r;
  }
  std::string raw;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) {
    r.error = "the session sent no complete answer";
    return r;
  }
  std::from_chars(raw.data() + 9, raw.data() + 12, r.status);
  r.body = raw.substr(end + 4);
  return r;
}

}  // namespace

ControlCommands add_control_commands(CLI::App& app, ControlArguments& args) {
  ControlCommands c;
  c.status = app.add_subcommand("status", "Show a running paper/live session's status (GET /api/status)");
  c.reload = app.add_subcommand("reload", "Reload a running session's scripts and parameters now (POST /api/reload)");
  c.kill = app.add_subcommand("kill", "Engage a running session's kill switch: no new order reaches an executor");
  for (CLI::App* sub : {c.status, c.reload, c.kill}) {
    sub->add_option("--url", args.url, "The session's control server, as `qflow run` printed it")->capture_default_str();
    sub->add_option("--token", args.token, "Bearer token (default: $QFLOW_CONTROL_TOKEN)");
  }
  c.reload->add_option("--node", args.node, "Only this node (default: every reloadable node)");
  c.kill->add_flag("--flatten", args.flatten, "Also close every position");
  return c;
}

int run_control_command(const ControlCommands& c, const ControlArguments& args) {
  std::string token = args.token;
  if (token.empty())
    if (const char* t = std::getenv("QFLOW_CONTROL_TOKEN")) token = t;
  Reply r;
  if (c.status->parsed()) {
    r = request(args.url, "GET", "/api/status", "", token);
  } else if (c.reload->parsed()) {
    nlohmann::json body = nlohmann::json::object();
    if (!args.node.empty()) body["node"] = args.node;
    r = request(args.url, "POST", "/api/reload", body.dump(), token);
  } else {
    r = request(args.url, "POST", "/api/kill", nlohmann::json{{"flatten", args.flatten}}.dump(), token);
  }
  if (!r.error.empty()) {
    std::fprintf(stderr, "qflow: %s\n", r.error.c_str());
    return 3;
  }
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  const std::string shown = j.is_discarded() ? r.body : j.dump(2);
  if (r.status != 200) {
    std::fprintf(stderr, "qflow: the session answered %d: %s\n", r.status, shown.c_str());
    return 3;
  }
  std::printf("%s\n", shown.c_str());
  if (c.reload->parsed() && j.is_object() && j.contains("reloads"))
    for (const auto& e : j["reloads"])
      if (e.value("outcome", "") != "applied") return 3;
  return 0;
}

}  // namespace qflow::cli
