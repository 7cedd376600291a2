// A WebSocket client for exchange streams, on libwebsockets, with its own service thread.
//
// It keeps one stream connection up: connects, and after any loss (refused, reset, closed by
// the peer, no pong to our pings, no message for `stale_after`) connects again after an
// exponential backoff with jitter: the n-th consecutive failure waits a uniformly random time
// in [d/2, d], d = min(reconnect_max, reconnect_min * 2^n). A connection that delivered a
// message resets n. After `max_attempts` consecutive failures (0 = never) it gives up.
// It also makes HTTP(S) GET requests to the exchange's REST API (for backfilling gaps).
//
// TLS (wss://, https://) verifies the server's certificate and host name against `ca_file`, or
// the system's certificate store when it is empty.
//
// Threads: every libwebsockets call happens on the service thread (libwebsockets 4.1 allows no
// other). Handler callbacks run there too and must not block. get(), pause_reading() and stop()
// may be called from any thread: they queue a request and wake the service thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

struct lws;
struct lws_context;
struct lws_retry_bo;

namespace qflow::exchange {

struct Url {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string path = "/";  // path and query
};

// ws://, wss://, http:// and https:// URLs; nullopt with `why` set for anything else.
std::optional<Url> parse_url(std::string_view text, std::string& why);

struct WsClientOptions {
  Url stream;            // where the WebSocket connects (host, port, path)
  Url rest;              // host and port of the REST API (path unused)
  std::string ca_file;   // PEM bundle to trust; empty = the system store
  int64_t ping_every_ns = 20'000'000'000;     // ping when the connection was quiet this long
  int64_t stale_after_ns = 60'000'000'000;    // no message for this long: reconnect
  int64_t reconnect_min_ns = 250'000'000;
  int64_t reconnect_max_ns = 30'000'000'000;
  uint32_t max_attempts = 0;  // consecutive failed connections before giving up; 0 = never
  uint64_t seed = 0;          // the jitter's generator
  int64_t tick_ns = 100'000'000;
};

struct Disconnect {
  int code = 1006;       // the close status the peer sent, 1006 when none (an abnormal loss)
  std::string reason;    // the peer's close reason, or what went wrong
  bool clean = false;    // the peer closed with a close frame
  bool stale = false;    // we hung up: nothing arrived for stale_after
  bool connected = false;  // the connection had been established
};

class WsClientHandler {
 public:
  virtual ~WsClientHandler() = default;
  virtual void on_connected() = 0;
  virtual void on_message(std::string_view text) = 0;
  // After a loss; the client reconnects unless the handler calls finish() here.
  virtual void on_disconnected(const Disconnect& d) = 0;
  // The answer to get(id): the HTTP status (0 when no answer came) and body, or an error text.
  virtual void on_response(uint64_t id, int status, std::string body, std::string error) = 0;
  virtual void on_gave_up(const std::string& why) = 0;
  // Every tick_ns while wants_tick() says so, for the handler's own timeouts. The client asks
  // after each turn of its service loop: a timer that is not needed is not armed, because
  // libwebsockets polls without sleeping through the last millisecond before each timer.
  virtual void on_tick() {}
  virtual bool wants_tick() { return false; }
  // After each turn of the service loop, which may have delivered many messages.
  virtual void on_turn_end() {}
};

class WsClient {
 public:
  WsClient(WsClientOptions options, WsClientHandler& handler);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void start();  // throws std::runtime_error when libwebsockets cannot be set up
  void stop();   // closes the connection and joins the service thread; idempotent

  uint64_t get(std::string path_and_query);  // any thread; the answer comes to on_response
  void pause_reading(bool paused);           // any thread: stop / resume reading the socket
  void finish();                             // service thread: close and do not reconnect

  struct Stats {
    uint64_t connects = 0, disconnects = 0, failed_attempts = 0, stale_hangups = 0, messages = 0, bytes = 0;
  };
  Stats stats() const;

  // libwebsockets' entry point (internal).
  int callback(lws* wsi, int reason, void* in, size_t len);

 private:
  struct Request;
  void connect();
  void schedule_reconnect();
  void service_requests();
  void check_stale();
  void tick();
  friend struct TimerAccess;
  void start_request(Request& r);
  void complete(Request& r, std::string error);
  int64_t backoff_ns();

  WsClientOptions options_;
  WsClientHandler& handler_;
  lws_context* context_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool finished_ = false;  // service thread only
  lws* wsi_ = nullptr;     // the stream connection, service thread only
  bool hang_up_ = false;
  bool established_ = false;
  bool got_message_ = false;
  Disconnect pending_close_;
  std::string message_;
  uint32_t attempts_ = 0;
  uint64_t rng_;
  int64_t last_message_ns_ = 0;  // steady clock
  struct Timer;
  std::unique_ptr<lws_retry_bo> retry_;  // heartbeat policy: ping when idle, hang up without a pong
  std::unique_ptr<Timer> reconnect_timer_, stale_timer_, tick_timer_;
  bool tick_armed_ = false;  // service thread

  mutable std::mutex mutex_;  // guards requests_, next_id_, want_paused_, stats_
  std::deque<std::unique_ptr<Request>> requests_;  // queued, not yet started
  std::deque<std::unique_ptr<Request>> in_flight_;  // service thread only
  uint64_t next_id_ = 1;
  std::optional<bool> want_paused_;
  bool paused_ = false;
  Stats stats_;
};

}  // namespace qflow::exchange
