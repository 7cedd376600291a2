#include "ws_client.hpp"

#include <libwebsockets.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <pthread.h>

namespace qflow::exchange {

struct WsClient::Timer {
  lws_sorted_usec_list_t sul;  // first: the callback gets its address
  WsClient* owner;
};

struct WsClient::Request {
  uint64_t id = 0;
  std::string path;
  lws* wsi = nullptr;
  int status = 0;
  std::string body;
  bool done = false;
};

struct TimerAccess {
  static void reconnect(lws_sorted_usec_list_t* sul) {
    WsClient* self = reinterpret_cast<WsClient::Timer*>(sul)->owner;
    if (!self->stopping_ && !self->finished_ && !self->wsi_) self->connect();
  }
  static void stale(lws_sorted_usec_list_t* sul) { reinterpret_cast<WsClient::Timer*>(sul)->owner->check_stale(); }
  static void tick(lws_sorted_usec_list_t* sul) { reinterpret_cast<WsClient::Timer*>(sul)->owner->tick(); }
};

namespace {

constexpr size_t kMaxMessage = 16u << 20;  // a text message larger than this is not an exchange's
constexpr size_t kMaxBody = 64u << 20;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int trampoline(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  lws_context* ctx = lws_get_context(wsi);
  auto* self = ctx ? static_cast<WsClient*>(lws_context_user(ctx)) : nullptr;
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  return self->callback(wsi, static_cast<int>(reason), in, len);
}

const lws_protocols kProtocols[] = {
    {"qflow-exchange-client", trampoline, 0, 64 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

// "'text'", built piecewise (GCC 12 misreports "lit" + std::string under -Wrestrict).
std::string quoted(std::string_view text) {
  std::string q(1, '\'');
  q += text;
  q += '\'';
  return q;
}

std::optional<Url> parse_url(std::string_view text, std::string& why) {
  Url u;
  std::string_view rest;
  int default_port = 0;
  if (text.substr(0, 5) == "ws://") rest = text.substr(5), default_port = 80;
  else if (text.substr(0, 6) == "wss://") rest = text.substr(6), u.tls = true, default_port = 443;
  else if (text.substr(0, 7) == "http://") rest = text.substr(7), default_port = 80;
  else if (text.substr(0, 8) == "https://") rest = text.substr(8), u.tls = true, default_port = 443;
  else {
    why = quoted(text) + " is not a ws://, wss://, http:// or https:// URL";
    return std::nullopt;
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  u.port = default_port;
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    int p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p <= 0 || p > 65535) {
      why = quoted(text) + ": bad port " + quoted(port);
      return std::nullopt;
    }
    u.port = p;
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    why = quoted(text) + " names no host";
    return std::nullopt;
  }
  u.host = std::string(authority);
  return u;
}

WsClient::WsClient(WsClientOptions options, WsClientHandler& handler)
    : options_(std::move(options)), handler_(handler), rng_(options_.seed ^ 0x5DEECE66Dull),
      reconnect_timer_(std::make_unique<Timer>()), stale_timer_(std::make_unique<Timer>()), tick_timer_(std::make_unique<Timer>()) {
  for (Timer* t : {reconnect_timer_.get(), stale_timer_.get(), tick_timer_.get()}) {
    std::memset(&t->sul, 0, sizeof t->sul);
    t->owner = this;
  }
  retry_ = std::make_unique<lws_retry_bo>();
  std::memset(retry_.get(), 0, sizeof(lws_retry_bo));
  const int64_t ping_s = std::clamp<int64_t>(options_.ping_every_ns / 1'000'000'000, 1, 3600);
  retry_->secs_since_valid_ping = static_cast<uint16_t>(ping_s);
  retry_->secs_since_valid_hangup = static_cast<uint16_t>(2 * ping_s + 5);
}

WsClient::~WsClient() { stop(); }

void WsClient::start() {
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.user = this;
  info.client_ssl_ca_filepath = options_.ca_file.empty() ? nullptr : options_.ca_file.c_str();
  info.timeout_secs = 10;
  info.connect_timeout_secs = 10;
  context_ = lws_create_context(&info);
  if (!context_) throw std::runtime_error("libwebsockets could not create a client context" +
                                          (options_.ca_file.empty() ? std::string() : " (is " + options_.ca_file + " a PEM file?)"));
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "qf-ws-client");
    connect();
    int64_t deadline = 0;
    for (;;) {
      if (stopping_) {
        if (!deadline) deadline = steady_ns() + 1'000'000'000;  // at most 1 s for a clean close
        if ((!wsi_ && in_flight_.empty()) || steady_ns() > deadline) break;
      }
      if (!tick_armed_ && !stopping_ && handler_.wants_tick()) {
        tick_armed_ = true;
        lws_sul_schedule(context_, 0, &tick_timer_->sul, TimerAccess::tick, options_.tick_ns / 1000);
      }
      lws_service(context_, 0);
      handler_.on_turn_end();
    }
    lws_sul_cancel(&reconnect_timer_->sul);
    lws_sul_cancel(&stale_timer_->sul);
    lws_sul_cancel(&tick_timer_->sul);
    lws_context_destroy(context_);
    context_ = nullptr;
  });
}

void WsClient::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    if (context_) lws_cancel_service(context_);
  }
  // Keep waking the loop until it has closed the connection.
  while (thread_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      if (context_) lws_cancel_service(context_);
    }
    if (!context_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  thread_.join();
}

uint64_t WsClient::get(std::string path_and_query) {
  auto r = std::make_unique<Request>();
  r->path = std::move(path_and_query);
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = r->id = next_id_++;
    requests_.push_back(std::move(r));
    if (context_) lws_cancel_service(context_);
  }
  return id;
}

void WsClient::pause_reading(bool paused) {
  std::lock_guard lock(mutex_);
  want_paused_ = paused;
  if (context_) lws_cancel_service(context_);
}

void WsClient::finish() {
  finished_ = true;
  lws_sul_cancel(&reconnect_timer_->sul);
  if (wsi_) {
    hang_up_ = true;
    lws_callback_on_writable(wsi_);
  }
}

WsClient::Stats WsClient::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

int64_t WsClient::backoff_ns() {
  const uint32_t n = std::min<uint32_t>(attempts_ > 0 ? attempts_ - 1 : 0, 40);
  int64_t d = options_.reconnect_min_ns;
  for (uint32_t i = 0; i < n && d < options_.reconnect_max_ns; ++i) d *= 2;
  d = std::min(d, options_.reconnect_max_ns);
  const uint64_t half = static_cast<uint64_t>(d / 2);
  return static_cast<int64_t>(half + (half ? splitmix(rng_) % (half + 1) : 0));
}

void WsClient::connect() {
  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.context = context_;
  ci.address = options_.stream.host.c_str();
  ci.port = options_.stream.port;
  ci.path = options_.stream.path.c_str();
  ci.host = options_.stream.host.c_str();
  ci.origin = options_.stream.host.c_str();
  ci.ssl_connection = options_.stream.tls ? LCCSCF_USE_SSL : 0;
  ci.ietf_version_or_minus_one = -1;
  ci.pwsi = &wsi_;
  ci.retry_and_idle_policy = retry_.get();
  established_ = false;
  got_message_ = false;
  hang_up_ = false;
  pending_close_ = Disconnect{};
  message_.clear();
  if (!lws_client_connect_via_info(&ci)) {
    // Failed before any socket existed (the callback may or may not have run).
    if (!wsi_) {
      ++attempts_;
      {
        std::lock_guard lock(mutex_);
        ++stats_.failed_attempts;
      }
      Disconnect d;
      d.reason = "could not start a connection to " + options_.stream.host + ":" + std::to_string(options_.stream.port);
      handler_.on_disconnected(d);
      schedule_reconnect();
    }
  }
}

void WsClient::schedule_reconnect() {
  if (stopping_ || finished_) return;
  if (options_.max_attempts && attempts_ >= options_.max_attempts) {
    finished_ = true;
    handler_.on_gave_up("gave up after " + std::to_string(attempts_) + " failed connection attempts to " +
                        options_.stream.host + ":" + std::to_string(options_.stream.port));
    return;
  }
  lws_sul_schedule(context_, 0, &reconnect_timer_->sul, TimerAccess::reconnect, backoff_ns() / 1000);
}

void WsClient::check_stale() {
  if (!wsi_ || !established_ || hang_up_) return;
  const int64_t quiet = steady_ns() - last_message_ns_;
  if (quiet >= options_.stale_after_ns) {
    pending_close_ = Disconnect{};
    pending_close_.stale = true;
    pending_close_.reason = "no message for " + std::to_string(quiet / 1'000'000) + " ms (stale feed)";
    {
      std::lock_guard lock(mutex_);
      ++stats_.stale_hangups;
    }
    hang_up_ = true;
    lws_callback_on_writable(wsi_);
    return;
  }
  lws_sul_schedule(context_, 0, &stale_timer_->sul, TimerAccess::stale, (options_.stale_after_ns - quiet) / 1000 + 1000);
}

void WsClient::tick() {
  tick_armed_ = false;
  if (stopping_) return;
  handler_.on_tick();  // the service loop arms the next one if it is still wanted
}

void WsClient::service_requests() {
  std::deque<std::unique_ptr<Request>> fresh;
  std::optional<bool> paused;
  {
    std::lock_guard lock(mutex_);
    fresh.swap(requests_);
    paused.swap(want_paused_);
  }
  if (paused && *paused != paused_) {
    paused_ = *paused;
    if (wsi_) lws_rx_flow_control(wsi_, paused_ ? 0 : 1);
  }
  for (auto& r : fresh) {
    in_flight_.push_back(std::move(r));
    start_request(*in_flight_.back());
  }
  if (stopping_ && wsi_ && !hang_up_) {
    hang_up_ = true;
    lws_callback_on_writable(wsi_);
  }
}

void WsClient::start_request(Request& r) {
  if (stopping_) return complete(r, "stopping");
  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.context = context_;
  ci.address = options_.rest.host.c_str();
  ci.port = options_.rest.port;
  ci.path = r.path.c_str();
  ci.host = options_.rest.host.c_str();
  ci.origin = options_.rest.host.c_str();
  ci.ssl_connection = options_.rest.tls ? LCCSCF_USE_SSL : 0;
  ci.method = "GET";
  // Bound to our protocol: libwebsockets hands the body (RECEIVE_CLIENT_HTTP_READ) only to a
  // connection bound to one.
  ci.protocol = kProtocols[0].name;
  ci.opaque_user_data = &r;
  ci.pwsi = &r.wsi;
  if (!lws_client_connect_via_info(&ci) && !r.done && !r.wsi)
    complete(r, "could not start a request to " + options_.rest.host + ":" + std::to_string(options_.rest.port));
}

void WsClient::complete(Request& r, std::string error) {
  if (r.done) return;
  r.done = true;
  handler_.on_response(r.id, r.status, std::move(r.body), std::move(error));
  // Forget it; the wsi, if any, is closing and no longer points at it.
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it)
    if (it->get() == &r) {
      if (r.wsi) lws_set_opaque_user_data(r.wsi, nullptr);
      in_flight_.erase(it);
      break;
    }
}

int WsClient::callback(lws* wsi, int reason_int, void* in, size_t len) {
  const auto reason = static_cast<lws_callback_reasons>(reason_int);
  auto* request = static_cast<Request*>(lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      service_requests();
      return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (request || wsi != wsi_) return 0;
      established_ = true;
      last_message_ns_ = steady_ns();
      {
        std::lock_guard lock(mutex_);
        ++stats_.connects;
      }
      if (paused_) lws_rx_flow_control(wsi, 0);
      handler_.on_connected();
      lws_sul_schedule(context_, 0, &stale_timer_->sul, TimerAccess::stale, options_.stale_after_ns / 1000);
      return 0;

    case LWS_CALLBACK_CLIENT_RECEIVE: {
      if (wsi != wsi_) return 0;
      if (message_.size() + len > kMaxMessage) {
        pending_close_.reason = "a message over " + std::to_string(kMaxMessage >> 20) + " MiB";
        return -1;
      }
      message_.append(static_cast<const char*>(in), len);
      if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0) return 0;
      last_message_ns_ = steady_ns();
      if (!got_message_) {
        got_message_ = true;
        attempts_ = 0;
      }
      {
        std::lock_guard lock(mutex_);
        ++stats_.messages;
        stats_.bytes += message_.size();
      }
      handler_.on_message(message_);
      message_.clear();
      return 0;
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (wsi == wsi_ && len >= 2) {
        const auto* p = static_cast<const unsigned char*>(in);
        pending_close_.clean = true;
        pending_close_.code = (p[0] << 8) | p[1];
        pending_close_.reason.assign(reinterpret_cast<const char*>(p + 2), len - 2);
      } else if (wsi == wsi_) {
        pending_close_.clean = true;
        pending_close_.code = 1005;  // a close frame without a status
      }
      return 0;

    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (wsi == wsi_ && hang_up_) {
        if (stopping_ || finished_) {
          static const char bye[] = "client closing";
          lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, reinterpret_cast<unsigned char*>(const_cast<char*>(bye)), sizeof bye - 1);
        }
        return -1;
      }
      return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      const std::string what = in && len ? std::string(static_cast<const char*>(in), strnlen(static_cast<const char*>(in), len))
                                         : in ? std::string(static_cast<const char*>(in)) : "connection failed";
      if (request) {
        request->wsi = nullptr;
        complete(*request, what);
        return 0;
      }
      if (wsi != wsi_ && wsi_ != nullptr) return 0;
      wsi_ = nullptr;
      ++attempts_;
      {
        std::lock_guard lock(mutex_);
        ++stats_.failed_attempts;
      }
      Disconnect d;
      d.reason = what;
      if (!stopping_) handler_.on_disconnected(d);
      schedule_reconnect();
      return 0;
    }

    case LWS_CALLBACK_CLIENT_CLOSED: {
      if (wsi != wsi_) return 0;
      wsi_ = nullptr;
      lws_sul_cancel(&stale_timer_->sul);
      Disconnect d = pending_close_;
      d.connected = established_;
      if (!d.clean && d.reason.empty()) d.reason = "the connection was lost";
      if (!got_message_) ++attempts_;
      {
        std::lock_guard lock(mutex_);
        ++stats_.disconnects;
      }
      if (!stopping_) handler_.on_disconnected(d);
      schedule_reconnect();
      return 0;
    }

    // ---- REST requests ----
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
      if (request) request->status = static_cast<int>(lws_http_client_http_response(wsi));
      return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
      if (request) {
        if (request->body.size() + len > kMaxBody) {
          complete(*request, "the answer is larger than " + std::to_string(kMaxBody >> 20) + " MiB");
          return -1;
        }
        request->body.append(static_cast<const char*>(in), len);
      }
      return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buffer[4096 + LWS_PRE];
      char* p = buffer + LWS_PRE;
      int n = static_cast<int>(sizeof buffer - LWS_PRE);
      return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
      if (request) complete(*request, "");
      return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
      if (request) {
        request->wsi = nullptr;
        complete(*request, request->status ? "" : "the connection closed before an answer came");
      }
      return 0;

    default:
      return 0;
  }
}

}  // namespace qflow::exchange
