// The control and dashboard server of a running pipeline: HTTP and WebSocket on one port, on
// libwebsockets. It knows no pipeline: whoever runs one hands it ControlHandlers, which answer
// requests, and publish()es JSON events, which the server streams to the dashboard page.
//
//   GET  /            the dashboard (dashboard/): HTML with its CSS, script and charting library
//                     embedded at build time, so the browser needs no network
//   GET  /ping        200 "pong"
//   GET  /ready       200 "ready\n" or 503 "not ready\n" (handlers.ready; ready when unset)
//   GET  /metrics     handlers.metrics, text/plain; version=0.0.4 (Prometheus exposition)
//   GET  /api/status  handlers.status, application/json
//   POST /api/kill    body {"flatten": true|false}, optional (flatten false) -> handlers.kill
//   POST /api/reload  body {"node": "<id>"}, optional -> handlers.reload(body, {} when empty)
//   GET  /stream      WebSocket: the snapshot first, then every published message in order
//                     (a plain GET answers 426, or 401 when the token is missing or wrong)
//
// Errors are JSON objects {"error": "..."}: 400 malformed or unexpected body (naming the
// problem; unknown keys included), 401 missing or wrong token (with WWW-Authenticate: Bearer),
// 403 foreign Origin or Host, 404 {"error":"unknown endpoint","path":"..."}, 405 wrong method
// (with Allow), 413 body over 64 KiB, 500 a handler threw, 501 no handler for the endpoint.
//
// Security. The server binds 127.0.0.1 unless told otherwise (IPv4 literals and "localhost"
// only). With a token configured, the control endpoints require `Authorization: Bearer <token>`
// and the stream requires that header or `?token=<token>`: browsers cannot set headers on a
// WebSocket, so the page passes the query (which ends up in URLs: keep the server on loopback).
// Tokens are compared in constant time. The other GET endpoints stay open: health checks and
// Prometheus carry no token. A request whose Origin is not this server's own is refused, so a
// page on another site can neither press the kill switch nor read the stream; bound to a
// loopback address, the server also refuses a Host that does not name one (DNS rebinding).
// Every response carries Cache-Control: no-store; there are no CORS headers.
//
// Every HTTP response closes its connection: libwebsockets 4.1 misreads a request body that was
// pipelined behind another request, so no connection ever carries a second one.
//
// Threads. start() binds and starts one service thread, and every libwebsockets call happens on
// it. Handlers are called there, one at a time: they must be quick, and safe against the threads
// that change what they report; they may publish(), but must not stop() the server. publish() may be called from any thread: under a mutex it appends
// the message to every client's queue, then wakes the service thread (lws_cancel_service), which
// writes to each client as its socket accepts. A queue holds at most max_queue_per_client
// messages; beyond that its oldest is dropped and counted (dropped()), so a client that stops
// reading costs bounded memory and never slows the publisher.
//
// A new client is registered before snapshot() is called: a message published meanwhile may be
// both in the snapshot and after it, but none falls between the two (the page draws a bar of a
// time it already has in place of the old one, and keys fills by order and time).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace qflow::net {

struct ControlOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (port() tells which)
  std::string token;  // empty: no token required
  size_t max_queue_per_client = 4096;
};

// Called on the server thread; each must be quick and thread-safe. An unset handler answers
// 501 (ready: always ready; snapshot: {"type":"hello"}). A handler that throws answers 500 with
// the exception's message (snapshot: a hello carrying "error").
struct ControlHandlers {
  std::function<nlohmann::json()> status;            // GET /api/status
  std::function<std::string()> metrics;              // GET /metrics
  std::function<bool()> ready;                       // GET /ready
  std::function<nlohmann::json(bool flatten)> kill;  // POST /api/kill
  std::function<nlohmann::json(const nlohmann::json& request)> reload;  // POST /api/reload
  std::function<nlohmann::json()> snapshot;          // the first message to each new client
};

class ControlServer {
 public:
  ControlServer(ControlOptions options, ControlHandlers handlers);
  ~ControlServer();  // stop()s
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and starts serving. Throws std::runtime_error naming host:port when the address is
  // not one it can bind or the port is taken; std::logic_error when already started.
  void start();
  int port() const;          // the bound port, 0 before start()
  std::string url() const;   // http://HOST:PORT/

  // One JSON text per call, sent to every connected client as one WebSocket text message. Not
  // parsed: it must be valid JSON in UTF-8. Never blocks for long; without clients it is dropped
  // unseen (not counted).
  void publish(std::string json_text);
  uint64_t dropped() const;  // messages dropped from slow clients' queues, all clients together
  size_t clients() const;    // connected WebSocket clients

  // Closes every client (WebSocket close 1001, or cut after 2 s if it does not read), stops the
  // thread and releases the port. Idempotent.
  void stop();

 private:
  struct Service;  // the service thread's world: the lws context, connections and queues
  std::unique_ptr<Service> service_;
};

// The dashboard page as served at GET / (generated at build time from dashboard/).
std::string_view dashboard_page();

}  // namespace qflow::net
