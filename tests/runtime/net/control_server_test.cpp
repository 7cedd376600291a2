// runtime/net/control_server.hpp against real connections on loopback: a small HTTP/1.1 client
// and a minimal RFC 6455 WebSocket client, both written here over POSIX sockets, talk to a
// ControlServer whose handlers report and record the test's own state.
#include "net/control_server.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace qflow::net;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A TCP connection to 127.0.0.1:port. Reads give up after 10 s, so a server that never answers
// fails the test instead of hanging it.
class Connection {
 public:
  explicit Connection(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Appends what arrives to `in`; false at the end of the stream (or a reset).
  bool receive(std::string& in) {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) throw std::runtime_error("no answer within 10 s");
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
    return true;
  }
  // Reads until `in` holds `needle`; false if the stream ends first.
  bool receive_until(std::string& in, std::string_view needle) {
    while (in.find(needle) == std::string::npos)
      if (!receive(in)) return false;
    return true;
  }

 private:
  int fd_ = -1;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  json json_body() const { return json::parse(body); }
};

// Parses the status line and headers at the front of `in`, removing them.
HttpResponse take_head(std::string& in) {
  const size_t end = in.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  const std::string head = in.substr(0, end);
  in.erase(0, end + 4);
  HttpResponse r;
  REQUIRE(head.starts_with("HTTP/1.1 "));
  r.status = std::stoi(head.substr(9, 3));
  size_t at = head.find("\r\n");
  while (at != std::string::npos) {
    const size_t next = head.find("\r\n", at + 2);
    const std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    const size_t colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    at = next;
  }
  return r;
}

// Reads one response from `c` (after whatever `in` already holds), framed by Content-Length.
HttpResponse read_response(Connection& c, std::string& in, bool head_request = false) {
  REQUIRE(c.receive_until(in, "\r\n\r\n"));
  HttpResponse r = take_head(in);
  const std::string length = r.header("content-length");
  REQUIRE(!length.empty());
  const size_t n = head_request ? 0 : std::stoul(length);
  while (in.size() < n) REQUIRE(c.receive(in));
  r.body = in.substr(0, n);
  in.erase(0, n);
  return r;
}

std::string request_text(int port, const std::string& method, const std::string& path, const std::string& body,
                         const std::vector<std::string>& headers, bool close = true) {
  std::string text = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& h : headers) text += h + "\r\n";
  if (method == "POST" || !body.empty()) text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) text += "Connection: close\r\n";
  return text + "\r\n" + body;
}

HttpResponse http(int port, const std::string& method, const std::string& path, const std::string& body = {},
                  const std::vector<std::string>& headers = {}) {
  Connection c(port);
  c.send(request_text(port, method, path, body, headers));
  std::string in;
  return read_response(c, in, method == "HEAD");
}

// A WebSocket client of the server's stream. The handshake uses RFC 6455's own example key, so
// the expected Sec-WebSocket-Accept is the one printed in the RFC.
class StreamClient {
 public:
  static constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";
  static constexpr const char* kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

  explicit StreamClient(int port, const std::string& target = "/stream", const std::vector<std::string>& headers = {},
                        int receive_buffer = 0)
      : c_(port, receive_buffer) {
    std::string text = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                       "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + kKey +
                       "\r\nSec-WebSocket-Version: 13\r\n";
    for (const auto& h : headers) text += h + "\r\n";
    c_.send(text + "\r\n");
    REQUIRE(c_.receive_until(in_, "\r\n\r\n"));
    handshake = take_head(in_);
  }

  HttpResponse handshake;
  std::optional<uint16_t> close_code;  // set when the server's close frame arrived

  // The next text message; nothing once the server sent a close frame. Throws at the end of the
  // stream or on a frame a server must not send (no Catch assertions: readers run on threads).
  std::optional<std::string> next() {
    std::string message;
    for (;;) {
      need(2);
      const auto b0 = static_cast<unsigned char>(in_[0]), b1 = static_cast<unsigned char>(in_[1]);
      if (b1 & 0x80) throw std::runtime_error("a masked frame from the server");
      size_t header = 2;
      uint64_t length = b1 & 0x7f;
      if (length == 126) {
        need(4);
        length = (static_cast<uint64_t>(static_cast<unsigned char>(in_[2])) << 8) | static_cast<unsigned char>(in_[3]);
        header = 4;
      } else if (length == 127) {
        need(10);
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | static_cast<unsigned char>(in_[i]);
        header = 10;
      }
      need(header + length);
      std::string payload = in_.substr(header, length);
      in_.erase(0, header + length);
      const int opcode = b0 & 0x0f;
      if (opcode == 0x8) {
        close_code = payload.size() >= 2 ? static_cast<uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                                  static_cast<unsigned char>(payload[1]))
                                         : 0;
        return std::nullopt;
      }
      if (opcode == 0x9 || opcode == 0xa) continue;  // ping, pong
      message += payload;
      if (b0 & 0x80) return message;
    }
  }
  json next_json() {
    const auto m = next();
    if (!m) throw std::runtime_error("the stream was closed");
    return json::parse(*m);
  }
  // Whether the server ends the connection (after a close frame or not) before sending more.
  bool ends() {
    try {
      return !next();
    } catch (const EndOfStream&) {
      return true;
    }
  }

 private:
  struct EndOfStream : std::runtime_error {
    EndOfStream() : std::runtime_error("the server closed the connection") {}
  };
  void need(size_t n) {
    while (in_.size() < n)
      if (!c_.receive(in_)) throw EndOfStream();
  }
  Connection c_;
  std::string in_;
};

// What the handlers report and what they were asked, shared with the server thread.
struct ServerState {
  std::mutex mutex;
  json status = {{"state", "running"}, {"events", 42}};
  std::string metrics = "# HELP qflow_events_total Events processed.\n# TYPE qflow_events_total counter\n"
                        "qflow_events_total{node=\"rsi\"} 42\n";
  std::atomic<bool> ready{true};
  std::atomic<int> kills{0};
  std::atomic<bool> last_flatten{false};
  std::vector<json> reloads;
  json snapshot = {{"type", "hello"}, {"run", "run-1"}, {"mode", "paper"}};

  ControlHandlers handlers() {
    ControlHandlers h;
    h.status = [this] {
      std::lock_guard lock(mutex);
      return status;
    };
    h.metrics = [this] {
      std::lock_guard lock(mutex);
      return metrics;
    };
    h.ready = [this] { return ready.load(); };
    h.kill = [this](bool flatten) {
      last_flatten = flatten;
      ++kills;
      return json{{"killed", true}, {"flatten", flatten}};
    };
    h.reload = [this](const json& request) {
      std::lock_guard lock(mutex);
      reloads.push_back(request);
      return json{{"outcome", "applied"}, {"node", request.value("node", "all")}};
    };
    h.snapshot = [this] {
      std::lock_guard lock(mutex);
      return snapshot;
    };
    return h;
  }
};

ControlOptions options_with(std::string token = {}, size_t max_queue = 4096) {
  ControlOptions o;
  o.token = std::move(token);
  o.max_queue_per_client = max_queue;
  return o;
}

json log_message(int seq, size_t padding = 0) {
  return json{{"type", "log"}, {"seq", seq}, {"level", "info"}, {"text", std::string(padding, 'x')}};
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// What in `html` (markup, style or script) would load something from a URL (http:, https: or
// //): a src= (scripts, images, frames, also set from script) or a CSS url(). A link to click,
// such as the chart's attribution, loads nothing.
std::vector<std::string> loads_from_urls(const std::string& html) {
  const std::string text = lowercase(html);
  std::vector<std::string> found;
  for (const auto& [name, opening] : {std::pair<std::string, char>{"src", '='}, {"url", '('}}) {
    for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
      size_t i = at + name.size();
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i == text.size() || text[i] != opening) continue;
      ++i;
      while (i < text.size() && (std::isspace(static_cast<unsigned char>(text[i])) || text[i] == '"' ||
                                 text[i] == '\'' || text[i] == '`'))
        ++i;
      const std::string value = text.substr(i, 8);
      if (value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//"))
        found.push_back(html.substr(at, 80));
    }
  }
  return found;
}

// Waits (up to 10 s) for a condition another thread makes true.
template <class F>
bool eventually(F&& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("control server: health, metrics and status answer with their content types") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const int port = server.port();
  REQUIRE(port > 0);
  CHECK(server.url() == "http://127.0.0.1:" + std::to_string(port) + "/");

  const HttpResponse ping = http(port, "GET", "/ping");
  CHECK(ping.status == 200);
  CHECK(ping.body == "pong");
  CHECK(ping.header("content-type").starts_with("text/plain"));

  CHECK(http(port, "GET", "/ready").body == "ready\n");
  state.ready = false;
  const HttpResponse not_ready = http(port, "GET", "/ready");
  CHECK(not_ready.status == 503);
  CHECK(not_ready.body == "not ready\n");

  const HttpResponse metrics = http(port, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.header("content-type").starts_with("text/plain; version=0.0.4"));
  CHECK(metrics.body == state.metrics);

  const HttpResponse status = http(port, "GET", "/api/status?verbose=1");
  CHECK(status.status == 200);
  CHECK(status.header("content-type") == "application/json");
  CHECK(status.json_body() == state.status);
  {
    std::lock_guard lock(state.mutex);
    state.status["events"] = 43;
  }
  CHECK(http(port, "GET", "/api/status").json_body()["events"] == 43);

  for (const char* path : {"/ping", "/ready", "/metrics", "/api/status", "/", "/nowhere"}) {
    const HttpResponse r = http(port, "GET", path);
    INFO(path);
    CHECK(r.header("cache-control") == "no-store");
    for (const auto& [name, value] : r.headers) CHECK_FALSE(name.starts_with("access-control-"));
  }
}

TEST_CASE("control server: the page is served whole, with its charting library inlined and nothing from elsewhere") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const HttpResponse page = http(server.port(), "GET", "/");
  CHECK(page.status == 200);
  CHECK(page.header("content-type").starts_with("text/html"));
  CHECK(page.body == dashboard_page());
  CHECK(page.header("content-security-policy").starts_with("default-src 'none'"));

  // The library's own banner and export, at the version package.json pins.
  CHECK(page.body.find(std::string("Lightweight Charts\u2122 v") + QFLOW_CHART_LIBRARY_VERSION) != std::string::npos);
  CHECK(page.body.find("window.LightweightCharts=") != std::string::npos);
  CHECK(page.body.find("qflowDashboard") != std::string::npos);
  // Nothing is loaded from elsewhere: no script, stylesheet, image or import by URL.
  CHECK(loads_from_urls(page.body).empty());
  CHECK_FALSE(loads_from_urls(R"(<img src = "https://example.com/x.png">)").empty());  // the check sees one
  CHECK_FALSE(loads_from_urls("i.src=`//cdn.example/lib.js`").empty());
  const std::string lower_page = lowercase(page.body);
  CHECK(lower_page.find("@import") == std::string::npos);
  CHECK(lower_page.find("<link") == std::string::npos);
  for (size_t at = lower_page.find("<script"); at != std::string::npos; at = lower_page.find("<script", at + 1))
    CHECK(lower_page.substr(at, lower_page.find('>', at) - at).find("src") == std::string::npos);

  const HttpResponse head = http(server.port(), "HEAD", "/");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(dashboard_page().size()));
}

TEST_CASE("control server: unknown endpoints get 404, wrong methods 405") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const int port = server.port();

  const HttpResponse missing = http(port, "GET", "/api/nothing");
  CHECK(missing.status == 404);
  CHECK(missing.header("content-type") == "application/json");
  CHECK(missing.json_body() == json{{"error", "unknown endpoint"}, {"path", "/api/nothing"}});
  // A path that is not UTF-8 still gives a JSON body.
  const HttpResponse odd = http(port, "GET", "/%FF%FEx");
  CHECK(odd.status == 404);
  CHECK(odd.json_body()["error"] == "unknown endpoint");

  for (const char* path : {"/api/kill", "/api/reload"}) {
    const HttpResponse r = http(port, "GET", path);
    INFO(path);
    CHECK(r.status == 405);
    CHECK(r.header("allow") == "POST");
    CHECK(r.json_body().contains("error"));
  }
  const HttpResponse post_ping = http(port, "POST", "/ping", "{}");
  CHECK(post_ping.status == 405);
  CHECK(post_ping.header("allow") == "GET, HEAD");
  CHECK(http(port, "DELETE", "/api/kill").status == 405);
  CHECK(http(port, "OPTIONS", "/api/kill").status == 405);
  CHECK(state.kills == 0);
}

TEST_CASE("control server: kill and reload read their JSON bodies and refuse malformed ones") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const int port = server.port();

  const HttpResponse flatten = http(port, "POST", "/api/kill", R"({"flatten":true})");
  CHECK(flatten.status == 200);
  CHECK(flatten.header("content-type") == "application/json");
  CHECK(flatten.json_body() == json{{"killed", true}, {"flatten", true}});
  CHECK(state.kills == 1);
  CHECK(state.last_flatten);

  CHECK(http(port, "POST", "/api/kill", "").status == 200);  // no body: flatten false
  CHECK(state.kills == 2);
  CHECK_FALSE(state.last_flatten);
  CHECK(http(port, "POST", "/api/kill", R"( {"flatten": false} )").status == 200);
  CHECK(state.kills == 3);

  const HttpResponse malformed = http(port, "POST", "/api/kill", R"({"flatten":tru)");
  CHECK(malformed.status == 400);
  CHECK(malformed.header("content-type") == "application/json");
  CHECK(malformed.json_body()["error"].get<std::string>().starts_with("malformed JSON body: parse error"));
  const HttpResponse not_bool = http(port, "POST", "/api/kill", R"({"flatten":"yes"})");
  CHECK(not_bool.status == 400);
  CHECK(not_bool.json_body()["error"].get<std::string>().find("'flatten' must be true or false") != std::string::npos);
  const HttpResponse unknown = http(port, "POST", "/api/kill", R"({"flaten":true})");
  CHECK(unknown.status == 400);
  CHECK(unknown.json_body()["error"].get<std::string>().find("unknown key 'flaten'") != std::string::npos);
  CHECK(http(port, "POST", "/api/kill", "[true]").status == 400);
  CHECK(http(port, "POST", "/api/kill", "{\"flatten\":\"\xff\"}").status == 400);
  CHECK(state.kills == 3);

  const HttpResponse reload = http(port, "POST", "/api/reload", R"({"node":"strategy"})");
  CHECK(reload.status == 200);
  CHECK(reload.json_body() == json{{"outcome", "applied"}, {"node", "strategy"}});
  CHECK(http(port, "POST", "/api/reload", "").json_body()["node"] == "all");
  CHECK(http(port, "POST", "/api/reload", R"({"node":7})").status == 400);
  CHECK(http(port, "POST", "/api/reload", "{").status == 400);
  std::lock_guard lock(state.mutex);
  REQUIRE(state.reloads.size() == 2);
  CHECK(state.reloads[0] == json{{"node", "strategy"}});
  CHECK(state.reloads[1] == json::object());
}

TEST_CASE("control server: bodies over 64 KiB get 413 and are never parsed") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const int port = server.port();
  std::string at_limit = R"({"flatten":true})";
  at_limit.resize(64 * 1024, ' ');
  CHECK(http(port, "POST", "/api/kill", at_limit).status == 200);
  CHECK(state.kills == 1);

  const HttpResponse over = http(port, "POST", "/api/kill", at_limit + " ");
  CHECK(over.status == 413);
  CHECK(over.json_body().contains("error"));
  CHECK(http(port, "POST", "/api/reload", std::string(1 << 20, '{')).status == 413);
  CHECK(state.kills == 1);
  std::lock_guard lock(state.mutex);
  CHECK(state.reloads.empty());
}

TEST_CASE("control server: with a token, kill and reload require it, and their handlers are not called without it") {
  ServerState state;
  ControlServer server(options_with("s3cret-token"), state.handlers());
  server.start();
  const int port = server.port();

  for (const char* path : {"/api/kill", "/api/reload"}) {
    INFO(path);
    const HttpResponse none = http(port, "POST", path, "{}");
    CHECK(none.status == 401);
    CHECK(none.header("www-authenticate") == "Bearer");
    CHECK(none.header("content-type") == "application/json");
    CHECK(none.json_body()["error"].get<std::string>().find("token is required") != std::string::npos);

    const HttpResponse wrong = http(port, "POST", path, "{}", {"Authorization: Bearer s3cret-tokem"});
    CHECK(wrong.status == 401);
    CHECK(wrong.header("www-authenticate") == "Bearer");
    CHECK(wrong.json_body()["error"] == "wrong token");
    CHECK(http(port, "POST", path, "{}", {"Authorization: Bearer s3cret"}).status == 401);
    CHECK(http(port, "POST", path, "{}", {"Authorization: Bearer s3cret-token-and-more"}).status == 401);
    CHECK(http(port, "POST", path, "{}", {"Authorization: Basic s3cret-token"}).status == 401);
    CHECK(http(port, "POST", std::string(path) + "?token=s3cret-token", "{}").status == 401);  // headers only
  }
  CHECK(state.kills == 0);
  {
    std::lock_guard lock(state.mutex);
    CHECK(state.reloads.empty());
  }

  CHECK(http(port, "POST", "/api/kill", R"({"flatten":true})", {"Authorization: Bearer s3cret-token"}).status == 200);
  CHECK(http(port, "POST", "/api/kill", "{}", {"Authorization: bearer s3cret-token"}).status == 200);
  CHECK(http(port, "POST", "/api/reload", "{}", {"Authorization: Bearer s3cret-token"}).status == 200);
  CHECK(state.kills == 2);
  // The token is checked before the body: a stranger learns nothing from a malformed one.
  CHECK(http(port, "POST", "/api/kill", "{", {}).status == 401);
  // Health and metrics stay open.
  CHECK(http(port, "GET", "/ping").status == 200);
  CHECK(http(port, "GET", "/metrics").status == 200);
}

TEST_CASE("control server: the stream requires the token when one is configured") {
  ServerState state;
  ControlServer server(options_with("tok/en+="), state.handlers());
  server.start();
  const int port = server.port();

  StreamClient none(port);
  CHECK(none.handshake.status == 401);
  CHECK(none.handshake.header("www-authenticate") == "Bearer");
  StreamClient wrong(port, "/stream?token=nope");
  CHECK(wrong.handshake.status == 401);

  StreamClient by_query(port, "/stream?token=tok%2Fen%2B%3D");
  CHECK(by_query.handshake.status == 101);
  CHECK(by_query.handshake.header("sec-websocket-accept") == StreamClient::kAccept);
  CHECK(by_query.next_json()["type"] == "hello");
  StreamClient by_header(port, "/stream", {"Authorization: Bearer tok/en+="});
  CHECK(by_header.handshake.status == 101);
  CHECK(by_header.next_json()["run"] == "run-1");

  // A plain GET tells a page why its WebSocket failed.
  CHECK(http(port, "GET", "/stream").status == 401);
  const HttpResponse plain = http(port, "GET", "/stream?token=tok%2Fen%2B%3D");
  CHECK(plain.status == 426);
  CHECK(plain.header("upgrade") == "websocket");

  StreamClient elsewhere(port, "/?token=tok%2Fen%2B%3D");
  CHECK(elsewhere.handshake.status == 404);
}

TEST_CASE("control server: without a token, the stream and the control endpoints are open") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  StreamClient client(server.port());
  CHECK(client.handshake.status == 101);
  CHECK(http(server.port(), "POST", "/api/kill", "{}").status == 200);
  CHECK(http(server.port(), "GET", "/stream").status == 426);
  CHECK(state.kills == 1);
}

TEST_CASE("control server: requests from another origin or naming another host are refused") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const int port = server.port();
  const std::string self = "http://127.0.0.1:" + std::to_string(port);

  const HttpResponse foreign = http(port, "POST", "/api/kill", "{}", {"Origin: http://evil.example"});
  CHECK(foreign.status == 403);
  CHECK(foreign.json_body()["error"].get<std::string>().find("http://evil.example") != std::string::npos);
  CHECK(http(port, "POST", "/api/kill", "{}", {"Origin: null"}).status == 403);
  CHECK(state.kills == 0);
  CHECK(http(port, "POST", "/api/kill", "{}", {"Origin: " + self}).status == 200);
  CHECK(state.kills == 1);

  // DNS rebinding: a name that resolves to 127.0.0.1 but is not a loopback name.
  Connection c(port);
  c.send("GET /api/status HTTP/1.1\r\nHost: attacker.example:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n");
  std::string in;
  CHECK(read_response(c, in).status == 403);
  Connection local(port);
  local.send("GET /api/status HTTP/1.1\r\nHost: localhost:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n");
  in.clear();
  CHECK(read_response(local, in).status == 200);

  StreamClient cross(port, "/stream", {"Origin: http://evil.example"});
  CHECK(cross.handshake.status == 403);
  StreamClient same(port, "/stream", {"Origin: " + self});
  CHECK(same.handshake.status == 101);
}

TEST_CASE("control server: a handler that throws gives 500, a missing one 501, and the server goes on") {
  ControlHandlers throwing;
  throwing.status = []() -> json { throw std::runtime_error("status table locked"); };
  throwing.kill = [](bool) -> json { throw 42; };
  throwing.snapshot = []() -> json { throw std::runtime_error("no history yet"); };
  ControlServer server(options_with(), throwing);
  server.start();
  const int port = server.port();

  const HttpResponse status = http(port, "GET", "/api/status");
  CHECK(status.status == 500);
  CHECK(status.json_body()["error"] == "status failed: status table locked");
  CHECK(http(port, "POST", "/api/kill", "{}").status == 500);
  CHECK(http(port, "GET", "/metrics").status == 501);
  CHECK(http(port, "POST", "/api/reload", "{}").status == 501);
  CHECK(http(port, "GET", "/ready").body == "ready\n");  // no readiness handler: ready

  StreamClient client(port);
  const json hello = client.next_json();
  CHECK(hello["type"] == "hello");
  CHECK(hello["error"] == "snapshot failed: no history yet");
  CHECK(http(port, "GET", "/ping").body == "pong");
}

TEST_CASE("control server: one request per connection, and garbage does not bring the server down") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  const int port = server.port();

  // A request pipelined behind another is never read (lws 4.1 would misread its body).
  Connection c(port);
  c.send(request_text(port, "GET", "/ping", "", {}, false) + request_text(port, "POST", "/api/kill", "{}", {}, false));
  std::string in;
  const HttpResponse first = read_response(c, in);
  CHECK(first.body == "pong");
  CHECK(first.header("connection") == "close");
  while (c.receive(in)) {
  }
  CHECK(in.empty());
  CHECK(state.kills == 0);

  // Bytes that are not HTTP (a TLS hello), and a request whose headers never fit: the server
  // answers or hangs up, and serves the next connection.
  for (const std::string& bad :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n", 31),
        "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + std::string(200000, 'a') + "\r\n\r\n"}) {
    Connection c2(port);
    try {
      c2.send(bad);
    } catch (const std::runtime_error&) {
      // closed before reading it all: fine
    }
    std::string answer;
    while (c2.receive(answer)) {
    }
    CHECK(answer.find("200 OK") == std::string::npos);
  }
  // A body framed both ways (request smuggling) is refused; a chunked one cannot be read.
  Connection both(port);
  both.send(request_text(port, "POST", "/api/kill", "{}", {"Transfer-Encoding: chunked"}));
  std::string answer;
  while (both.receive(answer)) {
  }
  CHECK(answer.find("200 OK") == std::string::npos);
  Connection chunked(port);
  chunked.send("POST /api/kill HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  in.clear();
  CHECK(read_response(chunked, in).status == 411);
  CHECK(http(port, "GET", "/ping").body == "pong");
  CHECK(state.kills == 0);
}

TEST_CASE("control server: a WebSocket client gets the snapshot first, then every published message in order") {
  ServerState state;
  ControlServer server(options_with(), state.handlers());
  server.start();
  CHECK(server.clients() == 0);
  server.publish(log_message(-1).dump());  // nobody listens: gone, and not a drop

  StreamClient a(server.port()), b(server.port());
  REQUIRE(a.handshake.status == 101);
  CHECK(a.handshake.header("sec-websocket-accept") == StreamClient::kAccept);
  CHECK(a.next_json() == state.snapshot);
  CHECK(b.next_json() == state.snapshot);
  CHECK(server.clients() == 2);

  // Four publishers at once: each one's messages arrive in the order it published them.
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> publishers;
  for (int t = 0; t < kThreads; ++t)
    publishers.emplace_back([&server, t] {
      for (int i = 0; i < kEach; ++i) server.publish(json{{"type", "log"}, {"thread", t}, {"seq", i}}.dump());
    });
  for (auto& p : publishers) p.join();
  for (StreamClient* client : {&a, &b}) {
    std::vector<int> next(kThreads, 0);
    for (int n = 0; n < kThreads * kEach; ++n) {
      const json m = client->next_json();
      const int t = m["thread"];
      REQUIRE(m["seq"] == next[t]);
      ++next[t];
    }
    CHECK(next == std::vector<int>(kThreads, kEach));
  }
  CHECK(server.dropped() == 0);

  // A large message arrives whole, and a client that sends something is not disturbed.
  const std::string big = log_message(7, 300000).dump();
  server.publish(big);
  CHECK(a.next() == big);
  CHECK(b.next() == big);

  // A client that connects later starts from the snapshot as it is then.
  {
    std::lock_guard lock(state.mutex);
    state.snapshot["history"] = {{"bars", json::array({json{{"type", "bar"}, {"t", 1}}})}};
  }
  StreamClient late(server.port());
  CHECK(late.next_json()["history"]["bars"].size() == 1);
  server.publish(log_message(8).dump());
  CHECK(late.next_json()["seq"] == 8);
  CHECK(a.next_json()["seq"] == 8);
}

TEST_CASE("control server: a client that never reads does not hold publish() up, and its drops are counted") {
  ServerState state;
  ControlServer server(options_with({}, 64), state.handlers());
  server.start();

  StreamClient slow(server.port(), "/stream", {}, 4096);  // handshake read, then nothing
  REQUIRE(slow.handshake.status == 101);
  StreamClient fast(server.port());
  REQUIRE(fast.handshake.status == 101);
  CHECK(fast.next_json()["type"] == "hello");
  REQUIRE(eventually([&] { return server.clients() == 2; }));

  std::atomic<int> received{0};
  std::atomic<bool> in_order{true};
  constexpr int kMessages = 3000;
  std::thread reader([&] {
      try {
      for (int i = 0; i < kMessages; ++i) {
        if (fast.next_json()["seq"] != i) in_order = false;
        ++received;
      }
    } catch (const std::exception&) {
      in_order = false;
    }
  });
  // Far more than the slow client's socket holds; paced so that the fast client never has more
  // than 32 waiting, below its queue's 64, so every drop is the slow client's.
  for (int i = 0; i < kMessages; ++i) {
    server.publish(log_message(i, 8000).dump());
    if (i % 32 == 31) REQUIRE(eventually([&] { return received.load() == i + 1; }));
  }
  reader.join();
  CHECK(in_order);
  const uint64_t dropped = server.dropped();
  CHECK(dropped > 0);

  // The slow client, reading at last, gets the snapshot, then what fit before it fell behind and
  // the newest 64, in order: together with the drops, every message exactly once.
  CHECK(slow.next_json()["type"] == "hello");
  int last = -1, count = 0;
  while (last != kMessages - 1) {
    const int seq = slow.next_json()["seq"];
    REQUIRE(seq > last);
    last = seq;
    ++count;
  }
  CHECK(count + dropped == static_cast<uint64_t>(kMessages));
  CHECK(count < kMessages);
}

TEST_CASE("control server: stop() with clients connected closes them and releases the port") {
  ServerState state;
  auto server = std::make_unique<ControlServer>(options_with({}, 16), state.handlers());
  server->start();
  const int port = server->port();

  StreamClient reading(port);
  CHECK(reading.next_json()["type"] == "hello");
  StreamClient stuck(port, "/stream", {}, 4096);
  REQUIRE(stuck.handshake.status == 101);
  Connection idle(port);  // an HTTP connection that sent nothing yet
  REQUIRE(eventually([&] { return server->clients() == 2; }));
  for (int i = 0; i < 2000; ++i) server->publish(log_message(i, 4000).dump());

  std::thread stopper([&] { server->stop(); });
  // The reading client gets what was still queued for it, then a close frame saying why.
  int last = -1;
  while (const auto m = reading.next()) {
    const int seq = json::parse(*m)["seq"];
    CHECK(seq > last);
    last = seq;
  }
  CHECK(reading.close_code == 1001);
  CHECK(last == 1999);
  stopper.join();
  CHECK(server->clients() == 0);
  std::string in;
  CHECK(idle.receive(in) == false);
  server->publish(log_message(0).dump());  // harmless after stop
  server->stop();                          // and so is a second stop

  ControlOptions same_port = options_with();
  same_port.port = port;
  ControlServer again(same_port, state.handlers());
  again.start();
  CHECK(again.port() == port);
  CHECK(http(port, "GET", "/ping").body == "pong");
  server.reset();
}

TEST_CASE("control server: start() names the address when it cannot listen") {
  ServerState state;
  ControlServer first(options_with(), state.handlers());
  first.start();
  CHECK_THROWS_AS(first.start(), std::logic_error);

  ControlOptions taken = options_with();
  taken.port = first.port();
  ControlServer second(taken, state.handlers());
  CHECK_THROWS_WITH(second.start(), Catch::Contains("127.0.0.1:" + std::to_string(first.port())));

  ControlOptions named = options_with();
  named.host = "dashboard.example";
  CHECK_THROWS_WITH(ControlServer(named, state.handlers()).start(), Catch::Contains("dashboard.example:0"));
  ControlOptions bad_port = options_with();
  bad_port.port = 70000;
  CHECK_THROWS_WITH(ControlServer(bad_port, state.handlers()).start(), Catch::Contains("127.0.0.1:70000"));
  ControlOptions foreign = options_with();
  foreign.host = "192.0.2.1";  // TEST-NET-1: never this machine's
  CHECK_THROWS_WITH(ControlServer(foreign, state.handlers()).start(), Catch::Contains("192.0.2.1:0"));

  ControlOptions localhost = options_with();
  localhost.host = "localhost";
  ControlServer by_name(localhost, state.handlers());
  by_name.start();
  CHECK(http(by_name.port(), "GET", "/ping").body == "pong");
}
