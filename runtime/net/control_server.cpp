// The control and dashboard server (control_server.hpp): routing, and the libwebsockets
// plumbing around it.
//
// One lws protocol serves HTTP and the WebSocket alike (lws hands an upgrade that names no
// subprotocol to protocols[0]). An HTTP request is answered in three steps: what routing needs
// of its headers is copied out on LWS_CALLBACK_HTTP (the header storage may be gone once a body
// has arrived); its body, if any, is gathered, and discarded past 64 KiB so that the connection
// stays in step; then route() makes the response, a function of the request alone, which is
// written as headers followed by the body in chunks, one chunk per writeable callback.
#include "control_server.hpp"

#include "lws_log.hpp"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <pthread.h>

namespace qflow::net {
namespace {

using nlohmann::json;

constexpr size_t kMaxBody = 64 * 1024;
constexpr size_t kChunk = 16 * 1024;
constexpr int kGoodbyeSeconds = 2;

// What routing needs of a request, copied out of lws while its headers are still there.
struct Request {
  int method = -1;  // LWSHUMETH_*
  std::string path;
  std::string authorization;
  std::string origin;
  std::string host;
  std::optional<std::string> query_token;
  std::string body;
  bool too_large = false;
};

struct Response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// An HTTP exchange in progress on one connection.
struct Exchange {
  Request request;
  bool expects_body = false;
  bool responding = false;
  std::string out;  // the response body
  size_t sent = 0;
};

// A text frame as lws writes it: LWS_PRE bytes of room for the frame header, then the text.
// One frame is shared by every client's queue; only the service thread writes into the room.
using Frame = std::shared_ptr<std::string>;

Frame make_frame(std::string_view text) {
  auto f = std::make_shared<std::string>();
  f->reserve(LWS_PRE + text.size());
  f->assign(LWS_PRE, '\0');
  f->append(text);
  return f;
}

struct Client {
  Frame hello;               // written before anything queued
  std::deque<Frame> queue;
};

// Headers every response carries, besides its own.
constexpr std::pair<std::string_view, std::string_view> kEveryResponse[] = {
    {"Cache-Control", "no-store"},
    {"X-Content-Type-Options", "nosniff"},
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

const char* reason_phrase(unsigned status) {
  switch (status) {
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    default: return "Refused";
  }
}

std::string to_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Response json_response(unsigned status, const json& body) {
  return {status, "application/json", to_text(body), {}};
}

Response error_response(unsigned status, std::string message) {
  return json_response(status, json{{"error", std::move(message)}});
}

Response text_response(unsigned status, std::string body, std::string content_type = "text/plain; charset=utf-8") {
  return {status, std::move(content_type), std::move(body), {}};
}

std::string header(lws* wsi, lws_token_indexes token) {
  const int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string value(static_cast<size_t>(n) + 1, '\0');
  const int copied = lws_hdr_copy(wsi, value.data(), n + 1, token);
  value.resize(copied > 0 ? static_cast<size_t>(copied) : 0);
  return value;
}

Request read_request(lws* wsi) {
  Request r;
  char* uri = nullptr;
  int uri_len = 0;
  r.method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
  if (uri && uri_len > 0) r.path.assign(uri, static_cast<size_t>(uri_len));
  r.authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  r.origin = header(wsi, WSI_TOKEN_ORIGIN);
  r.host = header(wsi, WSI_TOKEN_HOST);
  char arg[1024];
  if (const char* token = lws_get_urlarg_by_name(wsi, "token=", arg, sizeof arg)) r.query_token = token;
  return r;
}

// Compares in time that depends on the expected token's length only, not on how much matches.
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() != expected.size();
  for (size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

// The token of `Authorization: Bearer <token>` (scheme in any case), or nothing.
std::optional<std::string_view> bearer(std::string_view value) {
  constexpr std::string_view scheme = "bearer";
  if (value.size() <= scheme.size() || value[scheme.size()] != ' ') return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i]) return std::nullopt;
  value.remove_prefix(scheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

bool is_loopback_ipv4(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

// Whether a Host header names this machine's loopback: localhost (or a name under it), a
// 127.x.x.x address, or [::1]; any port.
bool loopback_host_header(std::string_view host) {
  if (host.starts_with("[::1]")) return true;
  if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  const std::string name = lower(host);
  return name == "localhost" || name.ends_with(".localhost") || is_loopback_ipv4(name);
}

// The body of a control request: empty means {}; otherwise a JSON object holding at most `key`,
// of the given kind. Returns what is wrong, or nothing.
std::optional<std::string> read_control_body(const std::string& body, std::string_view key, bool boolean,
                                             json& out) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    out = json::object();
    return std::nullopt;
  }
  try {
    out = json::parse(body);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (const size_t at = what.find("] "); at != std::string::npos) what.erase(0, at + 2);
    return "malformed JSON body: " + what;
  }
  if (!out.is_object()) return "the body must be a JSON object, not " + std::string(out.type_name());
  for (const auto& [k, v] : out.items()) {
    if (k != key) return "unknown key '" + k + "' (the only key is '" + std::string(key) + "')";
    if (boolean ? !v.is_boolean() : !v.is_string())
      return "'" + k + "' must be " + (boolean ? "true or false" : "a string") + ", not " + v.dump();
  }
  return std::nullopt;
}

// Runs a handler, turning what it throws into a 500.
template <class F>
Response guarded(const char* what, F&& make) {
  try {
    return make();
  } catch (const std::exception& e) {
    spdlog::warn("control server: {} failed: {}", what, e.what());
    return error_response(500, std::string(what) + " failed: " + e.what());
  } catch (...) {
    spdlog::warn("control server: {} failed", what);
    return error_response(500, std::string(what) + " failed");
  }
}

enum class Endpoint { page, ping, ready, metrics, status, kill, reload, stream };

struct Route {
  std::string_view path;
  Endpoint endpoint;
  bool post;
};

constexpr Route kRoutes[] = {
    {"/", Endpoint::page, false},
    {"/ping", Endpoint::ping, false},
    {"/ready", Endpoint::ready, false},
    {"/metrics", Endpoint::metrics, false},
    {"/api/status", Endpoint::status, false},
    {"/api/kill", Endpoint::kill, true},
    {"/api/reload", Endpoint::reload, true},
    {"/stream", Endpoint::stream, false},
};

// The page may run its own inline script and style, and talk to this server only.
std::string page_policy(const std::string& host) {
  std::string policy =
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; connect-src 'self'";
  // Spelled out as well: browsers that predate CSP 3 do not count ws: as 'self'.
  const bool plain = !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == ':' || c == '-' || c == '[' || c == ']';
  });
  if (plain) policy += " ws://" + host;
  return policy;
}

}  // namespace

struct ControlServer::Service {
  Service(ControlOptions o, ControlHandlers h) : options(std::move(o)), handlers(std::move(h)) {
    options.max_queue_per_client = std::max<size_t>(options.max_queue_per_client, 1);
  }

  ControlOptions options;
  const ControlHandlers handlers;
  std::string address;  // what is bound: an IPv4 literal
  bool loopback = false;
  int port = 0;
  lws_context* context = nullptr;
  std::thread thread;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> wake_pending{false};

  // The service thread's alone.
  std::unordered_map<lws*, Exchange> exchanges;
  std::vector<unsigned char> scratch = std::vector<unsigned char>(LWS_PRE + kChunk);

  mutable std::mutex mutex;  // guards what follows
  bool context_open = false;  // lws_cancel_service() may be called
  std::condition_variable closed;  // context_open became false
  std::unordered_map<lws*, Client> clients;
  uint64_t dropped = 0;

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  static const lws_protocols protocols[];

  void run();
  size_t client_count() const {
    std::lock_guard lock(mutex);
    return clients.size();
  }
  std::optional<Response> refuse_foreign(const Request& r) const;
  bool authorized(const Request& r, bool query_allowed) const;
  Response unauthorized(const Request& r, bool query_allowed) const;
  Response route(const Request& r) const;
  int write_headers(lws* wsi, const Response& r);
  int respond(lws* wsi, Exchange& ex, std::optional<Response> early = std::nullopt);
  int on_http(lws* wsi);
  int on_http_writeable(lws* wsi);
  int on_confirm_upgrade(lws* wsi);
  void on_established(lws* wsi);
  int on_server_writeable(lws* wsi);
  void on_wake();
  std::string snapshot_text() const;
};

const lws_protocols ControlServer::Service::protocols[] = {
    {"qflow-control", &ControlServer::Service::callback, 0, 4096, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::optional<Response> ControlServer::Service::refuse_foreign(const Request& r) const {
  if (loopback && !r.host.empty() && !loopback_host_header(r.host))
    return error_response(403, "Host '" + r.host + "' does not name this server's loopback address");
  if (!r.origin.empty() && r.origin != "http://" + r.host)
    return error_response(403, "requests from another origin (" + r.origin + ") are refused");
  return std::nullopt;
}

bool ControlServer::Service::authorized(const Request& r, bool query_allowed) const {
  if (options.token.empty()) return true;
  if (const auto given = bearer(r.authorization)) return same_secret(*given, options.token);
  if (query_allowed && r.query_token) return same_secret(*r.query_token, options.token);
  return false;
}

Response ControlServer::Service::unauthorized(const Request& r, bool query_allowed) const {
  const bool missing = r.authorization.empty() && !(query_allowed && r.query_token);
  Response res = error_response(401, missing ? "a token is required: send Authorization: Bearer <token>"
                                             : "wrong token");
  res.headers.emplace_back("WWW-Authenticate", "Bearer");
  return res;
}

Response ControlServer::Service::route(const Request& r) const {
  if (auto refusal = refuse_foreign(r)) return *refusal;
  const auto found = std::find_if(std::begin(kRoutes), std::end(kRoutes),
                                  [&](const Route& route) { return route.path == r.path; });
  if (found == std::end(kRoutes)) return json_response(404, json{{"error", "unknown endpoint"}, {"path", r.path}});
  const bool get = r.method == LWSHUMETH_GET || r.method == LWSHUMETH_HEAD;
  if (found->post ? r.method != LWSHUMETH_POST : !get) {
    Response res = error_response(405, std::string(found->path) + " takes " + (found->post ? "POST" : "GET"));
    res.headers.emplace_back("Allow", found->post ? "POST" : "GET, HEAD");
    return res;
  }
  switch (found->endpoint) {
    case Endpoint::page: {
      Response res = text_response(200, std::string(dashboard_page()), "text/html; charset=utf-8");
      res.headers.emplace_back("Content-Security-Policy", page_policy(r.host));
      res.headers.emplace_back("Referrer-Policy", "no-referrer");
      res.headers.emplace_back("X-Frame-Options", "DENY");
      return res;
    }
    case Endpoint::ping:
      return text_response(200, "pong");
    case Endpoint::ready:
      return guarded("ready", [&] {
        const bool ready = !handlers.ready || handlers.ready();
        return ready ? text_response(200, "ready\n") : text_response(503, "not ready\n");
      });
    case Endpoint::metrics:
      if (!handlers.metrics) return error_response(501, "this server has no metrics");
      return guarded("metrics", [&] {
        return text_response(200, handlers.metrics(), "text/plain; version=0.0.4; charset=utf-8");
      });
    case Endpoint::status:
      if (!handlers.status) return error_response(501, "this server has no status");
      return guarded("status", [&] { return json_response(200, handlers.status()); });
    case Endpoint::stream: {
      if (!authorized(r, true)) return unauthorized(r, true);
      Response res = error_response(426, "/stream speaks WebSocket only");
      res.headers.emplace_back("Upgrade", "websocket");
      return res;
    }
    case Endpoint::kill:
    case Endpoint::reload:
      break;
  }
  const bool kill = found->endpoint == Endpoint::kill;
  if (!authorized(r, false)) return unauthorized(r, false);
  if (r.too_large) return error_response(413, "the body is larger than 64 KiB");
  if (kill ? !handlers.kill : !handlers.reload)
    return error_response(501, std::string("this server cannot ") + (kill ? "kill" : "reload"));
  json body;
  if (auto problem = read_control_body(r.body, kill ? "flatten" : "node", kill, body))
    return error_response(400, *problem);
  if (kill) {
    const bool flatten = body.value("flatten", false);
    return guarded("kill", [&] { return json_response(200, handlers.kill(flatten)); });
  }
  return guarded("reload", [&] { return json_response(200, handlers.reload(body)); });
}

// Every response closes its connection. lws 4.1 misreads the body of a request pipelined behind
// another on a kept-alive connection (it takes the start of the request for the body), then spins
// on its completion; with one request per connection that cannot happen. lws is given no length
// (Content-Length goes in as a plain header, which it does not count), so it says
// "connection: close" and closes once the response is out.
int ControlServer::Service::write_headers(lws* wsi, const Response& r) {
  std::vector<unsigned char> buffer(LWS_PRE + 4096);
  unsigned char* start = buffer.data() + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buffer.data() + buffer.size();
  if (lws_add_http_common_headers(wsi, r.status, r.content_type.empty() ? nullptr : r.content_type.c_str(),
                                  LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end))
    return -1;
  auto add = [&](std::string_view name, std::string_view value) {
    const std::string field = lower(name) + ":";
    return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(field.c_str()),
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), &p, end);
  };
  if (add("Content-Length", std::to_string(r.body.size()))) return -1;
  for (const auto& [name, value] : kEveryResponse)
    if (add(name, value)) return -1;
  for (const auto& [name, value] : r.headers)
    if (add(name, value)) return -1;
  return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

int ControlServer::Service::respond(lws* wsi, Exchange& ex, std::optional<Response> early) {
  ex.responding = true;
  Response r = early ? std::move(*early) : route(ex.request);
  if (write_headers(wsi, r)) return -1;
  if (ex.request.method != LWSHUMETH_HEAD) ex.out = std::move(r.body);
  std::string().swap(ex.request.body);
  lws_callback_on_writable(wsi);
  return 0;
}

int ControlServer::Service::on_http(lws* wsi) {
  Exchange& ex = exchanges[wsi];
  ex = Exchange{};
  ex.request = read_request(wsi);
  // lws 4.1 reads a request body by its Content-Length only. A body it cannot read is answered
  // at once (and the connection closed with the response, as always).
  const std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  if (!header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING).empty())
    return respond(wsi, ex, length.empty() ? error_response(411, "send the body with a Content-Length")
                                           : error_response(400, "both Content-Length and Transfer-Encoding"));
  if (length.empty()) return respond(wsi, ex);
  char* stop = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(length.c_str(), &stop, 10);
  if (errno || *stop || length.find_first_not_of("0123456789") != std::string::npos)
    return respond(wsi, ex, error_response(400, "invalid Content-Length '" + length + "'"));
  ex.request.too_large = n > kMaxBody;
  ex.expects_body = n > 0;
  return ex.expects_body ? 0 : respond(wsi, ex);  // a body: answered once it is in
}

int ControlServer::Service::on_http_writeable(lws* wsi) {
  const auto it = exchanges.find(wsi);
  if (it == exchanges.end() || !it->second.responding) return 0;
  Exchange& ex = it->second;
  const size_t n = std::min(kChunk, ex.out.size() - ex.sent);
  if (n > 0) {
    std::memcpy(scratch.data() + LWS_PRE, ex.out.data() + ex.sent, n);
    ex.sent += n;
    const bool last = ex.sent == ex.out.size();
    if (lws_write(wsi, scratch.data() + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < static_cast<int>(n))
      return -1;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  }
  exchanges.erase(it);
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

// A refused upgrade is written whole, status line included: lws would write the line as
// HTTP/1.0 at this stage. Then the connection is closed (lws sends what it holds first).
int ControlServer::Service::on_confirm_upgrade(lws* wsi) {
  if (stop_requested.load()) return -1;
  const Request r = read_request(wsi);
  Response refusal;
  if (auto foreign = refuse_foreign(r))
    refusal = *foreign;
  else if (r.path != "/stream")
    refusal = error_response(404, "WebSocket is served on /stream only");
  else if (!authorized(r, true))
    refusal = unauthorized(r, true);
  else
    return 0;
  std::string text(LWS_PRE, '\0');
  text += "HTTP/1.1 " + std::to_string(refusal.status) + " " + reason_phrase(refusal.status) +
          "\r\nserver: qflow\r\ncontent-type: " + refusal.content_type +
          "\r\ncontent-length: " + std::to_string(refusal.body.size()) + "\r\nconnection: close\r\n";
  for (const auto& [name, value] : kEveryResponse) text += lower(name) + ": " + std::string(value) + "\r\n";
  for (const auto& [name, value] : refusal.headers) text += lower(name) + ": " + value + "\r\n";
  text += "\r\n" + refusal.body;
  const size_t n = text.size() - LWS_PRE;
  lws_write(wsi, reinterpret_cast<unsigned char*>(text.data()) + LWS_PRE, n, LWS_WRITE_HTTP_HEADERS);
  return -1;
}

std::string ControlServer::Service::snapshot_text() const {
  if (!handlers.snapshot) return R"({"type":"hello"})";
  try {
    return to_text(handlers.snapshot());
  } catch (const std::exception& e) {
    spdlog::warn("control server: snapshot failed: {}", e.what());
    return to_text(json{{"type", "hello"}, {"error", std::string("snapshot failed: ") + e.what()}});
  } catch (...) {
    spdlog::warn("control server: snapshot failed");
    return to_text(json{{"type", "hello"}, {"error", "snapshot failed"}});
  }
}

void ControlServer::Service::on_established(lws* wsi) {
  exchanges.erase(wsi);
  {
    std::lock_guard lock(mutex);
    clients.emplace(wsi, Client{});
  }
  // Taken once the client is registered, so nothing published meanwhile is missed.
  Frame hello = make_frame(snapshot_text());
  {
    std::lock_guard lock(mutex);
    if (const auto it = clients.find(wsi); it != clients.end()) it->second.hello = std::move(hello);
  }
  lws_callback_on_writable(wsi);
}

int ControlServer::Service::on_server_writeable(lws* wsi) {
  Frame frame;
  bool more = false;
  {
    std::lock_guard lock(mutex);
    const auto it = clients.find(wsi);
    if (it == clients.end()) return -1;
    Client& c = it->second;
    if (c.hello) {
      frame = std::move(c.hello);
      c.hello.reset();
    } else if (!c.queue.empty()) {
      frame = std::move(c.queue.front());
      c.queue.pop_front();
    }
    more = c.hello || !c.queue.empty();
  }
  if (!frame) {
    if (!stop_requested.load()) return 0;
    unsigned char reason[] = "server stopping";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, reason, sizeof reason - 1);
    return -1;
  }
  const size_t n = frame->size() - LWS_PRE;
  if (lws_write(wsi, reinterpret_cast<unsigned char*>(frame->data()) + LWS_PRE, n, LWS_WRITE_TEXT) <
      static_cast<int>(n))
    return -1;
  if (more || stop_requested.load()) lws_callback_on_writable(wsi);
  return 0;
}

void ControlServer::Service::on_wake() {
  wake_pending.store(false);
  std::vector<lws*> waiting;
  {
    std::lock_guard lock(mutex);
    for (const auto& [wsi, c] : clients)
      if (c.hello || !c.queue.empty() || stop_requested.load()) waiting.push_back(wsi);
  }
  for (lws* wsi : waiting) lws_callback_on_writable(wsi);
}

int ControlServer::Service::callback(lws* wsi, lws_callback_reasons reason, void*, void* in, size_t len) {
  auto* self = static_cast<Service*>(lws_context_user(lws_get_context(wsi)));
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      return self->on_http(wsi);
    case LWS_CALLBACK_HTTP_BODY: {
      const auto it = self->exchanges.find(wsi);
      if (it == self->exchanges.end()) return -1;
      Request& r = it->second.request;
      if (!r.too_large && r.body.size() + len > kMaxBody) {
        r.too_large = true;
        std::string().swap(r.body);
      }
      if (!r.too_large) r.body.append(static_cast<const char*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      // lws 4.1 reports an empty body complete after the request was answered, and reports a
      // body it has lost track of complete again and again: the connection is then dropped.
      const auto it = self->exchanges.find(wsi);
      if (it == self->exchanges.end()) return -1;
      if (it->second.responding) return it->second.expects_body ? -1 : 0;
      return self->respond(wsi, it->second);
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return self->on_http_writeable(wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
      self->exchanges.erase(wsi);
      return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      return self->on_confirm_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED:
      self->on_established(wsi);
      return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return self->on_server_writeable(wsi);
    case LWS_CALLBACK_RECEIVE:
      return 0;  // the stream is read-only; what a client sends is ignored
    case LWS_CALLBACK_CLOSED: {
      std::lock_guard lock(self->mutex);
      self->clients.erase(wsi);
      return 0;
    }
    case LWS_CALLBACK_WSI_DESTROY: {
      self->exchanges.erase(wsi);
      std::lock_guard lock(self->mutex);
      self->clients.erase(wsi);
      return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      self->on_wake();
      return 0;
    default:
      return 0;
  }
}

void ControlServer::Service::run() {
  while (!stop_requested.load())
    if (lws_service(context, 0) < 0) break;
  // Clients get what is queued for them, then a close; one that does not read is cut.
  {
    std::lock_guard lock(mutex);
    for (const auto& [wsi, c] : clients) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, kGoodbyeSeconds);
  }
  on_wake();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kGoodbyeSeconds + 1);
  while (client_count() > 0 && std::chrono::steady_clock::now() < deadline)
    if (lws_service(context, 0) < 0) break;
  {
    std::lock_guard lock(mutex);
    context_open = false;
  }
  closed.notify_all();
  lws_context_destroy(context);
  context = nullptr;
}

ControlServer::ControlServer(ControlOptions options, ControlHandlers handlers)
    : service_(std::make_unique<Service>(std::move(options), std::move(handlers))) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() {
  Service& s = *service_;
  if (s.context || s.thread.joinable()) throw std::logic_error("control server: already started");
  if (s.stop_requested.load()) throw std::logic_error("control server: cannot start again once stopped");
  const std::string where = s.options.host + ":" + std::to_string(s.options.port);
  in_addr a{};
  s.address = s.options.host == "localhost" ? "127.0.0.1" : s.options.host;
  if (inet_pton(AF_INET, s.address.c_str(), &a) != 1)
    throw std::runtime_error("control server: cannot listen on " + where + ": the host must be an IPv4 address or localhost");
  if (s.options.port < 0 || s.options.port > 65535)
    throw std::runtime_error("control server: cannot listen on " + where + ": the port must be 0 to 65535");
  s.loopback = is_loopback_ipv4(s.address);

  route_lws_logs();
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.user = &s;
  info.server_string = "qflow";
  lws_context* context = lws_create_context(&info);
  if (!context) throw std::runtime_error("control server: cannot create a libwebsockets context for " + where);

  lws_context_creation_info vhost_info;
  std::memset(&vhost_info, 0, sizeof vhost_info);
  vhost_info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  vhost_info.port = s.options.port;
  vhost_info.iface = s.address.c_str();
  vhost_info.vhost_name = "qflow-control";
  vhost_info.protocols = Service::protocols;
  errno = 0;
  lws_vhost* vhost = lws_create_vhost(context, &vhost_info);
  const int bind_errno = errno;
  const int port = vhost ? lws_get_vhost_listen_port(vhost) : 0;
  if (!vhost || port <= 0) {
    lws_context_destroy(context);
    throw std::runtime_error("control server: cannot listen on " + where +
                             (bind_errno ? std::string(": ") + std::strerror(bind_errno) : std::string()));
  }
  s.port = port;
  {
    std::lock_guard lock(s.mutex);
    s.context = context;
    s.context_open = true;
  }
  try {
    s.thread = std::thread([&s] {
      pthread_setname_np(pthread_self(), "qf-control");
      s.run();
    });
  } catch (...) {
    lws_context_destroy(context);
    s.context = nullptr;
    throw;
  }
  spdlog::info("control server: dashboard on {}", url());
}

int ControlServer::port() const { return service_->port; }

std::string ControlServer::url() const {
  const Service& s = *service_;
  const std::string host = s.address == "0.0.0.0" || s.address.empty() ? "127.0.0.1" : s.address;
  return "http://" + host + ":" + std::to_string(s.port) + "/";
}

void ControlServer::publish(std::string json_text) {
  Service& s = *service_;
  {
    std::lock_guard lock(s.mutex);
    if (s.clients.empty() || !s.context_open) return;
  }
  Frame frame = make_frame(json_text);
  std::lock_guard lock(s.mutex);
  if (!s.context_open) return;
  for (auto& [wsi, c] : s.clients) {
    if (c.queue.size() >= s.options.max_queue_per_client) {
      c.queue.pop_front();
      ++s.dropped;
    }
    c.queue.push_back(frame);
  }
  if (!s.clients.empty() && !s.wake_pending.exchange(true)) lws_cancel_service(s.context);
}

uint64_t ControlServer::dropped() const {
  std::lock_guard lock(service_->mutex);
  return service_->dropped;
}

size_t ControlServer::clients() const { return service_->client_count(); }

void ControlServer::stop() {
  Service& s = *service_;
  if (!s.thread.joinable()) return;
  {
    // lws_service() sleeps until its next event, which may be long after the goodbye deadline:
    // the service thread is woken until it has closed the context.
    std::unique_lock lock(s.mutex);
    s.stop_requested.store(true);
    while (s.context_open) {
      lws_cancel_service(s.context);
      s.closed.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  s.thread.join();
}

}  // namespace qflow::net
