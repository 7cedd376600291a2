// The exchange simulator on libwebsockets (replay_server.hpp has the contract).
//
// One Service object holds everything: the immutable timeline, built in the constructor, and the
// state of the service thread, the only thread that calls libwebsockets. Other threads reach it
// through a command queue and lws_cancel_service(). One scheduled callback (the tick) moves the
// clock: it releases the messages due, sends pings, starts and ends stalls and drops connections;
// each connection then writes whatever the replay has reached in its own WRITEABLE callbacks, a
// bounded number of frames at a time, so one fast reader never holds up the others.
//
// The messages' release times are kept by a pacer thread, which sleeps until the next one is due
// and then wakes the service thread: libwebsockets waits in poll() with millisecond timeouts, and
// would spin a core through every sub-millisecond gap between two messages.
#include "replay_server.hpp"

#include "lws_log.hpp"
#include "market_file.hpp"

#include <qflow/time.hpp>

#include <libwebsockets.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <sys/prctl.h>
#include <pthread.h>

namespace qflow::net {
namespace {

constexpr int kWritesPerCallback = 64;     // frames per WRITEABLE callback, so the loop stays responsive
constexpr size_t kCoalesceBytes = 32 * 1024;  // at most this much per write

// A server's (unmasked) header of a final text frame of `n` bytes (RFC 6455, section 5.2).
void append_frame_header(std::string& out, size_t n) {
  out.push_back(static_cast<char>(0x81));
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8) & 0xFF));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> shift) & 0xFF));
  }
}
constexpr size_t kScanPerRefill = 4096;    // timeline entries looked at per refill
constexpr size_t kHttpChunk = 16 * 1024;   // HTTP response bytes per write
constexpr size_t kMaxRequestBody = 64 * 1024;
constexpr int64_t kStopGraceNs = kNanosPerSecond;  // how long stop() waits for clients to ack the close
constexpr size_t kMaxCloseReason = 120;            // a close frame's reason fits 123 bytes
constexpr int kMaxHeaderBytes = 8192;              // request line and headers: room for many streams in a URL

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t floor_ms(int64_t ns) { return ns >= 0 ? ns / 1'000'000 : -((-ns + 999'999) / 1'000'000); }

void append_int(std::string& out, int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string to_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// One message of the timeline: a feed's row, released (due) at release_ns of data time.
struct TimelineEntry {
  int64_t release_ns;
  uint32_t feed;
  uint32_t row;
  bool partial;  // the x=false copy of a kline
};

struct Feed {
  ReplayFeed spec;     // symbol upper-cased
  std::string stream;  // btcusdt@kline_1m, btcusdt@trade
  std::optional<BarSeries> bars;
  std::optional<TradeSeries> trades;
  std::vector<uint32_t> closed_at;  // bars: the timeline index of each row's closed kline
};

struct PendingFaults {
  uint64_t drop = 0, duplicate = 0, malformed = 0, reorder = 0;
};

enum class Treatment { send, drop, duplicate, malformed, reorder };

// A WebSocket client. Frames carry LWS_PRE spare bytes ahead of their payload, as lws_write wants.
struct Connection {
  lws* wsi = nullptr;
  bool combined = false;
  std::vector<char> wants;  // per feed
  std::string reject;       // a bad subscription: closed with 1008 and this reason
  bool killed = false;      // dropped by a disconnect fault
  size_t next = 0;          // timeline index of the next message to consider
  uint64_t seq = 0;         // messages of its streams reached, numbered from 1 (the faults count these)
  std::deque<std::string> outbox;
  std::string held;  // a message being reordered, sent after the next one
  bool holding = false;
  PendingFaults injected;
  uint64_t malformed_made = 0;
  int64_t next_ping_ns = 0;
  bool ping_due = false;
};

// An HTTP request being answered.
struct HttpExchange {
  std::string path;
  std::string body;      // a POST's body
  std::string response;  // its answer, sent kHttpChunk at a time
  size_t sent = 0;
};

struct Counters {
  std::atomic<uint64_t> sent{0}, dropped{0}, duplicated{0}, malformed{0}, reordered{0}, disconnects{0}, stalls{0},
      clients{0}, connections{0}, position{0};
};

struct BinanceError {
  int code;
  std::string msg;
};

std::string binance_error_body(const BinanceError& e) {
  return nlohmann::json{{"code", e.code}, {"msg", e.msg}}.dump();
}

BinanceError illegal_number(const std::string& name) {
  return {-1100, "Illegal characters found in parameter '" + name + "'; legal range is '^[0-9]{1,20}$'."};
}

std::optional<int64_t> parse_integer(const std::string& s) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

bool ReplayFault::kind_named(const std::string& name, Kind& out) {
  static const std::pair<const char*, Kind> kNames[] = {{"disconnect", Kind::disconnect}, {"drop", Kind::drop},
                                                        {"duplicate", Kind::duplicate},   {"malformed", Kind::malformed},
                                                        {"stall", Kind::stall},           {"reorder", Kind::reorder}};
  for (const auto& [n, k] : kNames)
    if (name == n) {
      out = k;
      return true;
    }
  return false;
}

struct ReplayServer::Service {
  // Fixed at construction.
  const ReplayOptions options;
  const bool max_speed;
  std::vector<Feed> feeds;
  std::vector<TimelineEntry> timeline;
  std::string url_host;

  // Shared with other threads.
  std::atomic<int> port{0};
  Counters counters;
  std::vector<int64_t> send_times;  // with options.record_send_times; guarded by `mutex` for readers
  std::thread thread;
  std::mutex mutex;                 // guards the four below
  lws_context* context = nullptr;   // while the service thread runs, for lws_cancel_service()
  std::vector<ReplayFault> commands;
  bool stop_requested = false;
  bool done = false;  // finished or stopped: wait_finished() returns
  std::condition_variable done_cv;
  std::atomic<bool> finished{false};

  // The pacer: the steady time the next message is due, or kNever.
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  std::thread pacer;
  std::mutex pace_mutex;  // guards the two below
  int64_t pace_due_ns = kNever;
  bool pace_stop = false;
  std::condition_variable pace_cv;

  // The service thread's.
  struct TickTimer {
    lws_sorted_usec_list_t sul;  // first: the callback gets its address
    Service* owner;
  } tick_timer{};
  lws_context* service_context = nullptr;
  lws_vhost* vhost = nullptr;
  std::unordered_map<lws*, std::unique_ptr<Connection>> connections;
  std::unordered_map<lws*, HttpExchange> exchanges;
  size_t subscribed = 0;
  PendingFaults unclaimed;  // injected while no client was subscribed
  bool started = false;
  int64_t wall_start_ns = 0;
  size_t position = 0;  // timeline entries released
  int64_t stall_until_ns = 0;
  int64_t next_stall_ns = 0;
  int64_t next_disconnect_ns = 0;
  bool stopping = false;
  int64_t stop_deadline_ns = 0;
  bool leave = false;
  std::vector<unsigned char> http_buffer;
  std::string coalesced;  // LWS_PRE spare bytes, then frames with their headers

  explicit Service(ReplayOptions o) : options(std::move(o)), max_speed(options.speed == 0) {
    validate();
    load();
    const std::string& h = options.host;
    url_host = h.empty() || h == "0.0.0.0" || h == "::" ? "127.0.0.1" : h.find(':') != std::string::npos ? "[" + h + "]" : h;
    tick_timer.owner = this;
  }

  // ---- construction ----

  void validate() const {
    const auto fail = [](const std::string& m) { throw std::runtime_error(m); };
    if (options.feeds.empty()) fail("replay server: no feeds");
    if (!std::isfinite(options.speed) || options.speed < 0)
      fail("replay server: speed must be a positive number, or 0 for as fast as clients read");
    if (options.port < 0 || options.port > 65535)
      fail("replay server: port " + std::to_string(options.port) + " is out of range");
    if (options.cert.empty() != options.key.empty()) fail("replay server: TLS needs both a certificate and a key");
    for (const std::string* f : {&options.cert, &options.key})
      if (!f->empty() && !std::ifstream(*f)) fail("replay server: cannot read " + *f + ": " + std::strerror(errno));
    const ReplayFaults& x = options.faults;
    if (x.disconnect_every_ns < 0 || x.stall_every_ns < 0 || x.stall_for_ns < 0 || options.ping_every_ns < 0)
      fail("replay server: durations cannot be negative");
    if ((x.stall_every_ns > 0) != (x.stall_for_ns > 0)) fail("replay server: stall_every and stall_for go together");
    if (x.stall_every_ns > 0 && x.stall_for_ns >= x.stall_every_ns)
      fail("replay server: stall_for must be shorter than stall_every");
  }

  void load() {
    for (const ReplayFeed& spec : options.feeds) {
      Feed f;
      f.spec = spec;
      f.spec.symbol = to_upper(spec.symbol);
      const std::string& sym = f.spec.symbol;
      if (sym.empty() || !std::all_of(sym.begin(), sym.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
        throw std::runtime_error("replay server: feed symbol '" + spec.symbol + "' must be letters and digits");
      if (spec.kind == ReplayFeed::bars) {
        f.bars = BarSeries::load(spec.path, BarColumns{spec.time_column, spec.interval});
        f.stream = to_lower(sym) + "@kline_" + f.bars->interval().name;
      } else {
        if (!spec.interval.empty())
          throw std::runtime_error("replay server: feed " + sym + " (" + spec.path + ") is trades: it takes no interval");
        f.trades = TradeSeries::load(spec.path, TradeColumns{spec.time_column, spec.price_column, spec.qty_column});
        f.stream = to_lower(sym) + "@trade";
      }
      for (const Feed& other : feeds)
        if (other.stream == f.stream)
          throw std::runtime_error("replay server: two feeds make the stream " + f.stream + " (" + other.spec.path +
                                   " and " + spec.path + ")");
      feeds.push_back(std::move(f));
    }
    for (uint32_t i = 0; i < feeds.size(); ++i) {
      const Feed& f = feeds[i];
      if (f.bars) {
        for (uint32_t r = 0; r < f.bars->rows().size(); ++r) {
          const int64_t release = f.bars->rows()[r].close_ns;
          if (options.partial_klines) timeline.push_back({release, i, r, true});
          timeline.push_back({release, i, r, false});
        }
      } else {
        for (uint32_t r = 0; r < f.trades->rows().size(); ++r) timeline.push_back({f.trades->rows()[r].time_ns, i, r, false});
      }
    }
    if (timeline.size() >= std::numeric_limits<uint32_t>::max())
      throw std::runtime_error("replay server: too many messages (" + std::to_string(timeline.size()) + ")");
    std::stable_sort(timeline.begin(), timeline.end(),
                     [](const TimelineEntry& a, const TimelineEntry& b) { return a.release_ns < b.release_ns; });
    for (Feed& f : feeds)
      if (f.bars) f.closed_at.resize(f.bars->rows().size());
    for (uint32_t i = 0; i < timeline.size(); ++i)
      if (!timeline[i].partial && feeds[timeline[i].feed].bars) feeds[timeline[i].feed].closed_at[timeline[i].row] = i;
  }

  // ---- messages ----

  void append_data(std::string& out, const TimelineEntry& e) const {
    const Feed& f = feeds[e.feed];
    const std::string& sym = f.spec.symbol;
    if (f.bars) {
      const BarSeries& s = *f.bars;
      const BarRow& r = s.rows()[e.row];
      const int64_t close_ms = floor_ms(r.close_ns);
      out += R"({"e":"kline","E":)";
      append_int(out, e.partial ? close_ms - 1 : close_ms);
      out += R"(,"s":")" + sym + R"(","k":{"t":)";
      append_int(out, floor_ms(r.open_ns));
      out += R"(,"T":)";
      append_int(out, close_ms - 1);
      out += R"(,"s":")" + sym + R"(","i":")" + s.interval().name + R"(","f":-1,"L":-1,"o":")";
      out += s.text(r.open);
      out += R"(","c":")";
      out += s.text(r.close);
      out += R"(","h":")";
      out += s.text(r.high);
      out += R"(","l":")";
      out += s.text(r.low);
      out += R"(","v":")";
      out += s.text(r.volume);
      out += R"(","n":0,"x":)";
      out += e.partial ? "false" : "true";
      out += R"(,"q":"0","V":"0","Q":"0","B":"0"}})";
    } else {
      const TradeSeries& s = *f.trades;
      const TradeRow& r = s.rows()[e.row];
      const int64_t ms = floor_ms(r.time_ns);
      out += R"({"e":"trade","E":)";
      append_int(out, ms);
      out += R"(,"s":")" + sym + R"(","t":)";
      append_int(out, int64_t{e.row} + 1);
      out += R"(,"p":")";
      out += s.text(r.price);
      out += R"(","q":")";
      out += s.text(r.qty);
      out += R"(","T":)";
      append_int(out, ms);
      out += R"(,"m":)";
      out += r.buyer_maker ? "true" : "false";
      out += R"(,"M":true})";
    }
  }

  int64_t event_ms(const TimelineEntry& e) const {
    const Feed& f = feeds[e.feed];
    if (f.bars) return floor_ms(f.bars->rows()[e.row].close_ns) - (e.partial ? 1 : 0);
    return floor_ms(f.trades->rows()[e.row].time_ns);
  }

  std::string frame(const Connection& c, const TimelineEntry& e) const {
    std::string out(LWS_PRE, '\0');
    if (c.combined) out += R"({"stream":")" + feeds[e.feed].stream + R"(","data":)";
    append_data(out, e);
    if (c.combined) out += '}';
    return out;
  }

  // Malformed in turn four ways: cut short, not JSON, JSON missing fields, an unknown event type.
  std::string malformed_frame(Connection& c, const TimelineEntry& e) const {
    const Feed& f = feeds[e.feed];
    const uint64_t variant = c.malformed_made++ % 4;
    if (variant == 0) {
      std::string whole = frame(c, e);
      whole.resize(LWS_PRE + (whole.size() - LWS_PRE) / 2);
      return whole;
    }
    std::string out(LWS_PRE, '\0');
    if (variant == 1) return out + "replay-server: a malformed message, on purpose";
    std::string data = f.bars ? R"({"e":"kline","E":)" : R"({"e":"trade","E":)";
    if (variant == 3) data = R"({"e":"qflowUnknownEvent","E":)";
    append_int(data, event_ms(e));
    data += R"(,"s":")" + f.spec.symbol + R"("})";
    if (c.combined) return out + R"({"stream":")" + f.stream + R"(","data":)" + data + "}";
    return out + data;
  }

  // ---- the replay ----

  Treatment treatment(Connection& c) const {
    PendingFaults& p = c.injected;
    if (p.drop) return --p.drop, Treatment::drop;
    if (p.malformed) return --p.malformed, Treatment::malformed;
    if (p.duplicate) return --p.duplicate, Treatment::duplicate;
    if (p.reorder) return --p.reorder, Treatment::reorder;
    const ReplayFaults& f = options.faults;
    const auto every = [&](uint64_t n) { return n != 0 && c.seq % n == 0; };
    if (every(f.drop_every)) return Treatment::drop;
    if (every(f.malformed_every)) return Treatment::malformed;
    if (every(f.duplicate_every)) return Treatment::duplicate;
    if (every(f.reorder_every)) return Treatment::reorder;
    return Treatment::send;
  }

  void process(Connection& c, const TimelineEntry& e) {
    ++c.seq;
    switch (treatment(c)) {
      case Treatment::drop:
        counters.dropped.fetch_add(1, std::memory_order_relaxed);
        break;
      case Treatment::malformed:
        c.outbox.push_back(malformed_frame(c, e));
        counters.malformed.fetch_add(1, std::memory_order_relaxed);
        break;
      case Treatment::duplicate:
        c.outbox.push_back(frame(c, e));
        c.outbox.push_back(c.outbox.back());
        counters.duplicated.fetch_add(1, std::memory_order_relaxed);
        break;
      case Treatment::reorder:
        if (!c.holding) {
          c.held = frame(c, e);
          c.holding = true;
          return;
        }
        c.outbox.push_back(frame(c, e));
        break;
      case Treatment::send:
        c.outbox.push_back(frame(c, e));
        break;
    }
    if (c.holding) {
      c.outbox.push_back(std::move(c.held));
      c.holding = false;
      counters.reordered.fetch_add(1, std::memory_order_relaxed);
    }
  }

  size_t reachable() const { return max_speed ? timeline.size() : position; }

  // Moves a connection along the timeline until it has something to send; false if nothing yet.
  bool refill(Connection& c) {
    const size_t limit = reachable();
    for (size_t scanned = 0; c.outbox.empty() && c.next < limit && scanned < kScanPerRefill; ++scanned) {
      const TimelineEntry& e = timeline[c.next++];
      if (c.wants[e.feed]) process(c, e);
    }
    if (max_speed && c.next > position) set_position(c.next);
    if (c.outbox.empty() && c.holding && c.next >= timeline.size()) {  // nothing came after it
      c.outbox.push_back(std::move(c.held));
      c.holding = false;
    }
    return !c.outbox.empty();
  }

  void set_position(size_t p) {
    position = p;
    counters.position.store(p, std::memory_order_relaxed);
  }

  void start_clock(int64_t now) {
    started = true;
    wall_start_ns = now;
    next_stall_ns = now + options.faults.stall_every_ns;
    next_disconnect_ns = now + options.faults.disconnect_every_ns;
    update_position(now);
  }

  // Data time elapsed since the clock started, in ns of data (finite speeds).
  long double reached(int64_t now) const { return static_cast<long double>(now - wall_start_ns) * options.speed; }

  void update_position(int64_t now) {
    if (!started || max_speed) return;
    const long double r = reached(now);
    const int64_t first = timeline.front().release_ns;
    size_t p = position;
    while (p < timeline.size() && static_cast<long double>(timeline[p].release_ns - first) <= r) ++p;
    if (p == position) return;
    set_position(p);
    wake_all();
  }

  // When entry i is due on the wall clock (finite speeds).
  int64_t due_ns(size_t i) const {
    const long double delta = static_cast<long double>(timeline[i].release_ns - timeline.front().release_ns);
    return wall_start_ns + static_cast<int64_t>(std::ceil(delta / options.speed)) + 1;
  }

  // The replay's "now" in data time.
  int64_t replay_now_ns(int64_t now) const {
    const int64_t first = timeline.front().release_ns;
    if (!started) return first - 1'000'000;
    if (max_speed) return position ? timeline[position - 1].release_ns : first - 1'000'000;
    return first + static_cast<int64_t>(reached(now));
  }

  bool stalled(int64_t now) const { return stall_until_ns != 0 && now < stall_until_ns; }

  void begin_stall(int64_t now, int64_t duration) {
    stall_until_ns = std::max(stall_until_ns, now + duration);
    counters.stalls.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("replay-server: stalling every connection for {} ms", duration / 1'000'000);
  }

  void wake_all() {
    for (auto& [wsi, c] : connections) lws_callback_on_writable(wsi);
  }

  void disconnect_all() {
    size_t n = 0;
    for (auto& [wsi, c] : connections)
      if (c->reject.empty() && !c->killed) {
        c->killed = true;
        // No close reason: lws drops the socket without a close frame, as a network fault would.
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        ++n;
      }
    counters.disconnects.fetch_add(n, std::memory_order_relaxed);
    if (n) spdlog::info("replay-server: dropped {} connection{} (fault)", n, n == 1 ? "" : "s");
  }

  void apply(const ReplayFault& f) {
    const int64_t now = steady_ns();
    switch (f.kind) {
      case ReplayFault::Kind::disconnect: disconnect_all(); return;
      case ReplayFault::Kind::stall: begin_stall(now, f.duration_ns); return;
      default: break;
    }
    const auto add = [&](PendingFaults& p) {
      uint64_t& slot = f.kind == ReplayFault::Kind::drop        ? p.drop
                       : f.kind == ReplayFault::Kind::duplicate ? p.duplicate
                       : f.kind == ReplayFault::Kind::malformed ? p.malformed
                                                                : p.reorder;
      slot += f.count;
    };
    bool any = false;
    for (auto& [wsi, c] : connections)
      if (c->reject.empty() && !c->killed) {
        add(c->injected);
        any = true;
      }
    if (!any) add(unclaimed);
  }

  void drain_commands() {
    std::vector<ReplayFault> todo;
    bool stop = false;
    {
      std::lock_guard lock(mutex);
      todo.swap(commands);
      stop = stop_requested;
    }
    for (const ReplayFault& f : todo) apply(f);
    if (stop && !stopping) {
      stopping = true;
      stop_deadline_ns = steady_ns() + kStopGraceNs;
      wake_all();
    }
    schedule();
  }

  void check_finished() {
    if (finished.load() || !started || position < timeline.size() || subscribed > 0) return;
    finished.store(true);
    spdlog::info("replay-server: the replay finished ({} messages)", timeline.size());
    {
      std::lock_guard lock(mutex);
      done = true;
    }
    done_cv.notify_all();
    if (options.exit_at_end) leave = true;
  }

  static void on_tick(lws_sorted_usec_list_t* sul) { reinterpret_cast<TickTimer*>(sul)->owner->tick(); }

  void tick() {
    const int64_t now = steady_ns();
    if (started) {
      update_position(now);
      const ReplayFaults& f = options.faults;
      if (f.stall_every_ns > 0 && now >= next_stall_ns) {
        begin_stall(now, f.stall_for_ns);
        while (next_stall_ns <= now) next_stall_ns += f.stall_every_ns;
      }
      if (f.disconnect_every_ns > 0 && now >= next_disconnect_ns) {
        disconnect_all();
        while (next_disconnect_ns <= now) next_disconnect_ns += f.disconnect_every_ns;
      }
    }
    if (stall_until_ns != 0 && now >= stall_until_ns) {
      stall_until_ns = 0;
      wake_all();
    }
    if (options.ping_every_ns > 0)
      for (auto& [wsi, c] : connections)
        if (c->reject.empty() && now >= c->next_ping_ns) {
          if (!stalled(now)) {
            c->ping_due = true;
            lws_callback_on_writable(wsi);
          }
          c->next_ping_ns = now + options.ping_every_ns;
        }
    check_finished();
    schedule();
  }

  void set_pace(int64_t due) {
    {
      std::lock_guard lock(pace_mutex);
      if (pace_due_ns == due) return;
      pace_due_ns = due;
    }
    pace_cv.notify_one();
  }

  // The pacer thread: wakes the service thread when the next message is due.
  void pace() {
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // wake on time, not up to 50 us late
    std::unique_lock lock(pace_mutex);
    while (!pace_stop) {
      if (pace_due_ns == kNever) {
        pace_cv.wait(lock);
      } else if (steady_ns() < pace_due_ns) {
        pace_cv.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(pace_due_ns)));
      } else {
        pace_due_ns = kNever;  // until the service thread sets the next
        lock.unlock();
        wake();
        lock.lock();
      }
    }
  }

  // Arms the tick for the earliest thing due but the messages (the pacer has those).
  void schedule() {
    const int64_t now = steady_ns();
    int64_t next = std::numeric_limits<int64_t>::max();
    set_pace(started && !max_speed && position < timeline.size() ? due_ns(position) : kNever);
    if (started) {
      if (options.faults.stall_every_ns > 0) next = std::min(next, next_stall_ns);
      if (options.faults.disconnect_every_ns > 0) next = std::min(next, next_disconnect_ns);
    }
    if (stall_until_ns != 0) next = std::min(next, stall_until_ns);
    if (stopping) next = std::min(next, stop_deadline_ns);
    if (options.ping_every_ns > 0)
      for (auto& [wsi, c] : connections)
        if (c->reject.empty()) next = std::min(next, c->next_ping_ns);
    if (next == std::numeric_limits<int64_t>::max()) {
      lws_sul_cancel(&tick_timer.sul);
      return;
    }
    const lws_usec_t delay = next <= now ? 0 : (next - now + 999) / 1000;
    lws_sul_schedule(service_context, 0, &tick_timer.sul, &Service::on_tick, delay);
  }

  // ---- WebSocket ----

  std::string subscribe(Connection& c, lws* wsi) {
    char buf[kMaxHeaderBytes];
    const int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_GET_URI);
    const std::string path(buf, n > 0 ? static_cast<size_t>(n) : 0);
    std::vector<std::string> names;
    if (path == "/stream") {
      c.combined = true;
      for (int i = 0; lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; ++i) {
        const std::string_view arg(buf);
        if (!arg.starts_with("streams=")) continue;
        std::string_view list = arg.substr(8);
        while (!list.empty()) {
          const size_t slash = list.find('/');
          if (slash != 0) names.emplace_back(list.substr(0, slash));
          list.remove_prefix(slash == std::string_view::npos ? list.size() : slash + 1);
        }
      }
      if (names.empty()) return "no streams: use /stream?streams=<stream>/<stream>";
    } else if (path.starts_with("/ws/")) {
      names.push_back(path.substr(4));
    } else {
      return "unknown path " + path + ": use /stream?streams=<stream>/<stream> or /ws/<stream>";
    }
    c.wants.assign(feeds.size(), 0);
    for (const std::string& name : names) {
      const std::string wanted = to_lower(name);
      const auto f = std::find_if(feeds.begin(), feeds.end(), [&](const Feed& x) { return x.stream == wanted; });
      if (f == feeds.end()) {
        std::string known;
        for (const Feed& x : feeds) known.append(known.empty() ? "" : " ").append(x.stream);
        return "unknown stream '" + name + "' (streams: " + known + ")";
      }
      c.wants[static_cast<size_t>(f - feeds.begin())] = 1;
    }
    return {};
  }

  int on_established(lws* wsi) {
    auto owned = std::make_unique<Connection>();
    Connection& c = *owned;
    c.wsi = wsi;
    connections.emplace(wsi, std::move(owned));
    char peer[128] = "?";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    c.reject = subscribe(c, wsi);
    if (!c.reject.empty()) {
      spdlog::warn("replay-server: {} refused: {}", peer, c.reject);
      lws_callback_on_writable(wsi);
      return 0;
    }
    const int64_t now = steady_ns();
    c.next = started ? position : 0;  // opened before the clock started: everything from the beginning
    if (subscribed == 0) std::swap(c.injected, unclaimed);
    ++subscribed;
    counters.clients.fetch_add(1, std::memory_order_relaxed);
    counters.connections.fetch_add(1, std::memory_order_relaxed);
    c.next_ping_ns = now + options.ping_every_ns;
    if (!started) start_clock(now);
    spdlog::info("replay-server: {} subscribed at message {} of {}", peer, c.next, timeline.size());
    lws_callback_on_writable(wsi);
    schedule();
    return 0;
  }

  static int close_with(lws* wsi, lws_close_status status, std::string reason) {
    if (reason.size() > kMaxCloseReason) reason.resize(kMaxCloseReason);
    lws_close_reason(wsi, status, reinterpret_cast<unsigned char*>(reason.data()), reason.size());
    return -1;
  }

  int on_writeable(lws* wsi) {
    const auto it = connections.find(wsi);
    if (it == connections.end()) return 0;
    Connection& c = *it->second;
    if (c.killed) return -1;
    if (!c.reject.empty()) return close_with(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, c.reject);
    if (stopping) return close_with(wsi, LWS_CLOSE_STATUS_GOINGAWAY, "server stopping");
    if (stalled(steady_ns())) return 0;  // the tick wakes everyone when the stall ends
    if (c.ping_due) {
      c.ping_due = false;
      unsigned char ping[LWS_PRE + 1];
      if (lws_write(wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0) return -1;
    }
    // The frames due go out together, each with its own WebSocket header, in one write: an
    // exchange under load puts many frames in a TCP segment too, and a write per frame would
    // make the simulator, not the client, the bottleneck of a run at full speed.
    int frames = 0;
    coalesced.resize(LWS_PRE);
    while (frames < kWritesPerCallback && coalesced.size() < LWS_PRE + kCoalesceBytes) {
      if (c.outbox.empty() && !refill(c)) break;
      const std::string& f = c.outbox.front();
      append_frame_header(coalesced, f.size() - LWS_PRE);
      coalesced.append(f, LWS_PRE);
      c.outbox.pop_front();
      ++frames;
    }
    if (frames > 0) {
      if (lws_write(wsi, reinterpret_cast<unsigned char*>(coalesced.data()) + LWS_PRE, coalesced.size() - LWS_PRE,
                    LWS_WRITE_RAW) < 0)
        return -1;
      counters.sent.fetch_add(static_cast<uint64_t>(frames), std::memory_order_relaxed);
      if (options.record_send_times) {
        const int64_t now = steady_ns();
        std::lock_guard lock(mutex);
        send_times.insert(send_times.end(), static_cast<size_t>(frames), now);
      }
      const bool more = frames == kWritesPerCallback || coalesced.size() >= LWS_PRE + kCoalesceBytes || !c.outbox.empty();
      if (more || c.next >= timeline.size()) {
        // More to send, on the next turn so that the loop stays responsive; or the end, whose
        // close frame goes in a callback of its own, after the write has left.
        lws_callback_on_writable(wsi);
        return 0;
      }
    }
    if (c.next >= timeline.size() && !c.holding) return close_with(wsi, LWS_CLOSE_STATUS_NORMAL, "replay finished");
    if (c.next < reachable()) lws_callback_on_writable(wsi);  // the scan stopped early; go on next time
    return 0;
  }

  void on_closed(lws* wsi) {
    const auto it = connections.find(wsi);
    if (it == connections.end()) return;
    if (it->second->reject.empty()) {
      --subscribed;
      counters.clients.fetch_sub(1, std::memory_order_relaxed);
    }
    connections.erase(it);
    check_finished();
  }

  // ---- HTTP ----

  int respond(lws* wsi, unsigned status, std::string body) {
    HttpExchange& x = exchanges[wsi];
    x.response = std::move(body);
    x.sent = 0;
    unsigned char head[LWS_PRE + 1024];
    unsigned char *start = head + LWS_PRE, *p = start, *end = head + sizeof head - 1;
    if (lws_add_http_common_headers(wsi, status, "application/json", x.response.size(), &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
      return 1;
    lws_callback_on_writable(wsi);
    return 0;
  }

  int on_http_writeable(lws* wsi) {
    const auto it = exchanges.find(wsi);
    if (it == exchanges.end()) return 0;
    HttpExchange& x = it->second;
    const size_t n = std::min(kHttpChunk, x.response.size() - x.sent);
    const bool last = x.sent + n == x.response.size();
    http_buffer.resize(LWS_PRE + kHttpChunk);
    std::memcpy(http_buffer.data() + LWS_PRE, x.response.data() + x.sent, n);
    if (lws_write(wsi, http_buffer.data() + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0) return -1;
    x.sent += n;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    exchanges.erase(it);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }

  static std::vector<std::pair<std::string, std::string>> query(lws* wsi) {
    std::vector<std::pair<std::string, std::string>> out;
    char buf[1024];
    for (int i = 0; lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; ++i) {
      const std::string_view arg(buf);
      const size_t eq = arg.find('=');
      out.emplace_back(std::string(arg.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(arg.substr(eq + 1)));
    }
    return out;
  }

  int on_http(lws* wsi, const char* uri) {
    HttpExchange& x = exchanges[wsi];
    x = HttpExchange{};
    x.path = uri ? uri : "";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
      // Answered once the body is in (lws wants a POST's body read before the response).
      if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) return on_post(wsi);
      return 0;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
      return respond(wsi, 405, R"({"error":"only GET, and POST on /control/fault"})");
    const int64_t now = steady_ns();
    update_position(now);
    if (x.path == "/api/v3/ping") return respond(wsi, 200, "{}");
    if (x.path == "/api/v3/time") {
      std::string body = R"({"serverTime":)";
      append_int(body, floor_ms(replay_now_ns(now)));
      return respond(wsi, 200, body + "}");
    }
    if (x.path == "/api/v3/klines") {
      unsigned status = 200;
      std::string body = klines(query(wsi), status);
      return respond(wsi, status, std::move(body));
    }
    if (x.path == "/control/stats") return respond(wsi, 200, stats_json());
    if (x.path == "/control/fault") return respond(wsi, 405, R"({"error":"POST a fault to /control/fault"})");
    if (x.path == "/stream" || x.path.starts_with("/ws/"))
      return respond(wsi, 400, nlohmann::json{{"error", x.path + " is a WebSocket stream: it needs an upgrade"}}.dump());
    return not_found(wsi, x.path);
  }

  int not_found(lws* wsi, const std::string& path) {
    return respond(wsi, 404, nlohmann::json{{"error", "no such path: " + path}}.dump());
  }

  int on_http_body(lws* wsi, const void* in, size_t len) {
    HttpExchange& x = exchanges[wsi];
    if (x.body.size() + len > kMaxRequestBody) return -1;
    x.body.append(static_cast<const char*>(in), len);
    return 0;
  }

  int on_post(lws* wsi) {
    HttpExchange& x = exchanges[wsi];
    if (x.path != "/control/fault") return not_found(wsi, x.path);
    const std::string body = std::move(x.body);
    return on_fault_request(wsi, body);
  }

  int on_fault_request(lws* wsi, const std::string& body) {
    const auto bad = [&](const std::string& why) { return respond(wsi, 400, nlohmann::json{{"error", why}}.dump()); };
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
      return bad(std::string("the body is not JSON: ") + e.what());
    }
    if (!j.is_object()) return bad("expected an object {\"kind\":..., \"count\":n, \"ms\":n}");
    ReplayFault f;
    for (const auto& [key, value] : j.items()) {
      if (key == "kind") {
        if (!value.is_string() || !ReplayFault::kind_named(value.get<std::string>(), f.kind))
          return bad("kind must be one of disconnect, drop, duplicate, malformed, stall, reorder; got " + value.dump());
      } else if (key == "count") {
        if (!value.is_number_unsigned() || value.get<uint64_t>() == 0)
          return bad("count must be a whole number above 0; got " + value.dump());
        f.count = value.get<uint64_t>();
      } else if (key == "ms") {
        if (!value.is_number_unsigned()) return bad("ms must be a whole number of milliseconds; got " + value.dump());
        f.duration_ns = static_cast<int64_t>(value.get<uint64_t>()) * 1'000'000;
      } else {
        return bad("unknown key '" + key + "' (expected kind, count, ms)");
      }
    }
    if (!j.contains("kind")) return bad("no kind (disconnect, drop, duplicate, malformed, stall, reorder)");
    if (f.kind == ReplayFault::Kind::stall && f.duration_ns <= 0) return bad("a stall needs ms above 0");
    apply(f);
    schedule();
    return respond(wsi, 200, R"({"ok":true})");
  }

  std::string stats_json() const {
    const ReplayStats s = snapshot();
    return nlohmann::json{{"sent", s.sent},
                          {"dropped", s.dropped},
                          {"duplicated", s.duplicated},
                          {"malformed", s.malformed},
                          {"reordered", s.reordered},
                          {"disconnects", s.disconnects},
                          {"stalls", s.stalls},
                          {"clients", s.clients},
                          {"connections", s.connections},
                          {"position", s.position},
                          {"total", s.total},
                          {"finished", finished.load()}}
        .dump();
  }

  ReplayStats snapshot() const {
    ReplayStats s;
    s.sent = counters.sent.load();
    s.dropped = counters.dropped.load();
    s.duplicated = counters.duplicated.load();
    s.malformed = counters.malformed.load();
    s.reordered = counters.reordered.load();
    s.disconnects = counters.disconnects.load();
    s.stalls = counters.stalls.load();
    s.clients = counters.clients.load();
    s.connections = counters.connections.load();
    s.position = counters.position.load();
    s.total = timeline.size();
    return s;
  }

  // GET /api/v3/klines, as Binance answers it, over the klines released so far.
  std::string klines(const std::vector<std::pair<std::string, std::string>>& args, unsigned& status) const {
    const auto fail = [&](const BinanceError& e) {
      status = 400;
      return binance_error_body(e);
    };
    std::string symbol, interval;
    std::optional<int64_t> start, end;
    int64_t limit = 500;
    for (const auto& [name, value] : args) {
      if (name == "symbol") {
        symbol = to_upper(value);
      } else if (name == "interval") {
        interval = value;
      } else if (name == "startTime" || name == "endTime" || name == "limit") {
        const std::optional<int64_t> v = parse_integer(value);
        if (!v || *v < 0) return fail(illegal_number(name));
        if (name == "startTime") start = v;
        else if (name == "endTime") end = v;
        else limit = *v;
      }
    }
    for (const char* required : {"symbol", "interval"})
      if ((required[0] == 's' ? symbol : interval).empty())
        return fail({-1102, std::string("Mandatory parameter '") + required + "' was not sent, was empty/null, or malformed."});
    if (limit < 1) return fail({-1130, "Invalid data sent for a parameter."});
    limit = std::min<int64_t>(limit, 1000);
    if (start && end && *start > *end) return fail({-1023, "Start time is greater than end time."});
    if (std::none_of(feeds.begin(), feeds.end(), [&](const Feed& f) { return f.spec.symbol == symbol; }))
      return fail({-1121, "Invalid symbol."});
    const auto feed = std::find_if(feeds.begin(), feeds.end(), [&](const Feed& f) {
      return f.spec.symbol == symbol && f.bars && f.bars->interval().name == interval;
    });
    if (feed == feeds.end()) return fail({-1120, "Invalid interval."});

    const std::vector<BarRow>& rows = feed->bars->rows();
    // Released rows are a prefix: their closed klines sit in timeline order.
    const size_t released = static_cast<size_t>(
        std::partition_point(feed->closed_at.begin(), feed->closed_at.end(), [&](uint32_t i) { return i < position; }) -
        feed->closed_at.begin());
    const auto first_from = [&](int64_t ms) {  // first row opening at or after ms
      return static_cast<size_t>(
          std::partition_point(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(released),
                               [&](const BarRow& r) { return floor_ms(r.open_ns) < ms; }) - rows.begin());
    };
    size_t hi = end ? (*end == std::numeric_limits<int64_t>::max() ? released : first_from(*end + 1)) : released;
    size_t lo = 0;
    if (start) {
      lo = first_from(*start);
      hi = std::max(lo, std::min(hi, lo + static_cast<size_t>(limit)));
    } else {
      lo = hi > static_cast<size_t>(limit) ? hi - static_cast<size_t>(limit) : 0;
    }
    const BarSeries& s = *feed->bars;
    std::string out = "[";
    for (size_t i = lo; i < hi; ++i) {
      const BarRow& r = rows[i];
      if (i > lo) out += ',';
      out += '[';
      append_int(out, floor_ms(r.open_ns));
      for (FieldText f : {r.open, r.high, r.low, r.close, r.volume}) {
        out += ",\"";
        out += s.text(f);
        out += '"';
      }
      out += ',';
      append_int(out, floor_ms(r.close_ns) - 1);
      out += R"(,"0",0,"0","0","0"])";
    }
    status = 200;
    return out + "]";
  }

  // ---- libwebsockets ----

  static int callback(lws* wsi, lws_callback_reasons reason, void*, void* in, size_t len) {
    auto* self = static_cast<Service*>(lws_context_user(lws_get_context(wsi)));
    if (!self) return 0;
    try {
      switch (reason) {
        case LWS_CALLBACK_ESTABLISHED: return self->on_established(wsi);
        case LWS_CALLBACK_SERVER_WRITEABLE: return self->on_writeable(wsi);
        case LWS_CALLBACK_CLOSED: self->on_closed(wsi); return 0;
        case LWS_CALLBACK_HTTP: return self->on_http(wsi, static_cast<const char*>(in));
        case LWS_CALLBACK_HTTP_BODY: return self->on_http_body(wsi, in, len);
        case LWS_CALLBACK_HTTP_BODY_COMPLETION: return self->on_post(wsi);
        case LWS_CALLBACK_HTTP_WRITEABLE: return self->on_http_writeable(wsi);
        case LWS_CALLBACK_CLOSED_HTTP: self->exchanges.erase(wsi); return 0;
        case LWS_CALLBACK_WSI_DESTROY:
          self->exchanges.erase(wsi);
          self->on_closed(wsi);
          return 0;
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:  // a command, or the pacer
          self->drain_commands();
          self->tick();
          return 0;
        default: return 0;
      }
    } catch (const std::exception& e) {
      spdlog::error("replay-server: {}", e.what());
      return -1;
    }
  }

  // Creates the context and listens; throws when it cannot.
  void open() {
    route_lws_logs();
    static const lws_protocols kProtocols[] = {
        {"qflow-replay", &Service::callback, 0, 4096, 0, nullptr, 0},
        {nullptr, nullptr, 0, 0, 0, nullptr, 0},
    };
    const bool tls = !options.cert.empty();
    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.user = this;
    info.max_http_header_data = kMaxHeaderBytes;
    lws_context* ctx = lws_create_context(&info);
    if (!ctx) throw std::runtime_error("replay server: cannot create the libwebsockets context");

    lws_context_creation_info v;
    std::memset(&v, 0, sizeof v);
    const std::string& h = options.host;
    v.vhost_name = "qflow-replay";
    v.port = options.port;
    v.iface = h.empty() || h == "0.0.0.0" ? nullptr : h.c_str();
    v.protocols = kProtocols;
    v.options = (h.find(':') == std::string::npos ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0) |
                (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    if (tls) {
      v.ssl_cert_filepath = options.cert.c_str();
      v.ssl_private_key_filepath = options.key.c_str();
      v.alpn = "http/1.1";
    }
    vhost = lws_create_vhost(ctx, &v);
    if (!vhost) {
      lws_context_destroy(ctx);
      throw std::runtime_error("replay server: cannot listen on " + (h.empty() ? std::string("*") : h) + ":" +
                               std::to_string(options.port) + (tls ? " with " + options.cert + " and " + options.key : "") +
                               " (the port in use, or a bad certificate? the log above says more)");
    }
    port.store(lws_get_vhost_listen_port(vhost));
    service_context = ctx;
    std::lock_guard lock(mutex);
    context = ctx;
  }

  void run(std::promise<void>& ready) {
    try {
      open();
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();  // `ready` is gone from here on
    if (!max_speed) pacer = std::thread([this] {
      pthread_setname_np(pthread_self(), "qf-sim-pacer");
      pace();
    });
    if (options.start_immediately) start_clock(steady_ns());
    drain_commands();
    while (!leave) {
      if (lws_service(service_context, 0) < 0) break;
      if (stopping && (subscribed == 0 || steady_ns() >= stop_deadline_ns)) leave = true;
    }
    {
      std::lock_guard lock(mutex);
      context = nullptr;
      done = true;
    }
    done_cv.notify_all();
    if (pacer.joinable()) {
      {
        std::lock_guard lock(pace_mutex);
        pace_stop = true;
      }
      pace_cv.notify_one();
      pacer.join();
    }
    lws_sul_cancel(&tick_timer.sul);
    lws_context_destroy(service_context);
    service_context = nullptr;
    connections.clear();
    exchanges.clear();
  }

  void wake() {
    std::lock_guard lock(mutex);
    if (context) lws_cancel_service(context);
  }
};

ReplayServer::ReplayServer(ReplayOptions options) : service_(std::make_unique<Service>(std::move(options))) {}

ReplayServer::~ReplayServer() { stop(); }

void ReplayServer::start() {
  if (service_->thread.joinable() || service_->port.load() != 0) throw std::logic_error("replay server: start() is called once");
  std::promise<void> ready;
  std::future<void> listening = ready.get_future();
  service_->thread = std::thread([this, &ready] {
    pthread_setname_np(pthread_self(), "qf-sim");
    service_->run(ready);
  });
  try {
    listening.get();
  } catch (...) {
    service_->thread.join();
    throw;
  }
  spdlog::info("replay-server: listening on {} ({} messages from {} feed{}, speed {})", http_url(),
               service_->timeline.size(), service_->feeds.size(), service_->feeds.size() == 1 ? "" : "s",
               service_->max_speed ? std::string("max") : fmt::format("{}", service_->options.speed));
}

void ReplayServer::stop() {
  {
    std::lock_guard lock(service_->mutex);
    service_->stop_requested = true;
    service_->done = true;
  }
  service_->done_cv.notify_all();
  if (!service_->thread.joinable()) return;
  service_->wake();
  service_->thread.join();
}

int ReplayServer::port() const { return service_->port.load(); }

bool ReplayServer::tls() const { return !service_->options.cert.empty(); }

std::vector<std::string> ReplayServer::streams() const {
  std::vector<std::string> out;
  for (const auto& f : service_->feeds) out.push_back(f.stream);
  return out;
}

std::string ReplayServer::url(const std::vector<std::string>& streams) const {
  const std::vector<std::string> names = streams.empty() ? this->streams() : streams;
  std::string out =
      std::string(tls() ? "wss://" : "ws://") + service_->url_host + ":" + std::to_string(port()) + "/stream?streams=";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? "/" : "") + names[i];
  return out;
}

std::string ReplayServer::raw_url(const std::string& stream) const {
  return std::string(tls() ? "wss://" : "ws://") + service_->url_host + ":" + std::to_string(port()) + "/ws/" + stream;
}

std::string ReplayServer::http_url() const {
  return std::string(tls() ? "https://" : "http://") + service_->url_host + ":" + std::to_string(port());
}

void ReplayServer::inject(const Fault& fault) {
  {
    std::lock_guard lock(service_->mutex);
    service_->commands.push_back(fault);
  }
  service_->wake();
}

ReplayServer::Stats ReplayServer::stats() const { return service_->snapshot(); }

bool ReplayServer::finished() const { return service_->finished.load(); }

std::vector<int64_t> ReplayServer::send_times() const {
  std::lock_guard lock(service_->mutex);
  return service_->send_times;
}

void ReplayServer::wait_finished() {
  std::unique_lock lock(service_->mutex);
  service_->done_cv.wait(lock, [&] { return service_->done; });
}

}  // namespace qflow::net
